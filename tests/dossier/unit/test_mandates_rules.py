"""Acting for an enterprise, as the dossier service reads a token and its read model."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.dossier.domain.access import Caller
from services.dossier.domain.mandates import Acting, MandateRefused, MandateView

NOW = datetime(2026, 12, 7, tzinfo=UTC)
ENTITY = {"account_id": "ent-1", "tax_code": "0101234565", "mandate_id": "m-1", "roles": ["read"]}


def view(**changes: object) -> MandateView:
    values: dict[str, object] = {"id": "m-1", "enterprise_id": "ent-1", "representative_id": "staff",
                                 "roles": ("read",), "granted_at": NOW, **changes}  # fmt: skip
    return MandateView(**values)  # type: ignore[arg-type]


def test_a_token_acting_for_an_enterprise_is_the_enterprise_and_names_who_acted() -> None:
    caller = Caller.of("staff", {"dossier:read"}, {"entity": ENTITY})
    assert caller.subject == "ent-1" and caller.acting == Acting("staff", "ent-1", "m-1")
    assert caller.actor == "staff for ent-1"
    assert Caller.of("staff", {"dossier:read"}, {}).actor == "staff"


@pytest.mark.parametrize(
    "entity", ["ent-1", {"account_id": "ent-1"}, {"mandate_id": "m-1"}, {"account_id": 1, "mandate_id": "m"}]
)
def test_a_malformed_entity_claim_is_refused_not_ignored(entity: object) -> None:
    with pytest.raises(MandateRefused):
        Caller.of("staff", {"dossier:read"}, {"entity": entity})


def test_only_an_active_mandate_of_this_person_and_enterprise_with_the_role_allows() -> None:
    acting = Acting("staff", "ent-1", "m-1")
    assert view().allows(acting, "read")
    assert not view().allows(acting, "submit")
    assert not view(revoked_at=NOW).allows(acting, "read")
    assert not view(granted_at=None, revoked_at=NOW).allows(acting, "read")  # revocation came first
    assert not view(representative_id="other").allows(acting, "read")
    assert not view(enterprise_id="ent-2").allows(acting, "read")
