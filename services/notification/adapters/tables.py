"""Tables of the notification service database (the kit adds its outbox and inbox).

- ``templates``: each kind's texts per language, one row per version (never changed).
- ``preferences``: a person's channels and the kinds they switched off (absent: the defaults).
- ``notices``: one per triggering event and person (the unique key that makes a redelivered
  event notify no one twice), with the values its messages were made from.
- ``inbox_items``: what the person reads in the app; ``read_at`` once read.
- ``messages``: one per notice and channel (per device for push): its status, attempts, the
  provider that took it and its reference (receipts name it), its made text in ``content``
  (purged after the retention; the status stays).
- ``devices``: push tokens the apps registered, per person.
- ``dossiers``: whose each dossier is, from the dossier service's events (who to tell).
- ``dossier_deadlines``, ``feedback_deadlines`` (migration 0002): every dossier's and feedback
  item's agency, code, deadline and whether it is open, from the events (``domain/deadlines.py``),
  for the officials' digest; with when the facts they hold happened (late events change nothing).
- ``digests`` (migration 0002): the days whose digest was made (a rerun that day does nothing).
"""

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

metadata = MetaData()

templates = Table(
    "templates",
    metadata,
    Column("kind", Text, nullable=False),
    Column("language", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("texts", JSONB, nullable=False),
    Column("variables", JSONB, nullable=False),
    Column("saved_at", DateTime(timezone=True), nullable=False),
    Column("saved_by", Text, nullable=False),
    PrimaryKeyConstraint("kind", "language", "version"),
)

preferences = Table(
    "preferences",
    metadata,
    Column("account_id", Text, primary_key=True),
    Column("channels", ARRAY(Text), nullable=False),
    Column("switched_off", ARRAY(Text), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

notices = Table(
    "notices",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("event_id", Text, nullable=False),
    Column("account_id", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("language", Text, nullable=False),
    Column("template_version", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("event_id", "account_id", "kind", name="notices_once"),
)

inbox_items = Table(
    "inbox_items",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("account_id", Text, nullable=False),
    Column("notice_id", UUID(as_uuid=False), nullable=False),
    Column("kind", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("link", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("read_at", DateTime(timezone=True)),
)
Index("inbox_items_newest", inbox_items.c.account_id, inbox_items.c.created_at.desc(), inbox_items.c.id.desc())
Index("inbox_items_unread", inbox_items.c.account_id, postgresql_where=inbox_items.c.read_at.is_(None))

messages = Table(
    "messages",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("notice_id", UUID(as_uuid=False), nullable=False),
    Column("account_id", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("provider", Text),
    Column("reference", Text),
    Column("parts", Integer, nullable=False),
    Column("reason", Text),
    Column("device_token", Text),
    Column("refused_by", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("handed_at", DateTime(timezone=True)),
    Column("leased_until", DateTime(timezone=True)),
    Column("urgent", Boolean, nullable=False, server_default=text("false")),
    Column("content", JSONB),
)
Index("messages_due", messages.c.due_at, postgresql_where=messages.c.status == "created")
Index("messages_reference", messages.c.provider, messages.c.reference, unique=True,
      postgresql_where=messages.c.reference.is_not(None))  # fmt: skip
Index("messages_recipient", messages.c.account_id, messages.c.channel, messages.c.created_at)
Index("messages_notice", messages.c.notice_id)

devices = Table(
    "devices",
    metadata,
    Column("token", Text, primary_key=True),
    Column("account_id", Text, nullable=False),
    Column("platform", Text, nullable=False),
    Column("registered_at", DateTime(timezone=True), nullable=False),
)
Index("devices_account", devices.c.account_id)

dossiers = Table(
    "dossiers",
    metadata,
    Column("dossier_id", Text, primary_key=True),
    Column("code", Text, nullable=False),
    Column("owner", Text, nullable=False),
    Column("agency_code", Text, nullable=False),
    Column("procedure_name", Text, nullable=False),
    Column("appointment_date", Date),
)

TABLES = [templates, preferences, notices, inbox_items, messages, devices, dossiers]

dossier_deadlines = Table(
    "dossier_deadlines",
    metadata,
    Column("dossier_id", Text, primary_key=True),
    Column("agency_code", Text, nullable=False),
    Column("code", Text, nullable=False),
    Column("due", Date),
    Column("status", Integer, nullable=False),
    Column("open", Boolean, nullable=False),
    Column("as_of", DateTime(timezone=True), nullable=False),
    Column("due_as_of", DateTime(timezone=True)),
)
Index("dossier_deadlines_open", dossier_deadlines.c.due, postgresql_where=dossier_deadlines.c.open)

feedback_deadlines = Table(
    "feedback_deadlines",
    metadata,
    Column("feedback_id", Text, primary_key=True),
    Column("agency_code", Text, nullable=False),
    Column("code", Text, nullable=False),
    Column("classify_due", Date),
    Column("answer_due", Date),
    Column("moved_at", DateTime(timezone=True)),
    Column("classified_at", DateTime(timezone=True)),
    Column("closed", Boolean, nullable=False),
)
Index(
    "feedback_deadlines_open", feedback_deadlines.c.agency_code, postgresql_where=feedback_deadlines.c.closed.is_(False)
)

digests = Table(
    "digests",
    metadata,
    Column("day", Date, primary_key=True),
    Column("made_at", DateTime(timezone=True), nullable=False),
    Column("notices", Integer, nullable=False),
)

#: Created by migration 0002 from these first definitions; a later change gets a migration of its own.
DEADLINE_TABLES = [dossier_deadlines, feedback_deadlines, digests]
