"""The identity unit of work on PostgreSQL: the kit's unit with the identity repositories on its
connection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Self

from services.kit.db import Database, UnitOfWork

from ..service.unit_of_work import IdentityUnitOfWork
from .accounts import SqlAccounts, SqlLocks, SqlLoginFailures, SqlMessages, SqlOneTimeCodes, SqlSignInAudit
from .federation import SqlEidLinks, SqlEidSignIns
from .logout import SqlBackchannelLogouts
from .mandates import SqlMandates
from .oauth import SqlAuthorizationCodes, SqlBrowserSessions, SqlClients, SqlIssuedTokens, SqlSigningKeys
from .pushed import SqlDpopProofs, SqlPushedRequests


class SqlIdentityUnitOfWork(UnitOfWork, IdentityUnitOfWork):
    async def __aenter__(self) -> Self:
        await super().__aenter__()
        connection = self.connection
        self.locks = SqlLocks(connection)
        self.accounts = SqlAccounts(connection)
        self.codes = SqlOneTimeCodes(connection)
        self.audit = SqlSignInAudit(connection)
        self.login_failures = SqlLoginFailures(connection)
        self.messages = SqlMessages(connection)
        self.clients = SqlClients(connection)
        self.signing_keys = SqlSigningKeys(connection)
        self.sessions = SqlBrowserSessions(connection)
        self.authorization_codes = SqlAuthorizationCodes(connection)
        self.tokens = SqlIssuedTokens(connection, self.execute_alone)
        self.backchannel = SqlBackchannelLogouts(connection)
        self.eid_sign_ins = SqlEidSignIns(connection)
        self.eid_links = SqlEidLinks(connection)
        self.pushed_requests = SqlPushedRequests(connection)
        self.dpop_proofs = SqlDpopProofs(connection)
        self.mandates = SqlMandates(connection)
        return self


@asynccontextmanager
async def transaction(db: Database) -> AsyncIterator[SqlIdentityUnitOfWork]:
    """One identity unit on ``db``, committed at the end unless an error escapes: for the jobs,
    commands and start-up work, which own their transactions as a route's dependency does."""
    async with SqlIdentityUnitOfWork(db.engine, db.source, db.topic) as uow:
        yield uow
        await uow.commit()
