"""The development fixtures' credentials (documented in the README), from the fixtures themselves."""

from services.identity.service.accounts import SEED_ACCOUNTS

_by_kind = {a["kind"]: a for a in SEED_ACCOUNTS}
CITIZEN_LOGIN = _by_kind["citizen"]["personal_id"]
CITIZEN_PASSWORD = _by_kind["citizen"]["password"]
ENTERPRISE_LOGIN = _by_kind["enterprise"]["tax_code"]
ENTERPRISE_PASSWORD = _by_kind["enterprise"]["password"]
