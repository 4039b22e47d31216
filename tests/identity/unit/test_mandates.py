"""The rules of enterprise mandates: who manages them, what a role allows, revocation once."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.identity.domain.accounts import Account, AccountStatus
from services.identity.domain.assurance import AccountKind
from services.identity.domain.mandates import (
    Mandate,
    MandateAlreadyRevoked,
    MandateRole,
    is_legal_representative,
    may_manage,
    normalise_roles,
)

NOW = datetime(2026, 12, 7, tzinfo=UTC)
ENTERPRISE = Account(id="ent", kind=AccountKind.ENTERPRISE, status=AccountStatus.ACTIVE, name="Công ty",
                     password_hash="", tax_code="0101234565", legal_representative_id="boss")  # fmt: skip


def mandate(roles: tuple[str, ...], holder: str = "staff") -> Mandate:
    return Mandate(id="m1", enterprise_id="ent", representative_id=holder, roles=roles, granted_by="boss",
                   granted_at=NOW)  # fmt: skip


def test_the_legal_representative_and_the_enterprise_itself_manage_without_a_mandate() -> None:
    assert is_legal_representative(ENTERPRISE, "boss") and is_legal_representative(ENTERPRISE, "ent")
    assert may_manage(ENTERPRISE, "boss", None)
    assert not may_manage(ENTERPRISE, "staff", None)
    citizen = Account(id="c", kind=AccountKind.CITIZEN, status=AccountStatus.ACTIVE, name="x", password_hash="",
                      legal_representative_id="boss")  # fmt: skip
    assert not is_legal_representative(citizen, "boss")


def test_only_an_active_mandate_with_manage_lets_a_representative_manage() -> None:
    assert not may_manage(ENTERPRISE, "staff", mandate(("read", "submit")))
    manager = mandate(("manage",))
    assert may_manage(ENTERPRISE, "staff", manager)
    assert not may_manage(ENTERPRISE, "other", manager)  # someone else's mandate
    manager.revoke("boss", NOW)
    assert not may_manage(ENTERPRISE, "staff", manager)


def test_a_mandate_is_revoked_once_and_then_allows_nothing() -> None:
    held = mandate(("read", "pay"))
    assert held.allows(MandateRole.PAY) and not held.allows(MandateRole.SUBMIT)
    held.revoke("boss", NOW)
    assert (held.revoked_by, held.revoked_at, held.active) == ("boss", NOW, False)
    assert not held.allows(MandateRole.READ)
    with pytest.raises(MandateAlreadyRevoked):
        held.revoke("boss", NOW)


def test_a_mandates_roles_bound_the_api_scopes_of_its_tokens() -> None:
    assert mandate(("read", "manage")).api_scopes == {"dossier:read"}
    assert mandate(("read", "submit", "pay")).api_scopes == {"dossier:read", "dossier:submit", "payment:pay"}


def test_roles_are_deduplicated_in_the_closed_sets_order() -> None:
    assert normalise_roles(["manage", "read", "read", "submit"]) == ("read", "submit", "manage")
