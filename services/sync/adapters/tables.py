"""Tables of the sync service database (the kit adds its outbox and inbox).

Inbound: every pushed batch with each record's result in it (what the agency is answered, kept
for it to read again), the accepted record ids (duplicates), the latest accepted update of each
dossier (stale ones), and each agency's mapping of its local status values. At national volume
``batches`` and ``accepted_records`` grow by tens of millions of records a year: they are the
tables to partition by time (see the scaling note).
"""

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    Table,
    Text,
    func,
    text,
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
    # The answer given for each record, in push order (one row per batch, not one per record:
    # ingest writes a thousand records a second and reads a batch back rarely).
    Column("results", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Index("batches_client", "client_id", "received_at"),
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

INBOUND_TABLES = [status_mappings, batches, accepted_records]

# What the sync service knows of each dossier, to answer a pushed record as the dossier service
# will judge it: the dossier's agency, applicant (a digest), status and the time of its latest
# applied update. Filled from ``dossier.events`` (filed, status changed by the portal, the owner
# or a payment) and from the records this service accepts (before their echo comes back).
known_dossiers = Table(
    "known_dossiers",
    metadata,
    Column("dossier_code", Text, primary_key=True),
    Column("agency_code", Text, nullable=False),
    Column("applicant_digest", Text, nullable=True),
    Column("status", SmallInteger, nullable=False),
    Column("last_update_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("status BETWEEN 1 AND 10", name="known_dossiers_status"),
)

VIEW_TABLES = [known_dossiers]


# --- outbound: delivering dossiers to the agencies' systems -------------------------------------
# The registry of where each agency takes its dossiers: pushed to its HTTPS endpoint (signed), or
# pulled from the feed. Endpoints come only from here, never from a request.
agency_endpoints = Table(
    "agency_endpoints",
    metadata,
    Column("agency_code", Text, primary_key=True),
    Column("mode", Text, nullable=False),
    # What the agency's system reads: the portal's JSON, or the provinces' DongBoHoSoMC.
    Column("format", Text, nullable=False, server_default="portal"),
    Column("url", Text, nullable=True),
    Column("secrets", LargeBinary, nullable=True),  # the signing secrets (current first), encrypted
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("mode IN ('push', 'pull')", name="agency_endpoints_mode"),
    CheckConstraint("mode = 'pull' OR url IS NOT NULL", name="agency_endpoints_url"),
    CheckConstraint("format IN ('portal', 'compat')", name="agency_endpoints_format"),
)

deliveries = Table(
    "deliveries",
    metadata,
    # Also the pull feed's cursor and order: ids are taken and committed one transaction at a
    # time (repository.add_delivery), so a reader past an id never misses a smaller one.
    Column("id", BigInteger, Identity(), primary_key=True),
    # What is delivered: the filing, a supplement answering the agency's request, a withdrawal.
    Column("kind", Text, nullable=False, server_default="filing"),
    # One delivery per fact, whatever the redeliveries: the dossier id for its filing,
    # ``supplement:<request id>``, ``withdrawal:<dossier id>:<time>``.
    Column("delivery_key", Text, nullable=False, unique=True),
    Column("dossier_id", Text, nullable=False),
    Column("dossier_code", Text, nullable=False),
    Column("agency_code", Text, nullable=False),
    Column("payload", JSONB, nullable=False),
    Column("state", Text, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("last_error", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    CheckConstraint("state IN ('pending', 'delivered', 'dead')", name="deliveries_state"),
    CheckConstraint("kind IN ('filing', 'supplement', 'withdrawal')", name="deliveries_kind"),
    Index("deliveries_due", "next_attempt_at", postgresql_where="state = 'pending'"),
    Index("deliveries_agency", "agency_code", "state", "id"),
)

delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("delivery_id", BigInteger, ForeignKey("deliveries.id"), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("status_code", Integer, nullable=True),
    Column("error", Text, nullable=True),
    Column("duration_ms", Integer, nullable=False),
    Index("delivery_attempts_delivery", "delivery_id", "id"),
)

OUTBOUND_TABLES = [agency_endpoints, deliveries, delivery_attempts]
