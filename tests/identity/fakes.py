"""The identity unit of work in memory: its repositories as plain collections, for use-case
tests that run in milliseconds without a database.

The repositories hand out copies and keep what ``save`` gives back, so a use case that changes
an entity and forgets to save it is caught as it would be on PostgreSQL. Locks are recorded, not
held (one test, one task).
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from services.identity.domain.accounts import Account, AccountStatus, AlreadyRegistered, SignInAttempt
from services.identity.domain.federation import EidLink, LinkEvent, PendingEidSignIn
from services.identity.domain.identifiers import LoginKind
from services.identity.domain.logout import PendingLogout
from services.identity.domain.messages import QueuedMessage, SentMessage
from services.identity.domain.oauth import AuthorizationCode, BrowserSession, Client, RefreshToken, SigningKey
from services.identity.domain.one_time_codes import CodePurpose, OneTimeCode
from services.identity.domain.pushed import PushedRequest
from services.identity.service.unit_of_work import IdentityUnitOfWork
from tests.support.fakes import FakeUnitOfWork

T = TypeVar("T")


def _copy(item: T | None) -> T | None:
    return copy.deepcopy(item) if item is not None else None


class FakeLocks:
    def __init__(self) -> None:
        self.held: list[str] = []

    async def hold(self, key: str) -> None:
        self.held.append(key)


def _holds(account: Account, kind: LoginKind, value: str) -> bool:
    if account.status is AccountStatus.PENDING:
        return False
    if kind is LoginKind.PHONE:
        return account.phone == value and account.phone_verified
    return bool(getattr(account, kind.value) == value)


class FakeAccounts:
    def __init__(self) -> None:
        self.rows: dict[str, Account] = {}

    async def get(self, account_id: str, *, for_update: bool = False) -> Account | None:
        return _copy(self.rows.get(account_id))

    async def holding(self, kind: LoginKind, value: str, *, for_update: bool = False) -> Account | None:
        return _copy(next((a for a in self.rows.values() if _holds(a, kind, value)), None))

    async def add(self, account: Account) -> None:
        assert account.id not in self.rows, "duplicate key"
        self.rows[account.id] = copy.deepcopy(account)

    async def fixture_present(self, account: Account) -> bool:
        if account.id in self.rows:
            return True
        return any(
            value and await self.holding(kind, value)
            for kind, value in ((LoginKind.PERSONAL_ID, account.personal_id), (LoginKind.TAX_CODE, account.tax_code),
                                (LoginKind.USERNAME, account.username), (LoginKind.PHONE, account.phone))
        )  # fmt: skip

    async def add_fixture(self, account: Account) -> bool:
        if account.id in self.rows:
            return False
        await self.add(account)
        return True

    async def save(self, account: Account) -> None:
        assert account.id in self.rows, "saving an account never added"
        # The partial unique indexes: one active holder of each identifier.
        for kind in (LoginKind.PERSONAL_ID, LoginKind.TAX_CODE, LoginKind.USERNAME, LoginKind.PHONE):
            value = account.phone if kind is LoginKind.PHONE else getattr(account, kind.value)
            others = (o for o in self.rows.values() if o.id != account.id)
            if value and _holds(account, kind, value) and any(_holds(o, kind, value) for o in others):
                raise AlreadyRegistered("This account was registered by another request.")
        self.rows[account.id] = copy.deepcopy(account)

    async def record_activity(self, account_id: str, now: datetime) -> None:
        if account := self.rows.get(account_id):
            account.used(now)

    async def inactive(self, *, unused_since: datetime, warned_before: datetime, limit: int) -> list[Account]:
        found = [
            a for a in self.rows.values()
            if a.status is AccountStatus.ACTIVE and a.last_activity_at is not None
            and a.last_activity_at <= unused_since
            and (a.last_inactivity_warning_at is None or a.last_inactivity_warning_at <= warned_before)
        ]  # fmt: skip
        found.sort(key=lambda a: a.last_activity_at or unused_since)
        return [copy.deepcopy(a) for a in found[:limit]]


class FakeOneTimeCodes:
    def __init__(self) -> None:
        self.rows: list[OneTimeCode] = []

    async def add(self, code: OneTimeCode) -> None:
        self.rows.append(copy.deepcopy(code))

    async def latest(self, flow_id: str, purpose: CodePurpose) -> OneTimeCode | None:
        of_flow = [c for c in self.rows if c.flow_id == flow_id and c.purpose is purpose]
        return _copy(max(of_flow, key=lambda c: c.created_at, default=None))

    async def save(self, code: OneTimeCode) -> None:
        self.rows = [copy.deepcopy(code) if c.id == code.id else c for c in self.rows]

    async def sent_to(self, phone: str, since: datetime) -> tuple[int, datetime | None]:
        return self._count([c for c in self.rows if c.destination == phone and c.created_at > since])

    async def asked_from(self, client_ip: str, since: datetime) -> tuple[int, datetime | None]:
        return self._count([c for c in self.rows if c.client_ip == client_ip and c.created_at > since])

    @staticmethod
    def _count(codes: list[OneTimeCode]) -> tuple[int, datetime | None]:
        return len(codes), min((c.created_at for c in codes), default=None)


class FakeSignInAudit:
    def __init__(self) -> None:
        self.rows: list[SignInAttempt] = []

    async def add(self, attempt: SignInAttempt) -> None:
        self.rows.append(attempt)

    async def failures_from(self, client_ip: str, since: datetime) -> tuple[int, datetime | None]:
        failed = [r.at for r in self.rows if r.client_ip == client_ip and r.outcome == "failure" and r.at > since]
        return len(failed), min(failed, default=None)

    def outcomes(self) -> list[tuple[str, str]]:
        return [(r.outcome, r.reason) for r in self.rows]


class FakeLoginFailures:
    def __init__(self) -> None:
        self.rows: dict[str, tuple[int, datetime | None]] = {}

    async def held(self, keys: list[str]) -> tuple[int, datetime | None]:
        found = [self.rows[k] for k in keys if k in self.rows]
        locks = [until for _, until in found if until is not None]
        return max((n for n, _ in found), default=0), max(locks, default=None)

    async def count(self, keys: list[str], failures: int, locked_until: datetime | None, now: datetime) -> None:
        for key in keys:
            self.rows[key] = (failures, locked_until)


@dataclass
class FakeMessages:
    kept: list[SentMessage] = field(default_factory=list)
    queued: list[QueuedMessage] = field(default_factory=list)
    now: datetime | None = None

    async def keep(self, channel: str, recipient: str, body: str) -> None:
        self.kept.append(SentMessage(channel, recipient, body, self.now or datetime.now().astimezone()))

    async def queue(self, channel: str, recipient: str, body_encrypted: str) -> None:
        at = self.now or datetime.now().astimezone()
        self.queued.append(QueuedMessage(len(self.queued) + 1, channel, recipient, body_encrypted, at, 0))

    async def kept_for(self, recipient: str, limit: int) -> list[SentMessage]:
        return [m for m in reversed(self.kept) if m.recipient == recipient][:limit]

    async def due(self, now: datetime, limit: int) -> list[QueuedMessage]:
        return self.queued[:limit]

    async def delivered(self, message_id: int) -> None:
        self.queued = [m for m in self.queued if m.id != message_id]

    async def retry_later(self, message_id: int, attempts: int, at: datetime, error: str) -> None:
        self.queued = [m for m in self.queued if m.id != message_id]

    def texts_to(self, recipient: str) -> list[str]:
        return [m.body for m in self.kept if m.recipient == recipient]


class FakeClients:
    def __init__(self) -> None:
        self.rows: dict[str, Client] = {}
        self.assertions: set[tuple[str, str]] = set()

    async def get(self, client_id: str, *, include_disabled: bool = False, for_update: bool = False) -> Client | None:
        client = self.rows.get(client_id)
        if client is None or (client.disabled_at is not None and not include_disabled):
            return None
        return copy.deepcopy(client)

    async def all(self) -> list[Client]:
        return [copy.deepcopy(c) for _, c in sorted(self.rows.items())]

    async def recent(self, client_id: str) -> Client | None:
        return await self.get(client_id)

    def forget(self, client_id: str) -> None:
        pass

    async def add(self, client: Client) -> None:
        self.rows[client.client_id] = copy.deepcopy(client)

    async def rotate_secret(self, client_id: str, secret_hash: str, previous_expires_at: datetime) -> None:
        client = self.rows[client_id]
        client.previous_secret_hash, client.secret_hash = client.secret_hash, secret_hash
        client.previous_secret_expires_at = previous_expires_at

    async def disable(self, client_id: str, now: datetime) -> bool:
        client = self.rows.get(client_id)
        if client is None or client.disabled_at is not None:
            return False
        client.disabled_at = now
        return True

    async def set_backchannel_logout(self, client_id: str, uri: str | None, session_required: bool) -> None:
        client = self.rows[client_id]
        client.backchannel_logout_uri, client.backchannel_logout_session_required = uri, session_required

    async def remember_assertion(self, client_id: str, jti: str, expires_at: datetime) -> bool:
        if (client_id, jti) in self.assertions:
            return False
        self.assertions.add((client_id, jti))
        return True


class FakeSigningKeys:
    def __init__(self) -> None:
        self.rows: list[SigningKey] = []

    async def all(self) -> list[SigningKey]:
        return list(self.rows)

    async def recent(self) -> list[SigningKey]:
        return list(self.rows)

    async def add(self, key: SigningKey) -> None:
        self.rows.append(key)


class FakeBrowserSessions:
    def __init__(self) -> None:
        self.rows: dict[str, BrowserSession] = {}

    async def add(self, session: BrowserSession) -> None:
        self.rows[session.id_hash] = copy.deepcopy(session)

    async def get(self, id_hash: str) -> BrowserSession | None:
        return _copy(self.rows.get(id_hash))

    async def revoke(self, id_hash: str, now: datetime) -> None:
        if session := self.rows.get(id_hash):
            session.revoked_at = now


class FakeAuthorizationCodes:
    def __init__(self) -> None:
        self.rows: dict[str, AuthorizationCode] = {}
        self.consumed: set[str] = set()

    async def add(self, code: AuthorizationCode) -> None:
        self.rows[code.code_hash] = copy.deepcopy(code)

    async def consume(self, code_hash: str, now: datetime) -> AuthorizationCode | None:
        if code_hash not in self.rows or code_hash in self.consumed:
            return None
        self.consumed.add(code_hash)
        return copy.deepcopy(self.rows[code_hash])

    async def exists(self, code_hash: str) -> bool:
        return code_hash in self.rows


class FakeIssuedTokens:
    def __init__(self, accounts: FakeAccounts) -> None:
        self.accounts = accounts  # a refresh token is consumed only while its account is active
        self.refresh_tokens: dict[str, RefreshToken] = {}
        # jti -> (code hash, family id, expiry)
        self.access: dict[str, tuple[str | None, str | None, datetime]] = {}
        self.revoked: set[str] = set()

    async def add_refresh(self, token: RefreshToken) -> None:
        self.refresh_tokens[token.token_hash] = copy.deepcopy(token)

    async def refresh(self, token_hash: str, *, for_update: bool = False) -> RefreshToken | None:
        return _copy(self.refresh_tokens.get(token_hash))

    async def mark_used(self, token_hash: str, now: datetime) -> None:
        self.refresh_tokens[token_hash].used_at = now

    async def rotate_refresh(
        self,
        token_hash: str,
        successor_hash: str,
        client_id: str,
        jkt: str | None,
        now: datetime,
        expires_at: datetime,
    ) -> tuple[RefreshToken, str | None] | None:
        token = self.refresh_tokens.get(token_hash)
        if token is None or token.used_at is not None or not token.usable_by(client_id, now):
            return None
        if token.dpop_jkt is not None and token.dpop_jkt != jkt:
            return None
        account = self.accounts.rows.get(token.account_id)
        if account is None or account.status is not AccountStatus.ACTIVE:
            return None
        token.used_at = now
        successor = dataclasses.replace(token, token_hash=successor_hash, expires_at=expires_at, used_at=None)
        self.refresh_tokens[successor_hash] = successor
        return copy.deepcopy(successor), account.personal_id or account.tax_code

    async def add_access(self, jti: str, code_hash: str | None, family_id: str | None, expires_at: datetime) -> None:
        self.access[jti] = (code_hash, family_id, expires_at)

    async def revoke_family(self, family_id: str, now: datetime) -> None:
        for token in self.refresh_tokens.values():
            if token.family_id == family_id and token.revoked_at is None:
                token.revoked_at = now
        self.revoked |= {jti for jti, (_, family, _) in self.access.items() if family == family_id}

    async def revoke_from_code(self, code_hash: str, now: datetime) -> None:
        for token in self.refresh_tokens.values():
            if token.code_hash == code_hash and token.revoked_at is None:
                token.revoked_at = now
        self.revoked |= {jti for jti, (code, _, _) in self.access.items() if code == code_hash}

    async def revoke_access(self, jti: str, expires_at: datetime) -> None:
        self.revoked.add(jti)

    async def access_revoked(self, jti: str) -> bool:
        return jti in self.revoked


class FakeBackchannelLogouts:
    """Sessions' clients by (sid, client id) -> (account id, expiry); queued logouts as rows."""

    def __init__(self, clients: FakeClients) -> None:
        self._clients = clients
        self.sessions: dict[tuple[str, str], tuple[str, datetime]] = {}
        self.queued: list[PendingLogout] = []
        self.outcomes: dict[int, str] = {}

    async def remember_client(self, sid: str, client_id: str, account_id: str, expires_at: datetime) -> None:
        self.sessions.setdefault((sid, client_id), (account_id, expires_at))

    async def queue_for_session(self, sid: str, reason: str, now: datetime) -> int:
        return self._queue(lambda key, _account: key[0] == sid, reason, now)

    async def queue_for_account(self, account_id: str, reason: str, now: datetime) -> int:
        return self._queue(lambda _key, account: account == account_id, reason, now)

    def _queue(self, which, reason: str, now: datetime) -> int:  # type: ignore[no-untyped-def]
        taken = [(key, value) for key, value in self.sessions.items() if which(key, value[0]) and value[1] > now]
        queued = 0
        for (sid, client_id), (account_id, _) in taken:
            del self.sessions[(sid, client_id)]
            client = self._clients.rows.get(client_id)
            if client is None or client.disabled_at is not None or client.backchannel_logout_uri is None:
                continue
            self.queued.append(PendingLogout(id=len(self.queued) + 1, client_id=client_id,
                                             uri=client.backchannel_logout_uri, account_id=account_id, sid=sid,
                                             reason=reason, created_at=now))  # fmt: skip
            queued += 1
        return queued

    async def due(self, now: datetime, limit: int) -> list[PendingLogout]:
        return [copy.deepcopy(p) for p in self.queued if p.id not in self.outcomes][:limit]

    async def delivered(self, logout_id: int, attempts: int, now: datetime) -> None:
        self.outcomes[logout_id] = "delivered"

    async def retry_later(self, logout_id: int, attempts: int, now: datetime, at: datetime, error: str) -> None:
        next(p for p in self.queued if p.id == logout_id).attempts = attempts

    async def abandon(self, logout_id: int, attempts: int, now: datetime, error: str) -> None:
        self.outcomes[logout_id] = "abandoned"

    async def forget_finished(self, before: datetime, limit: int) -> int:
        finished = [p for p in self.queued if p.id in self.outcomes and p.created_at < before][:limit]
        self.queued = [p for p in self.queued if p not in finished]
        return len(finished)

    async def forget_ended_sessions(self, now: datetime, limit: int) -> int:
        ended = [key for key, (_, expires) in self.sessions.items() if expires <= now][:limit]
        for key in ended:
            del self.sessions[key]
        return len(ended)


