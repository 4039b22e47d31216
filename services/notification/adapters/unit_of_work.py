"""The notification service's unit of work on PostgreSQL: the kit's unit with the notification
repositories on its connection, made when the unit begins."""

from __future__ import annotations

from typing import Self

from services.kit.db import UnitOfWork

from ..service.unit_of_work import NotificationUnitOfWork
from .repository import (
    SqlDeadlines,
    SqlDevices,
    SqlDossiers,
    SqlInbox,
    SqlMessages,
    SqlNotices,
    SqlPreferences,
    SqlTemplates,
)


class SqlNotificationUnitOfWork(UnitOfWork, NotificationUnitOfWork):
    _templates: SqlTemplates
    _preferences: SqlPreferences
    _notices: SqlNotices
    _inbox: SqlInbox
    _messages: SqlMessages
    _devices: SqlDevices
    _dossiers: SqlDossiers
    _deadlines: SqlDeadlines

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        c = self.connection
        self._templates, self._preferences, self._notices = SqlTemplates(c), SqlPreferences(c), SqlNotices(c)
        self._inbox, self._messages, self._devices = SqlInbox(c), SqlMessages(c), SqlDevices(c)
        self._dossiers, self._deadlines = SqlDossiers(c), SqlDeadlines(c)
        return self

    @property
    def templates(self) -> SqlTemplates:
        return self._templates

    @property
    def preferences(self) -> SqlPreferences:
        return self._preferences

    @property
    def notices(self) -> SqlNotices:
        return self._notices

    @property
    def inbox(self) -> SqlInbox:
        return self._inbox

    @property
    def messages(self) -> SqlMessages:
        return self._messages

    @property
    def devices(self) -> SqlDevices:
        return self._devices

    @property
    def dossiers(self) -> SqlDossiers:
        return self._dossiers

    @property
    def deadlines(self) -> SqlDeadlines:
        return self._deadlines
