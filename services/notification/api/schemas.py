"""The notification API's bodies: ``XCreate``/``XUpdate`` what callers send, ``XPublic`` what
they read."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from services.kit.pagination import Page
from services.kit.schemas import StrictModel

from ..domain.delivery import Channel
from ..domain.notices import RULES, Kind, Preferences
from ..domain.templates import LIMITS, Language, Template
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


# The kinds a person may switch off: every kind that is not essential (checked below).
SwitchableKind = Literal["dossier-in-processing", "dossier-processed", "appointment-changed", "payment-succeeded",
                         "payment-failed", "payment-expiring", "feedback-answered", "official-digest"]  # fmt: skip
if set(get_args(SwitchableKind)) != {k.value for k, r in RULES.items() if not r.essential}:
    raise RuntimeError("SwitchableKind must list exactly the kinds that are not essential")


class PreferencesUpdate(StrictModel):
    channels: list[ChoosableChannel] = Field(max_length=3)
    switched_off: list[SwitchableKind] = Field(default_factory=list, max_length=len(Kind),
                                               description="kinds to switch off; essential ones cannot be")  # fmt: skip

    def chosen(self) -> tuple[set[Channel], set[Kind]]:
        return {Channel(c) for c in self.channels}, {Kind(k) for k in self.switched_off}


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


def _text(name: str, description: str) -> Any:
    return Field(min_length=1, max_length=LIMITS[name], description=description)


_PLACEHOLDERS = "; placeholders are Jinja2 expressions ({{ name }}), each naming a declared variable"


class TemplateTexts(StrictModel):
    """Each part of a notice; the e-mail's HTML is optional (its values are escaped)."""

    subject: str = _text("subject", "the e-mail's subject" + _PLACEHOLDERS)
    email_text: str = _text("email_text", "the e-mail's plain text" + _PLACEHOLDERS)
    email_html: str | None = Field(default=None, min_length=1, max_length=LIMITS["email_html"],
                                   description="the e-mail's HTML" + _PLACEHOLDERS)  # fmt: skip
    sms: str = _text("sms", "the SMS" + _PLACEHOLDERS)
    push_title: str = _text("push_title", "the push notification's title" + _PLACEHOLDERS)
    push_body: str = _text("push_body", "the push notification's text" + _PLACEHOLDERS)
    inbox_title: str = _text("inbox_title", "the inbox item's title" + _PLACEHOLDERS)
    inbox_body: str = _text("inbox_body", "the inbox item's text" + _PLACEHOLDERS)

    def parts(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


VARIABLES = Field(description="a JSON Schema (2020-12) of an object whose `properties` are the variables, at most "
                  "30; every placeholder of the texts must be one of them")  # fmt: skip


class TemplateUpdate(StrictModel):
    texts: TemplateTexts
    variables: dict[str, Any] = VARIABLES


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
    texts: TemplateTexts | None = Field(default=None, description="texts to try instead of the current version's")
    variables: dict[str, Any] | None = Field(default=None, description="a schema to try instead of the current one")


class PreviewProblem(Public):
    field: str
    message: str


class PreviewPublic(Public):
    kind: Kind
    language: Language
    version: int = Field(description="the version previewed; 0 for texts not saved")
    texts: dict[str, str] | None = Field(description="what the notice would say; null when it cannot be made")
    problems: list[PreviewProblem] = Field(description="why it cannot be made (the values, texts or schema)")
