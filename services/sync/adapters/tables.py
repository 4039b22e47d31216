"""Tables of the sync service database (the kit adds its outbox and inbox).

Inbound: every pushed batch and each record's result (what the agency is answered, kept for
it to read again), the accepted record ids (duplicates), the latest accepted update of each
dossier (stale ones), and each agency's mapping of its local status values. At national volume
``batch_results`` and ``accepted_records`` grow by tens of millions of rows a year: they are
the tables to partition by time (see the scaling note).
"""

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

metadata = MetaData()

status_mappings = Table(
    "status_mappings",
    metadata,
    Column("agency_code", Text, nullable=False),
    Column("local_value", Text, nullable=False),
    Column("status", SmallInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("agency_code", "local_value"),
    CheckConstraint("status BETWEEN 1 AND 10", name="status_mappings_status"),
)

batches = Table(
    "batches",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("client_id", Text, nullable=False),
    Column("format", Text, nullable=False),  # portal | DongBoHoSoMC | CapNhatTienDoHoSoMC
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("records", Integer, nullable=False),
    Column("summary", JSONB, nullable=False),
    Index("batches_client", "client_id", "received_at"),
)

batch_results = Table(
    "batch_results",
    metadata,
    Column("batch_id", UUID(as_uuid=False), ForeignKey("batches.id"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("record_id", Text, nullable=True),
    Column("dossier_code", Text, nullable=True),
    Column("agency_code", Text, nullable=True),
    Column("outcome", Text, nullable=False),  # accepted | duplicate | stale | rejected
    Column("errors", JSONB, nullable=True),
    PrimaryKeyConstraint("batch_id", "position"),
    CheckConstraint("outcome IN ('accepted', 'duplicate', 'stale', 'rejected')", name="batch_results_outcome"),
    Index("batch_results_rejected_by_agency", "agency_code", postgresql_where="outcome = 'rejected'"),
)

accepted_records = Table(
    "accepted_records",
    metadata,
    Column("agency_code", Text, nullable=False),
    Column("record_id", Text, nullable=False),
    Column("dossier_code", Text, nullable=False),
    Column("accepted_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("agency_code", "record_id"),
)

dossier_progress = Table(
    "dossier_progress",
    metadata,
    Column("dossier_code", Text, primary_key=True),
    Column("agency_code", Text, nullable=False),
    Column("status", SmallInteger, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("record_id", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

INBOUND_TABLES = [status_mappings, batches, batch_results, accepted_records, dossier_progress]
