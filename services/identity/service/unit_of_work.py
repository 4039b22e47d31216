"""The identity service's unit of work as its use cases see it: one transaction, the
repositories that read and write in it (ports, implemented on PostgreSQL in
``adapters/unit_of_work.py`` and in memory in the tests' fake), and the events it publishes.

Use cases take an :class:`IdentityUnitOfWork` and never commit: the request's unit (a route's
dependency), a job or a command does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from services.kit.unit_of_work import AbstractUnitOfWork

from ..domain.accounts import Account, SignInAttempt
from ..domain.federation import EidLink, LinkEvent, PendingEidSignIn
from ..domain.identifiers import LoginKind
from ..domain.logout import PendingLogout
from ..domain.mandates import Mandate
from ..domain.messages import QueuedMessage, SentMessage
from ..domain.oauth import AuthorizationCode, BrowserSession, Client, RefreshToken, SigningKey
from ..domain.one_time_codes import CodePurpose, OneTimeCode
from ..domain.pushed import PushedRequest


class Locks(Protocol):
    async def hold(self, key: str) -> None:
        """Serialise, until the transaction ends, every transaction that holds the same ``key``
        (counting a rate limit on several replicas, claiming an identifier)."""


class Accounts(Protocol):
    async def get(self, account_id: str, *, for_update: bool = False) -> Account | None: ...

    async def get_many(self, account_ids: list[str]) -> list[Account]:
        """The accounts of these ids that exist, whatever their status."""

    async def officials_of(self, agencies: list[str], after: str | None, limit: int) -> list[Account]:
        """Active officials acting for any of ``agencies``, by id, those after ``after``, at most ``limit``."""

    async def holding(self, kind: LoginKind, value: str, *, for_update: bool = False) -> Account | None:
        """The account holding ``value`` as a login identifier (pending registrations
        excluded; a phone counts only once verified)."""

    async def add(self, account: Account) -> None: ...

    async def fixture_present(self, account: Account) -> bool:
        """An account has this one's id, or holds one of its identifiers."""

    async def add_fixture(self, account: Account) -> bool:
        """Add unless the id is taken meanwhile; True when added."""

    async def save(self, account: Account) -> None:
        """Store the account's changeable state. Raises ``AlreadyRegistered`` when another
        account holds one of its identifiers by now."""

    async def erase(self, account: Account) -> None:
        """Store an erased account (``Account.erase``): its personal data and credentials cleared."""

    async def record_activity(self, account_id: str, now: datetime) -> None: ...

    async def inactive(self, *, unused_since: datetime, warned_before: datetime, limit: int) -> list[Account]:
        """Active accounts unused since ``unused_since`` and not warned since ``warned_before``,
        locked for this transaction; rows other transactions hold are skipped."""


class OneTimeCodes(Protocol):
    async def add(self, code: OneTimeCode) -> None: ...

    async def latest(self, flow_id: str, purpose: CodePurpose) -> OneTimeCode | None:
        """The newest code of the flow, locked until the transaction ends."""

    async def save(self, code: OneTimeCode) -> None:
        """Store its attempts and consumption."""

    async def sent_to(self, phone: str, since: datetime) -> tuple[int, datetime | None]:
        """How many codes went to ``phone`` since ``since``, and the oldest's time."""

    async def asked_from(self, client_ip: str, since: datetime) -> tuple[int, datetime | None]: ...

    async def forget(self, account_id: str) -> int:
        """Delete the account's codes (registration, password reset: they name its phone); how many."""


class SignInAudit(Protocol):
    async def add(self, attempt: SignInAttempt) -> None: ...

    async def failures_from(self, client_ip: str, since: datetime) -> tuple[int, datetime | None]: ...


class LoginFailures(Protocol):
    """Failed sign-ins of logins that name no account, by keyed hashes of the login's forms."""

    async def held(self, keys: list[str]) -> tuple[int, datetime | None]:
        """The failures counted against any of ``keys`` and the latest lockout among them,
        held until the transaction ends."""

    async def count(self, keys: list[str], failures: int, locked_until: datetime | None, now: datetime) -> None: ...


