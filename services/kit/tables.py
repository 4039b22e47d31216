"""The kit's own tables, present in every service database: the outbox and the inbox."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Index, MetaData, PrimaryKeyConstraint, Table, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB

kit_metadata = MetaData()

outbox = Table(
    "kit_outbox",
    kit_metadata,
    # The sequence gives the publishing order; one relay at a time keeps per-key order.
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("event_id", Text, nullable=False, unique=True),
    Column("topic", Text, nullable=False),
    Column("key", Text),
    Column("type", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("subject", Text),
    Column("event_time", DateTime(timezone=True), nullable=False),
    Column("correlation_id", Text),
    Column("traceparent", Text),
    Column("data", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("published_at", DateTime(timezone=True)),
    Index("kit_outbox_unpublished", "id", postgresql_where=text("published_at IS NULL")),
    Index("kit_outbox_published_at", "published_at"),
)

inbox = Table(
    "kit_inbox",
    kit_metadata,
    Column("consumer", Text, nullable=False),
    Column("event_id", Text, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("consumer", "event_id"),
    Index("kit_inbox_processed_at", "processed_at"),
)

OUTBOX_CHANNEL = "kit_outbox"

# A statement-level trigger wakes the relay once per inserting statement.
OUTBOX_NOTIFY_DDL = (
    f"""
    CREATE OR REPLACE FUNCTION kit_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_notify('{OUTBOX_CHANNEL}', ''); RETURN NULL; END $$
    """,
    """
    CREATE TRIGGER kit_outbox_notify AFTER INSERT ON kit_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION kit_outbox_notify()
    """,
)
OUTBOX_NOTIFY_DROP = (
    "DROP TRIGGER IF EXISTS kit_outbox_notify ON kit_outbox",
    "DROP FUNCTION IF EXISTS kit_outbox_notify()",
)
