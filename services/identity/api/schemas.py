"""The identity API's bodies: what the routes accept (``...Registration``, ``...Create``,
``...Start``, ``...Complete``) and what they answer (``...Public``). The OpenID Connect
endpoints' answers are described here too; their wire format is the protocol's (RFC 6749,
RFC 7662, OIDC Core and Discovery), written as such by the routes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal, cast

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.config import JsonValue

from contracts.json import JsonSchema, Jwk
from services.kit.logging import mask
from services.kit.schemas import Name, NotBlank, PersonalId, StrictModel, TaxCode, Verbatim, VietnameseMobile

from ..domain import identifiers
from ..domain.accounts import Account
from ..domain.contacts import MAX_AGENCIES, MAX_BATCH, MAX_OFFICIALS_PAGE, Contact, Official
from ..domain.logout import BACKCHANNEL_URI_PATTERN, MAX_URI_LENGTH
from ..domain.messages import SentMessage
from ..domain.oauth import Client, ClientKind, GrantType, JsonWebKeySet
from ..domain.second_factor import DIGITS

# Bounds of request fields; the use cases apply the finer rules (settings-driven lengths,
# identifier schemes, password policy) and name every failed rule.
# A password is exactly what the person typed (NIST SP 800-63B §5.1.1.2): spaces around it are
# part of it, never stripped as other text fields are.
Password = Annotated[str, Verbatim(), Field(min_length=1, max_length=1024)]
# A password the account will have (registration, change, reset): the policy's rules, which a
# pattern cannot all say (the configured lengths, common passwords, the account's identifiers),
# are the format ``new-password`` (docs/api.md).
NEW_PASSWORD_FORMAT = "new-password"  # noqa: S105 - a format's name
NewPassword = Annotated[
    str,
    Verbatim(),
    Field(min_length=1, max_length=1024, json_schema_extra={"format": NEW_PASSWORD_FORMAT},
          description="At least 10 characters (the configured minimum) and at most 128, not digits only, "
          "not a common password, and not containing the account's identifiers (format new-password)."),
]  # fmt: skip
Code = Annotated[str, Field(min_length=1, max_length=16), NotBlank()]
TotpCode = Annotated[str, Field(pattern=f"^[0-9]{{{DIGITS}}}$", description=f"{DIGITS} digits (RFC 6238).")]
# A plausible e-mail address, as ``domain.identifiers.email`` checks it: a local part, @, and a
# domain name with at least one dot.
EMAIL_PATTERN = r"^[^@\s]{1,64}@[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9-]{1,63})+$"
Email = Annotated[str, Field(max_length=254, pattern=EMAIL_PATTERN, json_schema_extra={"format": "email"})]
Id = Annotated[str, Field(min_length=1, max_length=64), NotBlank()]
CLIENT_ID = r"^[a-z0-9][a-z0-9._-]{2,63}$"


# --- accounts -----------------------------------------------------------------------------


class CitizenRegistration(StrictModel):
    personal_id: PersonalId
    full_name: Name
    # A past date from 1900 whose century and year the personal id's 4th to 6th digits encode.
    # JSON Schema could say the agreement only by pairing digit patterns with a date format,
    # which generators cannot draw from: the description says it (docs/api.md).
    birth_date: Annotated[
        date,
        Field(
            description="A past date from 1900-01-01. Its year agrees with the "
            "personal id's 4th to 6th digits (0/1: 1900s, 2/3: 2000s, then the year)."
        ),
    ]
    phone: VietnameseMobile
    email: Email | None = None
    password: NewPassword


class EnterpriseRegistration(StrictModel):
    tax_code: TaxCode
    name: Name
    email: Email | None = None
    password: NewPassword


class RegistrationPublic(BaseModel):
    account_id: str
    status: str
    code_expires_at: datetime | None = None


class CodeCheck(StrictModel):
    account_id: Id
    code: Code


class Resend(StrictModel):
    account_id: Id


class PasswordChange(StrictModel):
    current_password: Password
    new_password: NewPassword


class ResetStart(StrictModel):
    phone: VietnameseMobile


class PasswordResetPublic(BaseModel):
    reset_id: str
    code_expires_at: datetime


class ResetComplete(StrictModel):
    reset_id: Id
    code: Code
    new_password: NewPassword


class TotpEnrolmentPublic(BaseModel):
    secret: str
    otpauth_uri: str
    digits: int
    period: int


class TotpConfirm(StrictModel):
    code: TotpCode


class AccountPublic(BaseModel):
    """The account's own profile: personal identifiers masked (the owner knows them; a stolen
    token should not reveal them)."""

    id: str
    kind: str
    status: str
    name: str
    personal_id: str | None
    tax_code: str | None
    username: str | None
    birth_date: date | None
    phone: str | None
    phone_verified: bool
    email: str | None
    email_verified: bool
    legal_representative_id: str | None
    agencies: list[str]
    roles: list[str]
    second_factor_enrolled: bool
    verified_in_person: bool

    @classmethod
    def of(cls, account: Account) -> AccountPublic:
        email = None
        if account.email:
            local, _, domain = account.email.partition("@")
            email = f"{local[:1]}***@{domain}"
        return cls(
            id=account.id, kind=account.kind.value, status=account.status.value, name=account.name,
            personal_id=mask(account.personal_id, 3) if account.personal_id else None, tax_code=account.tax_code,
            username=account.username, birth_date=account.birth_date,
            phone=mask(account.phone, 3) if account.phone else None, phone_verified=account.phone_verified,
            email=email, email_verified=account.email_verified,
            legal_representative_id=account.legal_representative_id, agencies=list(account.agencies),
            roles=list(account.roles), second_factor_enrolled=account.totp_enrolled,
            verified_in_person=account.verified_in_person,
        )  # fmt: skip


class AccountClosure(StrictModel):
    """Closing one's own account: the password again, as the proof that its holder asks."""

    password: Password


