"""The notification service's unit of work as its use cases see it: one transaction and the
repositories that read and write in it (ports, below). The real unit keeps them on PostgreSQL
(``adapters/``); the tests' fake keeps them in memory."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from services.kit.unit_of_work import AbstractUnitOfWork

from ..domain.deadlines import AgencyDue, DigestWindow, DossierDeadline, FeedbackDeadline
from ..domain.messages import Message
from ..domain.notices import Kind, Preferences
from ..domain.templates import Language, Template


@dataclass(frozen=True, slots=True)
class Notice:
    id: str
    event_id: str
    account_id: str
    kind: Kind
    language: Language
    template_version: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class InboxItem:
    id: str
    account_id: str
    notice_id: str
    kind: Kind
    title: str
    body: str
    link: str | None
    created_at: datetime
    read_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Device:
    token: str
    account_id: str
    platform: str
    registered_at: datetime


@dataclass(frozen=True, slots=True)
class OwnedDossier:
    dossier_id: str
    code: str
    owner: str
    agency_code: str
    procedure_name: str
    appointment_date: date | None


class Templates(Protocol):
    async def current(self, kind: Kind, language: Language) -> Template | None: ...

    async def add(self, template: Template) -> bool:
        """Keep a new version; False when that version exists already."""

    async def latest(self) -> list[Template]:
        """The current version of each kind and language."""


class PreferencesStore(Protocol):
    async def get(self, account_id: str) -> Preferences | None: ...

    async def get_many(self, account_ids: list[str]) -> dict[str, Preferences]: ...

    async def put(self, preferences: Preferences, now: datetime) -> None: ...

    async def forget(self, account_id: str) -> int: ...


class Notices(Protocol):
    async def add_all(self, notices: list[Notice]) -> set[str]:
        """Keep them; the ids of those kept (not those an event already made for that person and kind)."""


class Inbox(Protocol):
    async def add_all(self, items: list[InboxItem]) -> None: ...

    async def page(self, account_id: str, after: tuple[datetime, str] | None, limit: int,
                   unread_only: bool) -> list[InboxItem]:  # fmt: skip
        """Newest first."""

    async def unread(self, account_id: str) -> int: ...

    async def owns(self, account_id: str, item_id: str) -> bool: ...

    async def mark_read(self, account_id: str, item_id: str | None, now: datetime) -> int:
        """Mark one (or, with None, every) unread item of this person read; how many were."""

    async def forget(self, account_id: str) -> int: ...

    async def signal(self, account_id: str) -> None:
        """Tell live streams, once this transaction commits, that this person's inbox changed."""

    async def signal_many(self, account_ids: list[str]) -> None: ...


class Messages(Protocol):
    async def add_all(self, messages: list[tuple[Message, dict[str, Any], bool]]) -> None:
        """Messages with their made content and whether they are urgent."""

    async def claim_due(self, now: datetime, limit: int) -> list[tuple[Message, dict[str, Any], bool]]:
        """Messages due now (``created``, ``due_at`` passed), locked for this transaction."""

    async def save(self, message: Message) -> None: ...

    async def save_all(self, messages: list[Message]) -> None:
        """Each message as it now stands, in one round trip."""

    async def delivered_many(self, provider: str, references: list[str], now: datetime) -> set[str]:
        """Those of ``references`` still ``sending`` marked delivered (in one statement): their references."""

    async def by_reference(self, provider: str, reference: str) -> Message | None: ...

    async def delivered(self, provider: str, reference: str, now: datetime) -> bool:
        """Mark the message the provider took under ``reference`` delivered, if it is still
        ``sending``; whether it was."""

    async def sent_since_many(self, account_ids: list[str], channel: str, since: datetime,
                              now: datetime) -> dict[str, list[datetime]]:  # fmt: skip
        """When each person's messages on ``channel`` were handed over since ``since``; those a
        dispatcher is handing over now (leased) count as handed ``now``."""

    async def forget(self, account_id: str) -> int:
        """Forget the content of every message to this person; how many."""

    async def purge_content(self, before: datetime, limit: int) -> int:
        """Forget the content of messages made before ``before``; how many."""


class Devices(Protocol):
    async def add(self, device: Device) -> None: ...

    async def remove(self, account_id: str, token: str) -> bool: ...

    async def of(self, account_id: str) -> list[Device]: ...

    async def of_many(self, account_ids: list[str]) -> dict[str, list[Device]]: ...

    async def forget(self, token: str) -> None:
        """A token its push service no longer knows."""

    async def forget_account(self, account_id: str) -> int: ...


class Dossiers(Protocol):
    async def save_all(self, dossiers: list[OwnedDossier]) -> None: ...

    async def get_many(self, dossier_ids: list[str]) -> dict[str, OwnedDossier]: ...

    async def moved(self, dossier_id: str, appointment_date: date) -> None: ...


class Deadlines(Protocol):
    async def save_dossiers(self, facts: list[DossierDeadline]) -> None:
        """Fold each fact into its dossier's row (``DossierDeadline.then``), at most one a dossier."""

    async def save_feedback(self, facts: list[FeedbackDeadline]) -> None:
        """Fold each fact into its feedback item's row (``FeedbackDeadline.then``), at most one an item."""

    async def due(self, window: DigestWindow, codes: int) -> list[AgencyDue]:
        """Each agency with open dossiers or feedback due by the window's horizon, by agency code."""

    async def digest_made(self, day: date) -> bool: ...

    async def digest_done(self, day: date, now: datetime, notices: int) -> None: ...


class NotificationUnitOfWork(AbstractUnitOfWork):
    """What the notification use cases depend on."""

    @property
    @abc.abstractmethod
    def templates(self) -> Templates: ...

    @property
    @abc.abstractmethod
    def preferences(self) -> PreferencesStore: ...

    @property
    @abc.abstractmethod
    def notices(self) -> Notices: ...

    @property
    @abc.abstractmethod
    def inbox(self) -> Inbox: ...

    @property
    @abc.abstractmethod
    def messages(self) -> Messages: ...

    @property
    @abc.abstractmethod
    def devices(self) -> Devices: ...

    @property
    @abc.abstractmethod
    def dossiers(self) -> Dossiers: ...

    @property
    @abc.abstractmethod
    def deadlines(self) -> Deadlines: ...


def notification_unit(uow: AbstractUnitOfWork) -> NotificationUnitOfWork:
    """The kit's unit (a consumer's, a job's) as the notification unit it is."""
    if not isinstance(uow, NotificationUnitOfWork):
        raise TypeError(f"the notification service's unit of work expected, got {type(uow).__name__}")
    return uow
