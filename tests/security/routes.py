"""Who may call each operation of the gateway's merged OpenAPI document.

The document does not say (the services check scopes in code), so this table does, once, for
the fuzzer (which token to send) and for the object- and function-level authorization tests
(who must be refused). :func:`operations` reads the live document, and
:func:`test_every_operation_is_classified` (in the API9 module) fails when a route appears that
the table does not know, so a new route cannot slip past the security tests unclassified.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, Phase, settings

HTTP_METHODS = ("get", "put", "post", "patch", "delete")

# Kinds of caller:
#   public    no token (the OIDC endpoints authenticate clients their own way; callbacks are signed)
#   account   any signed-in person (a citizen in the tests)
#   citizen   a person filing dossiers and paying (dossier:submit, dossier:read, payment:pay)
#   reader    the owner of a dossier, or an official of its agency (dossier:read)
#   editor    a catalogue editor: an administrator, or an official for their agencies' services
#   admin     an administrator or operator (identity:admin, catalogue:admin, payment:admin, sync:admin)
#   province  an agency's system (client credentials, sync:push)
#   sender    a person sending feedback (feedback:send): only their own
#   handler   an official handling feedback (feedback:process, second factor): their agencies' only
#   person    a person reading their own notices (notification:read): their own only
#   notifier  the notification service's client at identity (client credentials, identity:contacts)


@dataclass(frozen=True)
class Rule:
    who: str
    scope: str | None = None  # the scope the service demands (None: public, or any token)


PUBLIC = Rule("public")
ACCOUNT = Rule("account")
_P = "/api/v1/identity"
_C = "/api/v1/catalogue"
_D = "/api/v1/dossier"
_Y = "/api/v1/payment"
_S = "/api/v1/sync"
_F = "/api/v1/feedback"
_N = "/api/v1/notification"
SENDER = Rule("sender", "feedback:send")
PERSON = Rule("person", "notification:read")
OPERATOR = Rule("admin", "notification:templates")
NOTIFIER = Rule("notifier", "identity:contacts")
HANDLER = Rule("handler", "feedback:process")

RULES: dict[tuple[str, str], Rule] = {
    # identity: accounts
    ("POST", f"{_P}/registrations/citizen"): PUBLIC,
    ("POST", f"{_P}/registrations/verify"): PUBLIC,
    ("POST", f"{_P}/registrations/resend"): PUBLIC,
    ("POST", f"{_P}/registrations/enterprise"): ACCOUNT,
    ("POST", f"{_P}/password/change"): ACCOUNT,
    ("POST", f"{_P}/password/reset"): PUBLIC,
    ("POST", f"{_P}/password/reset/complete"): PUBLIC,
    ("POST", f"{_P}/totp/enrolment"): ACCOUNT,
    ("POST", f"{_P}/totp/enrolment/confirm"): ACCOUNT,
    ("GET", f"{_P}/me"): ACCOUNT,
    ("POST", f"{_P}/accounts/{{account_id}}/lock"): Rule("admin", "identity:admin"),
    ("POST", f"{_P}/accounts/{{account_id}}/unlock"): Rule("admin", "identity:admin"),
    ("GET", f"{_P}/clients"): Rule("admin", "identity:admin"),
    ("POST", f"{_P}/clients"): Rule("admin", "identity:admin"),
    ("POST", f"{_P}/clients/{{client_id}}/secret"): Rule("admin", "identity:admin"),
    ("DELETE", f"{_P}/clients/{{client_id}}"): Rule("admin", "identity:admin"),
    ("POST", f"{_P}/me/closure"): ACCOUNT,
    ("DELETE", f"{_P}/accounts/{{account_id}}"): Rule("admin", "identity:admin"),
    ("GET", f"{_P}/contacts/{{account_id}}"): NOTIFIER,
    ("POST", f"{_P}/contacts/lookup"): NOTIFIER,
    ("GET", f"{_P}/officials"): NOTIFIER,
    ("GET", f"{_P}/me/eid-link"): ACCOUNT,
    ("DELETE", f"{_P}/me/eid-link"): ACCOUNT,
    ("GET", f"{_P}/accounts/{{account_id}}/eid-link"): Rule("admin", "identity:admin"),
    ("DELETE", f"{_P}/accounts/{{account_id}}/eid-link"): Rule("admin", "identity:admin"),
    # identity: enterprise mandates (the enterprise's legal representative or a holder of manage)
    ("GET", f"{_P}/enterprises/{{tax_code}}/mandates"): ACCOUNT,
    ("POST", f"{_P}/enterprises/{{tax_code}}/mandates"): ACCOUNT,
    ("DELETE", f"{_P}/enterprises/{{tax_code}}/mandates/{{mandate_id}}"): ACCOUNT,
    ("GET", f"{_P}/mandates"): ACCOUNT,
    # identity: the OpenID provider (at the issuer's root)
    ("GET", "/.well-known/openid-configuration"): PUBLIC,
    ("GET", "/oauth2/jwks"): PUBLIC,
    ("GET", "/oauth2/authorize"): PUBLIC,
    ("POST", "/oauth2/authorize"): PUBLIC,
    ("POST", "/oauth2/token"): PUBLIC,
    ("POST", "/oauth2/par"): PUBLIC,
    ("POST", "/oauth2/introspect"): PUBLIC,
    ("POST", "/oauth2/revoke"): PUBLIC,
    ("GET", "/oauth2/userinfo"): ACCOUNT,
    ("POST", "/oauth2/userinfo"): ACCOUNT,
    ("GET", "/oauth2/logout"): PUBLIC,
    ("POST", "/oauth2/logout"): PUBLIC,
    ("GET", "/oauth2/eid/start"): PUBLIC,
    ("GET", "/oauth2/eid/callback"): PUBLIC,
    # catalogue: reads are public
    ("GET", f"{_C}/services"): PUBLIC,
    ("GET", f"{_C}/services/{{service_id}}"): PUBLIC,
    ("GET", f"{_C}/services/{{service_id}}/versions/{{version}}"): PUBLIC,
    ("GET", f"{_C}/procedures"): PUBLIC,
    ("GET", f"{_C}/procedures/{{code}}"): PUBLIC,
    ("GET", f"{_C}/agencies"): PUBLIC,
    ("GET", f"{_C}/sectors"): PUBLIC,
    # catalogue: editing
    ("POST", f"{_C}/services"): Rule("editor", "catalogue:admin"),
    ("PUT", f"{_C}/procedures/{{code}}"): Rule("admin", "catalogue:admin"),
    ("POST", f"{_C}/procedures/{{code}}/retire"): Rule("admin", "catalogue:admin"),
    ("GET", f"{_C}/procedures/{{code}}/audit"): Rule("admin", "catalogue:admin"),
    ("GET", f"{_C}/services/{{service_id}}/draft"): Rule("editor", "catalogue:admin"),
    ("PATCH", f"{_C}/services/{{service_id}}/draft"): Rule("editor", "catalogue:admin"),
    ("POST", f"{_C}/services/{{service_id}}/publish"): Rule("editor", "catalogue:admin"),
    ("POST", f"{_C}/services/{{service_id}}/retire"): Rule("editor", "catalogue:admin"),
    ("GET", f"{_C}/services/{{service_id}}/audit"): Rule("editor", "catalogue:admin"),
    ("POST", f"{_C}/imports"): Rule("editor", "catalogue:admin"),
    # dossier
    ("POST", f"{_D}/attachments"): Rule("citizen", "dossier:submit"),
    ("GET", f"{_D}/drafts"): Rule("citizen", "dossier:submit"),
    ("POST", f"{_D}/drafts"): Rule("citizen", "dossier:submit"),
    ("GET", f"{_D}/drafts/{{draft_id}}"): Rule("citizen", "dossier:submit"),
    ("PUT", f"{_D}/drafts/{{draft_id}}"): Rule("citizen", "dossier:submit"),
    ("DELETE", f"{_D}/drafts/{{draft_id}}"): Rule("citizen", "dossier:submit"),
    ("POST", f"{_D}/dossiers"): Rule("citizen", "dossier:submit"),
    ("POST", f"{_D}/dossiers/with-files"): Rule("citizen", "dossier:submit"),
    ("GET", f"{_D}/dossiers"): Rule("reader", "dossier:read"),
    ("GET", f"{_D}/dossiers/{{dossier_id}}"): Rule("reader", "dossier:read"),
    ("GET", f"{_D}/dossiers/{{dossier_id}}/timeline"): Rule("reader", "dossier:read"),
    ("GET", f"{_D}/dossiers/{{dossier_id}}/receipt"): Rule("reader", "dossier:read"),
    ("GET", f"{_D}/dossiers/{{dossier_id}}/receipt.png"): Rule("reader", "dossier:read"),
    ("GET", f"{_D}/dossiers/{{dossier_id}}/attachments/{{attachment_id}}"): Rule("reader", "dossier:read"),
    ("POST", f"{_D}/dossiers/{{dossier_id}}/withdrawal"): Rule("citizen", "dossier:submit"),
    ("POST", f"{_D}/dossiers/{{dossier_id}}/supplements"): Rule("citizen", "dossier:submit"),
    ("POST", f"{_D}/dossiers/{{dossier_id}}/rating"): Rule("citizen", "dossier:submit"),
    ("GET", f"{_D}/lookup"): PUBLIC,
    ("GET", f"{_D}/statistics"): PUBLIC,
    # payment
    ("POST", f"{_Y}/orders"): Rule("citizen", "payment:pay"),
    ("GET", f"{_Y}/orders/{{order_id}}"): Rule("citizen", "payment:pay"),
    ("GET", f"{_Y}/orders/{{order_id}}/vietqr.png"): Rule("citizen", "payment:pay"),
    ("POST", f"{_Y}/orders/{{order_id}}/cancel"): Rule("citizen", "payment:pay"),
    ("GET", f"{_Y}/jwks"): PUBLIC,
    ("GET", f"{_Y}/callbacks/vnpay/ipn"): PUBLIC,
    ("POST", f"{_Y}/callbacks/bank"): PUBLIC,
    ("POST", f"{_Y}/orders/{{order_id}}/refund"): Rule("admin", "payment:admin"),
    ("POST", f"{_Y}/reconciliations"): Rule("admin", "payment:admin"),
    # sync
    ("POST", f"{_S}/records"): Rule("province", "sync:push"),
    ("POST", f"{_S}/compat"): Rule("province", "sync:push"),
    ("GET", f"{_S}/batches/{{batch_id}}"): Rule("province", "sync:push"),
    ("GET", f"{_S}/feed"): Rule("province", "sync:push"),
    ("POST", f"{_S}/feed/ack"): Rule("province", "sync:push"),
    ("PUT", f"{_S}/agencies/{{agency_code}}/status-mappings"): Rule("admin", "sync:admin"),
    ("PUT", f"{_S}/agencies/{{agency_code}}/endpoint"): Rule("admin", "sync:admin"),
    ("GET", f"{_S}/deliveries/failing"): Rule("admin", "sync:admin"),
    ("GET", f"{_S}/deliveries/{{delivery_id}}"): Rule("admin", "sync:admin"),
    ("POST", f"{_S}/deliveries/{{delivery_id}}/redeliver"): Rule("admin", "sync:admin"),
    ("POST", f"{_S}/agencies/{{agency_code}}/redeliver"): Rule("admin", "sync:admin"),
    # feedback
    ("POST", f"{_F}/attachments"): SENDER,
    ("GET", f"{_F}/feedback/{{feedback_id}}/attachments/{{attachment_id}}"): SENDER,
    ("GET", f"{_F}/queue/{{feedback_id}}/attachments/{{attachment_id}}"): HANDLER,
    ("POST", f"{_F}/feedback"): SENDER,
    ("GET", f"{_F}/feedback"): SENDER,
    ("GET", f"{_F}/feedback/{{feedback_id}}"): SENDER,
    ("POST", f"{_F}/feedback/{{feedback_id}}/information"): SENDER,
    ("POST", f"{_F}/feedback/{{feedback_id}}/withdrawal"): SENDER,
    ("POST", f"{_F}/feedback/{{feedback_id}}/rating"): SENDER,
    ("GET", f"{_F}/queue"): HANDLER,
    ("POST", f"{_F}/recorded"): HANDLER,
    ("GET", f"{_F}/queue/{{feedback_id}}"): HANDLER,
    ("POST", f"{_F}/queue/{{feedback_id}}/classification"): HANDLER,
    ("POST", f"{_F}/queue/{{feedback_id}}/transfer"): HANDLER,
    ("POST", f"{_F}/queue/{{feedback_id}}/information-request"): HANDLER,
    ("POST", f"{_F}/queue/{{feedback_id}}/answer"): HANDLER,
    ("POST", f"{_F}/queue/{{feedback_id}}/publication"): HANDLER,
    ("GET", f"{_F}/answers"): PUBLIC,
    ("GET", f"{_F}/answers/{{feedback_id}}"): PUBLIC,
    # notification
    ("GET", f"{_N}/inbox"): PERSON,
    ("GET", f"{_N}/inbox/unread"): PERSON,
    ("POST", f"{_N}/inbox/{{item_id}}/read"): PERSON,
    ("POST", f"{_N}/inbox/read"): PERSON,
    ("GET", f"{_N}/inbox/stream"): PERSON,
    ("GET", f"{_N}/preferences"): PERSON,
    ("PUT", f"{_N}/preferences"): PERSON,
    ("POST", f"{_N}/devices"): PERSON,
    ("POST", f"{_N}/devices/removal"): PERSON,
    ("GET", f"{_N}/templates"): OPERATOR,
    ("GET", f"{_N}/templates/{{kind}}/{{language}}"): OPERATOR,
    ("PUT", f"{_N}/templates/{{kind}}/{{language}}"): OPERATOR,
    ("POST", f"{_N}/templates/{{kind}}/{{language}}/preview"): OPERATOR,
    ("POST", f"{_N}/receipts/sms/{{provider}}"): PUBLIC,  # signed by the provider
    ("GET", f"{_F}/statistics"): PUBLIC,
}

# The token the fuzzer sends for each kind of caller (names in tests.support.stack.PRINCIPALS). The
# account routes (password change, second factor) get an account of the fuzzer's own: random wrong
# passwords lock an account, and no other test should find citizen A locked.
FUZZ_CALLER = {"account": "citizen_fuzz", "citizen": "citizen_a", "reader": "citizen_a", "editor": "admin",
               "admin": "admin", "province": "province_fuzz", "sender": "citizen_a", "handler": "official",
               "person": "citizen_b", "notifier": "notifier"}  # fmt: skip
#: Answers that do not end (a live stream): fuzzed without a token only; their own tests read them.
ENDLESS = {("GET", "/api/v1/notification/inbox/stream")}


def operations(document: dict[str, Any]) -> list[tuple[str, str]]:
    """Every (METHOD, path) of an OpenAPI document."""
    return sorted(
        (method.upper(), path)
        for path, item in document.get("paths", {}).items()
        for method in HTTP_METHODS
        if isinstance(item.get(method), dict)
    )


def path_parameters(path: str) -> list[str]:
    return re.findall(r"\{([^}]+)\}", path)


def rule(method: str, path: str) -> Rule:
    try:
        return RULES[(method.upper(), path)]
    except KeyError:
        raise AssertionError(
            f"{method} {path} is not classified in tests/security/routes.py: say who may call it"
        ) from None


def documented(document: dict[str, Any], method: str, path: str, status: int) -> dict[str, Any] | None:
    """The response object the document declares for ``status`` (exact, then ``4XX``-style), or None."""
    responses = document["paths"][path][method.lower()].get("responses", {})
    return responses.get(str(status)) or responses.get(f"{str(status)[0]}XX")


#: Every operation once without a token, and once more with the token of the caller it is for.
CALLS = [(method, path, None) for method, path in sorted(RULES)] + [
    (method, path, FUZZ_CALLER[r.who])
    for (method, path), r in sorted(RULES.items())
    if r.who != "public" and (method, path) not in ENDLESS
]
CALL_IDS = [f"{m} {p} {c or 'anonymous'}" for m, p, c in CALLS]


def fuzz_settings(max_examples: int) -> settings:
    """Hypothesis settings of the schema-driven tests: the same cases on every run, no database."""
    return settings(max_examples=max_examples, derandomize=True, database=None, deadline=None,
                    phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))  # fmt: skip