# An account id as the other services received it in an event (a UUID today).
AccountId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z._-]+$")]


class ContactsLookup(StrictModel):
    accounts: Annotated[list[AccountId], Field(min_length=1, max_length=MAX_BATCH)]


# The document states the shape; the domain's check (``identifiers.agency_code``) decides.
AgencyCodeParam = Annotated[
    str,
    Field(
        min_length=13,
        max_length=13,
        pattern=r"^[0-9]{3}\.[0-9]{2}\.[0-9]{2}\.[A-Z][0-9]{2}$",
        examples=["000.00.01.H22"],
    ),
    AfterValidator(identifiers.agency_code),
]


class OfficialsQuery(StrictModel):
    """``agency`` repeated for each agency asked (1 to 50); ``after``: the previous page's ``next``."""

    agency: Annotated[list[AgencyCodeParam], Field(min_length=1, max_length=MAX_AGENCIES)]
    after: AccountId | None = None
    limit: Annotated[int, Field(ge=1, le=MAX_OFFICIALS_PAGE)] = MAX_OFFICIALS_PAGE


class OfficialPublic(BaseModel):
    """An active official and, of the agencies asked, those they act for."""

    account_id: str
    agencies: list[str]

    @classmethod
    def of(cls, official: Official) -> OfficialPublic:
        return cls(account_id=official.account_id, agencies=list(official.agencies))


class OfficialsPage(BaseModel):
    """A page of officials by account id; ``next`` (the ``after`` of the next page) is null on the last."""

    officials: list[OfficialPublic]
    next: str | None


class AccountContactPublic(BaseModel):
    """Where a service reaches the account's holder: the phone (E.164) and the e-mail address, each
    with whether the holder proved it, and the language of their messages when identity knows it
    (it records none yet: null). Not to be kept longer than a short cache, nor logged."""

    account_id: str
    kind: str
    phone: str | None
    phone_verified: bool
    email: str | None
    email_verified: bool
    preferred_language: str | None

    @classmethod
    def of(cls, contact: Contact) -> AccountContactPublic:
        return cls(
            account_id=contact.account_id, kind=contact.kind, phone=contact.phone,
            phone_verified=contact.phone_verified, email=contact.email, email_verified=contact.email_verified,
            preferred_language=contact.preferred_language,
        )  # fmt: skip


