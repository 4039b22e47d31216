"""What an authorization request asks of the sign-in (acr_values, the claims parameter's acr),
and when a sign-in meets it or may get no code at all."""

from __future__ import annotations

import json

import pytest

from services.identity.domain.oauth import OAuthError
from services.identity.service.step_up import MAX_ACR_VALUES, MAX_CLAIMS, UNMET, parse_acr_request

PASSWORD, MFA, IN_PERSON = "urn:portal:acr:password", "urn:portal:acr:mfa", "urn:portal:acr:in-person"


def claims(member: str = "id_token", **acr: object) -> str:
    return json.dumps({member: {"acr": acr}})


def test_acr_values_are_met_by_the_lowest_known_level_listed_or_above() -> None:
    asked = parse_acr_request(f"urn:other:gold {IN_PERSON} {MFA}", None)
    assert (asked.values, asked.required, asked.essential) == ((MFA, IN_PERSON), MFA, False)
    assert not asked.met_by(PASSWORD) and asked.met_by(MFA) and asked.met_by(IN_PERSON)
    assert not asked.refuses(PASSWORD)  # voluntary: a lower level is issued, and says so


def test_nothing_known_asked_asks_nothing() -> None:
    for acr_values, claim in ((None, None), ("", None), ("urn:other:gold", None), (None, json.dumps({}))):
        asked = parse_acr_request(acr_values, claim)
        assert asked.required is None and asked.met_by("anything") and not asked.refuses("")


def test_in_person_is_never_stood_in_for_even_when_voluntary() -> None:
    asked = parse_acr_request(IN_PERSON, None)
    assert asked.refuses(MFA) and asked.refuses(PASSWORD) and not asked.refuses(IN_PERSON)


@pytest.mark.parametrize("member", ["id_token", "userinfo"])
def test_an_essential_acr_claim_refuses_a_lower_sign_in(member: str) -> None:
    for essential in (claims(member, essential=True, values=[MFA]), claims(member, essential=True, value=MFA)):
        asked = parse_acr_request(IN_PERSON, essential)  # the essential claim decides, not acr_values
        assert (asked.required, asked.essential) == (MFA, True)
        assert asked.refuses(PASSWORD) and not asked.refuses(MFA) and not asked.refuses(IN_PERSON)


def test_a_voluntary_acr_claim_joins_acr_values() -> None:
    asked = parse_acr_request(IN_PERSON, claims(values=[MFA]))
    assert (asked.required, asked.essential) == (MFA, False)


@pytest.mark.parametrize(
    ("acr_values", "claim", "error"),
    [
        (None, "{", "invalid_request"),
        (None, "[" * MAX_CLAIMS, "invalid_request"),  # deeper than the JSON parser recurses
        (None, "[]", "invalid_request"),
        (None, '"acr"', "invalid_request"),
        (None, "x" * (MAX_CLAIMS + 1), "invalid_request"),
        ("a" * (MAX_ACR_VALUES + 1), None, "invalid_request"),
        (None, claims(essential=True, values=["urn:other:gold"]), UNMET),
    ],
)
def test_what_cannot_be_read_or_met_is_refused(acr_values: str | None, claim: str | None, error: str) -> None:
    with pytest.raises(OAuthError) as refused:
        parse_acr_request(acr_values, claim)
    assert refused.value.error == error


ODD_SHAPES = [
    {"id_token": None},
    {"id_token": {"acr": None}},
    {"id_token": {"acr": {"values": "x"}}},
    {"id_token": {"acr": {"values": 5}}},
    {"userinfo": {"acr": {"value": {"a": 1}}}},
    {"id_token": {"acr": {"essential": "yes", "values": [MFA]}}},
]


@pytest.mark.parametrize("odd", ODD_SHAPES)
def test_odd_shapes_inside_the_claims_object_are_no_essential_request(odd: dict) -> None:
    assert not parse_acr_request(None, json.dumps(odd)).essential