class FakeEidSignIns:
    def __init__(self) -> None:
        self.rows: dict[str, PendingEidSignIn] = {}

    async def add(self, pending: PendingEidSignIn, now: datetime) -> None:
        self.rows[pending.state_hash] = pending

    async def take(self, state_hash: str, browser_hash: str) -> PendingEidSignIn | None:
        pending = self.rows.get(state_hash)
        return self.rows.pop(state_hash) if pending is not None and pending.browser_hash == browser_hash else None


class FakeEidLinks:
    def __init__(self) -> None:
        self.rows: dict[str, EidLink] = {}
        self.audit: list[LinkEvent] = []

    async def by_subject(self, subject: str) -> EidLink | None:
        return next((link for link in self.rows.values() if link.subject == subject), None)

    async def of_account(self, account_id: str) -> EidLink | None:
        return self.rows.get(account_id)

    async def add(self, link: EidLink) -> None:
        assert link.account_id not in self.rows and await self.by_subject(link.subject) is None, "duplicate key"
        self.rows[link.account_id] = link

    async def remove(self, account_id: str) -> bool:
        return self.rows.pop(account_id, None) is not None

    async def record(self, event: LinkEvent) -> None:
        self.audit.append(event)

    async def history(self, account_id: str, limit: int) -> list[LinkEvent]:
        return [e for e in reversed(self.audit) if e.account_id == account_id][:limit]


