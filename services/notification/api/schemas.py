"""The notification API's bodies: ``XCreate``/``XUpdate`` what callers send, ``XPublic`` what
they read."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.kit.pagination import Page
from services.kit.schemas import StrictModel

from ..domain.delivery import Channel
from ..domain.notices import RULES, Kind, Preferences
from ..domain.templates import LIMITS, Language, Rendered, Template
from ..service.unit_of_work import Device, InboxItem

ChoosableChannel = Literal["sms", "email", "push"]


class Public(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class InboxItemPublic(Public):
    id: str
    kind: Kind
    title: str
    body: str
    link: str | None
    created_at: datetime
    read_at: datetime | None

    @classmethod
    def of(cls, item: InboxItem) -> InboxItemPublic:
        return cls(id=item.id, kind=item.kind, title=item.title, body=item.body, link=item.link,
                   created_at=item.created_at, read_at=item.read_at)  # fmt: skip


class InboxPage(Page[InboxItemPublic]):
    """The caller's inbox, newest first, and how many items are unread."""

    unread: int = Field(ge=0)


class UnreadPublic(Public):
    unread: int = Field(ge=0)


class MarkedPublic(Public):
    marked: int = Field(ge=0, description="items that were unread and are now read")


class PreferencesPublic(Public):
    channels: list[ChoosableChannel] = Field(description="the channels chosen (the in-app inbox is always on)")
    switched_off: list[Kind] = Field(description="kinds of notice switched off")
    essential: list[Kind] = Field(description="kinds that cannot be switched off (they use SMS and e-mail)")

    @classmethod
    def of(cls, p: Preferences) -> PreferencesPublic:
        return cls(channels=sorted(c.value for c in p.channels),
                   switched_off=sorted(p.switched_off, key=lambda k: k.value),
                   essential=sorted((k for k, r in RULES.items() if r.essential), key=lambda k: k.value))  # fmt: skip


class PreferencesUpdate(StrictModel):
    channels: list[ChoosableChannel] = Field(max_length=3)
    switched_off: list[Kind] = Field(default_factory=list, max_length=len(Kind))

    def chosen(self) -> tuple[set[Channel], set[Kind]]:
        return {Channel(c) for c in self.channels}, set(self.switched_off)


DeviceToken = Annotated[str, Field(min_length=8, max_length=4096, pattern=r"^[\x21-\x7e]+$")]


class DeviceCreate(StrictModel):
    token: DeviceToken = Field(description="the token the platform's push service gave the app")
    platform: Literal["android", "ios", "web"]


class DeviceRemoval(StrictModel):
    token: DeviceToken


class DevicePublic(Public):
    platform: str
    registered_at: datetime

    @classmethod
    def of(cls, d: Device) -> DevicePublic:
        return cls(platform=d.platform, registered_at=d.registered_at)


Texts = dict[Literal["subject", "email_text", "email_html", "sms", "push_title", "push_body", "inbox_title",
                     "inbox_body"], Annotated[str, Field(max_length=max(LIMITS.values()))]]  # fmt: skip


class TemplateUpdate(StrictModel):
    texts: Texts = Field(description="each part's text; placeholders are {{ variable }}")
    variables: dict[str, Any] = Field(description="a JSON Schema of the values (an object with properties)")


class TemplatePublic(Public):
    kind: Kind
    language: Language
    version: int
    texts: dict[str, str]
    variables: dict[str, Any]
    saved_at: datetime
    saved_by: str

    @classmethod
    def of(cls, t: Template) -> TemplatePublic:
        return cls(kind=t.kind, language=t.language, version=t.version, texts=t.texts, variables=t.variables,
                   saved_at=t.saved_at, saved_by=t.saved_by)  # fmt: skip


class PreviewCreate(StrictModel):
    values: dict[str, Any] = Field(description="the variables' values")
    texts: Texts | None = Field(default=None, description="texts to try instead of the current version's")
    variables: dict[str, Any] | None = None


class PreviewPublic(Public):
    kind: Kind
    language: Language
    version: int = Field(description="the version previewed; 0 for texts not saved")
    texts: dict[str, str]

    @classmethod
    def of(cls, r: Rendered) -> PreviewPublic:
        return cls(kind=r.kind, language=r.language, version=r.version, texts=r.texts)