class AccountContactsPublic(BaseModel):
    """The contacts found, in the order asked (an id asked twice answered once), and the ids of
    unknown, unverified or deleted accounts."""

    contacts: list[AccountContactPublic]
    missing: list[str]


class MessagePublic(BaseModel):
    channel: str
    recipient: str
    body: str
    sent_at: datetime

    @classmethod
    def of(cls, message: SentMessage) -> MessagePublic:
        return cls(channel=message.channel, recipient=message.recipient, body=message.body, sent_at=message.sent_at)


class DevelopmentMessages(BaseModel):
    messages: list[MessagePublic]


# --- clients ------------------------------------------------------------------------------


def _client_rules() -> list[JsonSchema]:
    """What ``service.clients.create_client`` refuses as invalid client metadata, stated."""

    def has(field: str, schema: JsonSchema) -> JsonSchema:
        return {"required": [field], "properties": {field: schema}}

    code_grant = {"type": "array", "contains": {"const": GrantType.AUTHORIZATION_CODE.value}}
    public = {"const": ClientKind.PUBLIC.value}
    confidential = {"const": ClientKind.CONFIDENTIAL.value}
    return [
        # The authorization code grant sends the browser back: the client needs redirect URIs.
        {"if": has("grant_types", code_grant), "then": has("redirect_uris", {"type": "array", "minItems": 1})},
        # A public client has no secret: it authenticates with 'none' and cannot use client_credentials.
        {"if": has("kind", public), "then": {
            "properties": {"token_endpoint_auth_method": {"enum": ["none", None]},
                           "grant_types": {"not": {"contains": {"const": GrantType.CLIENT_CREDENTIALS.value}}}}}},
        {"if": has("kind", confidential),
         "then": {"properties": {"token_endpoint_auth_method": {"not": {"const": "none"}}}}},
        # private_key_jwt needs the client's public keys.
        # Back-channel logout is for clients that sign people in; a sid requirement needs the URI.
        {"if": has("backchannel_logout_uri", {"type": "string"}), "then": has("grant_types", code_grant)},
        {"if": has("backchannel_logout_session_required", {"const": True}),
         "then": has("backchannel_logout_uri", {"type": "string"})},
        {"if": has("token_endpoint_auth_method", {"const": "private_key_jwt"}),
         "then": has("jwks", {"type": "object", "required": ["keys"],
                              "properties": {"keys": {"type": "array", "minItems": 1}}})},
        # The FAPI 2.0 profile: a confidential client authenticating with private_key_jwt, its
        # redirect URIs https only.
        {"if": has("fapi2", {"const": True}),
         "then": {"required": ["jwks"],
                  "properties": {"kind": confidential,
                                 "token_endpoint_auth_method": {"enum": ["private_key_jwt", None]},
                                 "jwks": {"type": "object", "required": ["keys"],
                                          "properties": {"keys": {"type": "array", "minItems": 1}}},
                                 "redirect_uris": {"type": "array",
                                                   "items": {"type": "string", "pattern": "^https://"}}}}},
    ]  # fmt: skip