class FakePushedRequests:
    def __init__(self) -> None:
        self.rows: dict[str, PushedRequest] = {}

    async def add(self, request: PushedRequest) -> None:
        self.rows[request.request_uri_hash] = copy.deepcopy(request)

    def _live(self, request_uri_hash: str, now: datetime) -> PushedRequest | None:
        row = self.rows.get(request_uri_hash)
        return row if row is not None and row.consumed_at is None and row.expires_at > now else None

    async def open(self, request_uri_hash: str, client_id: str, now: datetime, until: datetime) -> PushedRequest | None:
        row = self._live(request_uri_hash, now)
        if row is None or row.client_id != client_id:
            return None
        if row.opened_at is None:
            row.opened_at, row.expires_at = now, until
        return copy.deepcopy(row)

    async def consume(self, request_uri_hash: str, now: datetime) -> bool:
        row = self._live(request_uri_hash, now)
        if row is None:
            return False
        row.consumed_at = now
        return True


class FakeDpopProofs:
    def __init__(self) -> None:
        self.seen: set[tuple[str, str]] = set()

    async def remember(self, jkt: str, jti: str, expires_at: datetime) -> bool:
        if (jkt, jti) in self.seen:
            return False
        self.seen.add((jkt, jti))
        return True


class FakeIdentityUnitOfWork(FakeUnitOfWork, IdentityUnitOfWork):
    locks: FakeLocks
    accounts: FakeAccounts
    codes: FakeOneTimeCodes
    audit: FakeSignInAudit
    login_failures: FakeLoginFailures
    messages: FakeMessages
    clients: FakeClients
    signing_keys: FakeSigningKeys
    sessions: FakeBrowserSessions
    authorization_codes: FakeAuthorizationCodes
    tokens: FakeIssuedTokens
    backchannel: FakeBackchannelLogouts
    eid_sign_ins: FakeEidSignIns
    eid_links: FakeEidLinks
    pushed_requests: FakePushedRequests
    dpop_proofs: FakeDpopProofs

    def __init__(self) -> None:
        super().__init__(source="identity", topic="identity.events")
        self.locks = FakeLocks()
        self.accounts = FakeAccounts()
        self.codes = FakeOneTimeCodes()
        self.audit = FakeSignInAudit()
        self.login_failures = FakeLoginFailures()
        self.messages = FakeMessages()
        self.clients = FakeClients()
        self.signing_keys = FakeSigningKeys()
        self.sessions = FakeBrowserSessions()
        self.authorization_codes = FakeAuthorizationCodes()
        self.tokens = FakeIssuedTokens(self.accounts)
        self.backchannel = FakeBackchannelLogouts(self.clients)
        self.eid_sign_ins = FakeEidSignIns()
        self.eid_links = FakeEidLinks()
        self.pushed_requests = FakePushedRequests()
        self.dpop_proofs = FakeDpopProofs()
