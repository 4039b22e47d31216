"""The problems identity's own errors answer (the kit's kinds answer as ``KIT_PROBLEMS`` says)."""

from __future__ import annotations

from services.kit.problems import Problem, ProblemTable, one_of

from ..domain.accounts import (
    AccountDisabled,
    AccountLocked,
    AlreadyRegistered,
    CodeNoLongerValid,
    InvalidCode,
    InvalidCredentials,
    SecondFactorNotEnrolled,
    SecondFactorRequired,
    TooManyAttempts,
    WrongPassword,
    WrongTotpCode,
)
from ..domain.contacts import NoContact
from ..domain.federation import (
    EidAnswerRefused,
    EidDeclined,
    EidSignInExpired,
    EidUnavailable,
    IdentifierMismatch,
    NotLinked,
    PasswordSignInNotAllowed,
)
from ..domain.oauth import OAuthError
from ..domain.passwords import WeakPassword

# OAuth error codes that mean the client or the token did not authenticate (RFC 6749 §5.2,
# RFC 6750 §3.1); ``insufficient_scope`` is 403; every other code is a bad request.
_UNAUTHENTICATED = frozenset({"invalid_client", "invalid_token"})


_REFUSED = "OAuth request refused"
OAUTH_BAD_REQUEST = Problem(400, "oauth-error", _REFUSED)
OAUTH_UNAUTHENTICATED = Problem(401, "oauth-error", _REFUSED, {"WWW-Authenticate": 'Basic realm="oauth2"'})
OAUTH_FORBIDDEN = Problem(403, "oauth-error", _REFUSED)


@one_of(OAUTH_BAD_REQUEST, OAUTH_UNAUTHENTICATED, OAUTH_FORBIDDEN)
def _oauth(error: OAuthError) -> Problem:
    if error.error in _UNAUTHENTICATED:
        return OAUTH_UNAUTHENTICATED
    return OAUTH_FORBIDDEN if error.error == "insufficient_scope" else OAUTH_BAD_REQUEST


PROBLEMS: ProblemTable = {
    # A lockout is 429 (not 423) so that every HTTP client and the gateway treat it as 'wait,
    # then retry', with Retry-After.
    AccountLocked: Problem(429, "account-locked", "Account temporarily locked"),
    AccountDisabled: Problem(403, "account-disabled", "Account locked or disabled"),
    AlreadyRegistered: Problem(409, "already-registered", "Already registered"),
    CodeNoLongerValid: Problem(410, "code-no-longer-valid", "The code can no longer be used"),
    InvalidCode: Problem(400, "invalid-code", "The code is not correct"),
    InvalidCredentials: Problem(401, "invalid-credentials", "Sign-in failed"),
    # The kit's not-found, with the contacts' own Cache-Control.
    NoContact: Problem(404, "not-found", "Not found", {"Cache-Control": "no-store"}),
    OAuthError: _oauth,
    SecondFactorNotEnrolled: Problem(403, "second-factor-not-enrolled", "A second factor must be set up first"),
    SecondFactorRequired: Problem(401, "second-factor-required", "A second factor is required"),
    TooManyAttempts: Problem(429, "too-many-attempts", "Too many attempts"),
    WeakPassword: Problem(422, "weak-password", "The password does not meet the password policy"),
    WrongPassword: Problem(403, "wrong-password", "The current password is not correct"),
    WrongTotpCode: Problem(403, "wrong-totp-code", "The authenticator code does not match"),
    # The national e-ID (federation): answered as pages in the browser flow, as problems in the API.
    PasswordSignInNotAllowed: Problem(403, "sign-in-with-eid", "Sign in with the national e-ID"),
    IdentifierMismatch: Problem(409, "eid-identifier-mismatch", "The e-ID account and the portal account differ"),
    NotLinked: Problem(404, "not-found", "Not found"),
    EidUnavailable: Problem(503, "eid-unavailable", "The national e-ID is not available"),
    EidAnswerRefused: Problem(502, "eid-answer-refused", "The national e-ID's answer cannot be trusted"),
    # A state that names no sign-in of this browser: a reference to nothing, as an unknown client is.
    EidSignInExpired: Problem(404, "eid-sign-in-expired", "The e-ID sign-in is over"),
    EidDeclined: Problem(400, "eid-declined", "The e-ID sign-in was not completed"),
}