AuthMethod = Literal["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]  # clients.AUTH_METHODS


class ClientCreate(StrictModel):
    model_config = ConfigDict(json_schema_extra={"allOf": cast("list[JsonValue]", _client_rules())})

    client_id: str = Field(pattern=CLIENT_ID)
    name: Annotated[str, Field(min_length=1, max_length=200), NotBlank()]
    kind: ClientKind
    grant_types: list[GrantType] = Field(min_length=1, max_length=3)
    redirect_uris: list[str] = Field(default_factory=list, max_length=10)
    post_logout_redirect_uris: list[str] = Field(default_factory=list, max_length=10)
    scopes: list[str] = Field(default_factory=list, max_length=50)
    agencies: list[str] = Field(default_factory=list, max_length=100)
    token_endpoint_auth_method: AuthMethod | None = None
    # The client's public keys for private_key_jwt: a JWK Set (RFC 7517), checked by the JOSE
    # library when an assertion is verified.
    jwks: JsonWebKeySet | None = None
    # OpenID Connect Back-Channel Logout 1.0 §2.2: where logout tokens are posted (https, no
    # fragment), and whether the client needs ``sid`` in them.
    backchannel_logout_uri: Annotated[str, Field(max_length=MAX_URI_LENGTH, pattern=BACKCHANNEL_URI_PATTERN)] | None = (
        None
    )
    backchannel_logout_session_required: bool = False
    # RFC 9126 §6, RFC 9449 §5.2, and the FAPI 2.0 Security Profile (which implies both).
    require_pushed_authorization_requests: bool = False
    dpop_bound_access_tokens: bool = False
    fapi2: bool = False


class ClientPublic(BaseModel):
    client_id: str
    name: str
    kind: str
    token_endpoint_auth_method: str
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    grant_types: list[str]
    scopes: list[str]
    agencies: list[str]
    disabled: bool = False
    backchannel_logout_uri: str | None = None
    backchannel_logout_session_required: bool = False
    require_pushed_authorization_requests: bool = False
    dpop_bound_access_tokens: bool = False
    fapi2: bool = False

    @classmethod
    def of(cls, client: Client) -> ClientPublic:
        return cls(
            client_id=client.client_id, name=client.name, kind=client.kind.value,
            token_endpoint_auth_method=client.auth_method, redirect_uris=list(client.redirect_uris),
            post_logout_redirect_uris=list(client.post_logout_redirect_uris), grant_types=list(client.grant_types),
            scopes=sorted(client.allowed_scopes), agencies=list(client.agencies),
            disabled=client.disabled_at is not None, backchannel_logout_uri=client.backchannel_logout_uri,
            backchannel_logout_session_required=client.backchannel_logout_session_required,
            require_pushed_authorization_requests=client.require_pushed_authorization_requests,
            dpop_bound_access_tokens=client.dpop_bound_access_tokens, fapi2=client.fapi2,
        )  # fmt: skip


class ClientCreatedPublic(ClientPublic):
    """The new client, with its secret: shown this once (None for a client without one)."""

    client_secret: str | None


class ClientSecretPublic(BaseModel):
    client_id: str
    client_secret: str


# --- OpenID Connect answers (documented; the routes write the protocol's JSON) ----------------


class _Open(BaseModel):
    # Protocol documents may carry members beyond those listed (extensions, claims).
    model_config = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": True})


class TokenPublic(_Open):
    """RFC 6749 §5.1 and OIDC Core §3.1.3.3."""

    access_token: str
    token_type: str
    expires_in: int
    scope: str
    id_token: str | None = None
    refresh_token: str | None = None


class PushedPublic(BaseModel):
    """RFC 9126 §2.2: the request URI standing for the pushed request, and its life in seconds."""

    request_uri: str
    expires_in: int


class IntrospectionPublic(_Open):
    """RFC 7662 §2.2: ``active``, and for an active token the claims the caller may see."""

    active: bool


class UserinfoPublic(_Open):
    """OIDC Core §5.3.2: the claims of the scopes granted."""

    sub: str
    account_kind: str


class JwksPublic(BaseModel):
    """RFC 7517 §5: the published public keys."""

    keys: list[Jwk]


class DiscoveryPublic(_Open):
    """OpenID Connect Discovery 1.0 §3: the provider's metadata."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    userinfo_endpoint: str
    jwks_uri: str


class EidLinkEventPublic(BaseModel):
    """One line of an account's e-ID link audit (the e-ID account's id masked)."""

    action: Literal["linked", "unlinked", "refused"]
    reason: str
    actor: str
    eid_subject: str
    at: datetime


class EidLinkPublic(BaseModel):
    """Whether the account is linked to a national e-ID account, since when, and its audit."""

    linked: bool
    linked_at: datetime | None
    history: list[EidLinkEventPublic]