class Messages(Protocol):
    async def keep(self, channel: str, recipient: str, body: str) -> None:
        """Development: keep the message to read it at the development endpoint."""

    async def queue(self, channel: str, recipient: str, body_encrypted: str) -> None:
        """Production: queue it for the worker, in this transaction."""

    async def kept_for(self, recipient: str, limit: int) -> list[SentMessage]: ...

    async def forget(self, recipients: list[str]) -> int:
        """Delete the messages kept for, or queued to, these recipients; how many."""

    async def due(self, now: datetime, limit: int) -> list[QueuedMessage]:
        """Queued messages due now, oldest first, locked (others' skipped)."""

    async def delivered(self, message_id: int) -> None: ...

    async def retry_later(self, message_id: int, attempts: int, at: datetime, error: str) -> None: ...


class Clients(Protocol):
    async def get(
        self, client_id: str, *, include_disabled: bool = False, for_update: bool = False
    ) -> Client | None: ...

    async def all(self) -> list[Client]: ...

    async def recent(self, client_id: str) -> Client | None:
        """The enabled client as this process read it lately (a few seconds at most; the token
        endpoint's view), or from the table."""

    def forget(self, client_id: str) -> None:
        """Read the client from the table next time."""

    async def add(self, client: Client) -> None: ...

    async def rotate_secret(self, client_id: str, secret_hash: str, previous_expires_at: datetime) -> None:
        """The new secret's hash; the current one becomes the previous until ``previous_expires_at``."""

    async def disable(self, client_id: str, now: datetime) -> bool:
        """False when there is no such enabled client."""

    async def set_backchannel_logout(self, client_id: str, uri: str | None, session_required: bool) -> None: ...

    async def remember_assertion(self, client_id: str, jti: str, expires_at: datetime) -> bool:
        """Record a client assertion's ``jti``; False when it was seen before."""


class SigningKeys(Protocol):
    async def all(self) -> list[SigningKey]: ...

    async def recent(self) -> list[SigningKey]:
        """Every key as this process read it lately (seconds; a key is published long before it signs)."""

    async def add(self, key: SigningKey) -> None: ...


class BrowserSessions(Protocol):
    async def add(self, session: BrowserSession) -> None: ...

    async def get(self, id_hash: str) -> BrowserSession | None: ...

    async def revoke(self, id_hash: str, now: datetime) -> None: ...

    async def revoke_all(self, account_id: str, now: datetime) -> int:
        """Revoke every live session of the account; how many."""


class AuthorizationCodes(Protocol):
    async def add(self, code: AuthorizationCode) -> None: ...

    async def consume(self, code_hash: str, now: datetime) -> AuthorizationCode | None:
        """Mark the code consumed and return it; None when unknown or already consumed."""

    async def void_all(self, account_id: str, now: datetime) -> int:
        """Mark the account's unredeemed codes consumed (they can no longer be exchanged); how many."""

    async def exists(self, code_hash: str) -> bool: ...


class IssuedTokens(Protocol):
    """Refresh tokens, the access tokens issued (by jti, for revocation) and the revoked ones."""

    async def add_refresh(self, token: RefreshToken) -> None: ...

    async def refresh(self, token_hash: str, *, for_update: bool = False) -> RefreshToken | None: ...

    async def mark_used(self, token_hash: str, now: datetime) -> None: ...

    async def rotate_refresh(
        self,
        token_hash: str,
        successor_hash: str,
        client_id: str,
        jkt: str | None,
        now: datetime,
        expires_at: datetime,
    ) -> tuple[RefreshToken, str | None] | None:
        """If the refresh token is the client's, unused, unrevoked, unexpired, its account active
        and it is bound to no DPoP key or to ``jkt`` (the proof's): mark it used and store its
        successor (same family, grant, sign-in and binding; a new hash and expiry), atomically;
        the successor and the account's personal identification number or tax code. None
        otherwise, and nothing changed."""

    async def add_access(self, jti: str, code_hash: str | None, family_id: str | None, expires_at: datetime) -> None:
        """Record an issued access token (for revocation). Committed before it returns, on its own
        rather than with the unit of work: a grant that writes nothing else needs no transaction."""

    async def revoke_family(self, family_id: str, now: datetime) -> None:
        """Revoke the family's refresh tokens and the access tokens issued with them."""

    async def revoke_from_code(self, code_hash: str, now: datetime) -> None:
        """Revoke what was issued from an authorization code (refresh and access tokens)."""

    async def revoke_account(self, account_id: str, now: datetime) -> None:
        """Revoke the account's refresh tokens and its unexpired access tokens."""

    async def revoke_access(self, jti: str, expires_at: datetime) -> None: ...

    async def access_revoked(self, jti: str) -> bool: ...


class BackchannelLogouts(Protocol):
    """Relying parties with a session (back-channel logout), and the logout tokens to deliver."""

    async def remember_client(self, sid: str, client_id: str, account_id: str, expires_at: datetime) -> None:
        """The client received tokens in browser session ``sid`` (kept until ``expires_at``)."""

    async def queue_for_session(self, sid: str, reason: str, now: datetime) -> int:
        """Queue a logout for each client remembered in the session that has a logout URI, and
        forget the session's clients; how many were queued."""

    async def queue_for_account(self, account_id: str, reason: str, now: datetime) -> int:
        """The same for every live session of the account."""

    async def due(self, now: datetime, limit: int) -> list[PendingLogout]:
        """Logouts due now, oldest first, locked (others' skipped)."""

    async def delivered(self, logout_id: int, attempts: int, now: datetime) -> None: ...

    async def retry_later(self, logout_id: int, attempts: int, now: datetime, at: datetime, error: str) -> None: ...

    async def abandon(self, logout_id: int, attempts: int, now: datetime, error: str) -> None: ...

    async def forget_finished(self, before: datetime, limit: int) -> int:
        """Delete at most ``limit`` delivered or abandoned logouts created before ``before``; how many."""

    async def forget_ended_sessions(self, now: datetime, limit: int) -> int:
        """Forget at most ``limit`` remembered sessions that have expired; how many."""


class EidSignIns(Protocol):
    """Sign-ins sent to the national e-ID and not yet back, by the hash of their ``state``."""

    async def add(self, pending: PendingEidSignIn, now: datetime) -> None: ...

    async def take(self, state_hash: str, browser_hash: str) -> PendingEidSignIn | None:
        """Remove and return the pending sign-in of this ``state`` started by this browser (once: a
        second take finds nothing). Another browser's attempt leaves it in place."""


class EidLinks(Protocol):
    """Links between e-ID accounts and portal accounts (one each way), and their audit."""

    async def by_subject(self, subject: str) -> EidLink | None:
        """The link of the e-ID account, held until the transaction ends."""

    async def of_account(self, account_id: str) -> EidLink | None: ...

    async def add(self, link: EidLink) -> None: ...

    async def remove(self, account_id: str) -> bool:
        """False when the account had no link."""

    async def record(self, event: LinkEvent) -> None: ...

    async def history(self, account_id: str, limit: int) -> list[LinkEvent]:
        """The account's audit lines, newest first."""


class PushedRequests(Protocol):
    """Pushed authorization requests (RFC 9126)."""

    async def add(self, request: PushedRequest) -> None: ...

    async def open(self, request_uri_hash: str, client_id: str, now: datetime, until: datetime) -> PushedRequest | None:
        """The client's live request; the first time, it is opened and stays live until ``until``."""

    async def consume(self, request_uri_hash: str, now: datetime) -> bool:
        """Mark the live request used (a code was issued); False when it was not live."""


class DpopProofs(Protocol):
    async def remember(self, jkt: str, jti: str, expires_at: datetime) -> bool:
        """Record a DPoP proof's ``jti`` for its key; False when it was seen before."""


class Mandates(Protocol):
    """Enterprise mandates (``domain.mandates``)."""

    async def get(self, mandate_id: str, *, for_update: bool = False) -> Mandate | None: ...

    async def active(self, enterprise_id: str, representative_id: str) -> Mandate | None: ...

    async def count_active(self, enterprise_id: str) -> int: ...

    async def of_enterprise(self, enterprise_id: str, limit: int) -> list[Mandate]:
        """Active first, then newest first."""

    async def held_by(self, representative_id: str, limit: int) -> list[Mandate]:
        """The representative's active mandates, newest first."""

    async def add(self, mandate: Mandate) -> None: ...

    async def save_revocation(self, mandate: Mandate) -> None: ...

    async def revoke_tokens(self, mandate_id: str, now: datetime) -> None:
        """Void the codes, and revoke the refresh and access tokens, issued under the mandate."""


class IdentityUnitOfWork(AbstractUnitOfWork):
    """The identity service's transaction and the repositories in it."""

    locks: Locks
    accounts: Accounts
    codes: OneTimeCodes
    audit: SignInAudit
    login_failures: LoginFailures
    messages: Messages
    clients: Clients
    signing_keys: SigningKeys
    sessions: BrowserSessions
    authorization_codes: AuthorizationCodes
    tokens: IssuedTokens
    backchannel: BackchannelLogouts
    eid_sign_ins: EidSignIns
    eid_links: EidLinks
    pushed_requests: PushedRequests
    dpop_proofs: DpopProofs
    mandates: Mandates
