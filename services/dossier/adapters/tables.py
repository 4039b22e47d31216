"""Tables of the dossier service database (the kit adds its outbox and inbox).

The ``catalogue_*`` tables are this service's read model of the procedure catalogue, fed only
by ``catalogue.events`` (the rules are in ``domain.catalogue_view``): the online services it
takes dossiers for, every published version of each (a dossier refers to the version it was
filed under) and the procedures. ``revision`` is the catalogue's counter of the aggregate as of
the event that set the row.
"""

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from contracts.assurance import ACR_LEVELS
from services.kit.idempotency import idempotency_table

metadata = MetaData()

catalogue_services = Table(
    "catalogue_services",
    metadata,
    Column("service_id", Text, primary_key=True),
    Column("revision", Integer, nullable=False),  # latest applied revision of the service
    Column("status", Text, nullable=False),
    # The version citizens file under (the last one once retired). The columns below describe
    # it (for filtering; its version row is authoritative); all are NULL while only a
    # retirement of the service has been seen.
    Column("current_version", Integer, nullable=True),
    Column("procedure_code", Text, nullable=True),
    Column("agency_code", Text, nullable=True),
    Column("province_code", Text, nullable=True),
    Column("online_level", Text, nullable=True),
    Column("routing_target", Text, nullable=True),
    Column("changed_at", DateTime(timezone=True), nullable=False),  # published_at / retired_at of that event
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("status IN ('published', 'retired')", name="catalogue_services_status"),
    CheckConstraint("revision >= 1", name="catalogue_services_revision"),
    CheckConstraint("status = 'retired' OR current_version IS NOT NULL", name="catalogue_services_published_version"),
    Index("catalogue_services_procedure", "procedure_code"),
    Index("catalogue_services_agency", "agency_code"),
)

catalogue_service_versions = Table(
    "catalogue_service_versions",
    metadata,
    Column("service_id", Text, ForeignKey("catalogue_services.service_id"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("revision", Integer, nullable=False),  # the revision whose event stored this definition
    Column("procedure_code", Text, nullable=False),
    Column("agency_code", Text, nullable=False),
    Column("online_level", Text, nullable=False),
    Column("procedure", JSONB, nullable=False),  # the procedure as it stood at this version
    Column("agency", JSONB, nullable=False),  # {code, name, province_code}
    Column("form_schema", JSONB, nullable=False),
    Column("fees", JSONB, nullable=False),
    Column("documents", JSONB, nullable=False),  # document components, from the procedure snapshot
    Column("processing_days", Integer, nullable=False),
    Column("routing_target", Text, nullable=False),
    Column("published_at", DateTime(timezone=True), nullable=False),
    Column("stored_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # The level of assurance an applicant signs in at (an acr value, contracts.assurance).
    Column("required_acr", Text, nullable=False, server_default=ACR_LEVELS[0]),
    CheckConstraint("version >= 1", name="catalogue_service_versions_version"),
    CheckConstraint("online_level IN ('full', 'partial')", name="catalogue_service_versions_online_level"),
    CheckConstraint("processing_days >= 0", name="catalogue_service_versions_processing_days"),
)

catalogue_procedures = Table(
    "catalogue_procedures",
    metadata,
    Column("code", Text, primary_key=True),
    Column("revision", Integer, nullable=False),
    Column("status", Text, nullable=False),
    Column("name", Text, nullable=True),  # NULL while only a retirement has been seen
    Column("definition", JSONB, nullable=True),  # the last published definition, kept when retired
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("status IN ('active', 'retired')", name="catalogue_procedures_status"),
    CheckConstraint("revision >= 1", name="catalogue_procedures_revision"),
)

CATALOGUE_VIEW_TABLES = [catalogue_services, catalogue_service_versions, catalogue_procedures]


# --- dossiers -------------------------------------------------------------------------------
# A dossier filed on the portal (origin 'portal') or known only from an agency's status pushes
# (origin 'mirrored'). ``owner`` is the account (OIDC ``sub``) that filed it; a mirrored dossier
# has none and is found by its applicant identifier instead. ``last_update_at`` is when the
# latest applied status update happened at its source: an older one is recorded, not applied.

dossiers = Table(
    "dossiers",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("code", Text, nullable=False, unique=True),
    Column("origin", Text, nullable=False),
    Column("owner", Text, nullable=True),
    Column("applicant_kind", Text, nullable=False),
    Column("applicant_identifier", Text, nullable=False),
    # services.kit.pseudonyms.applicant_key of the identifier: how an account's token finds
    # the dossiers mirrored from agencies' systems for it.
    Column("applicant_key", Text, nullable=True),
    Column("applicant", JSONB, nullable=False),
    Column("service_id", Text, nullable=True),
    Column("service_version", Integer, nullable=True),
    Column("procedure_code", Text, nullable=False),
    Column("procedure_name", Text, nullable=True),
    Column("document_name", Text, nullable=True),  # what the citizen asks for (the result)
    Column("agency_code", Text, nullable=False),
    Column("agency_name", Text, nullable=True),
    Column("routing_target", Text, nullable=True),
    Column("status", SmallInteger, nullable=False),
    Column("status_changed_at", DateTime(timezone=True), nullable=False),
    Column("last_update_at", DateTime(timezone=True), nullable=False),
    Column("form", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("fees", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("fee_total", BigInteger, nullable=False, server_default=text("0")),
    Column("fees_paid_at", DateTime(timezone=True), nullable=True),
    Column("received_at", DateTime(timezone=True), nullable=True),
    Column("appointment_date", Date, nullable=True),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("returned_at", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # The receipt's lookup secret (domain.receipt; random, compared in constant time): the public
    # lookup's verifier for the dossiers filed since it exists. Without one (filed before, or
    # mirrored from an agency) the verifier is the identifier's last 4 digits.
    Column("lookup_secret", Text, nullable=True),
    CheckConstraint("origin IN ('portal', 'mirrored')", name="dossiers_origin"),
    CheckConstraint("origin = 'mirrored' OR owner IS NOT NULL", name="dossiers_owner"),
    CheckConstraint("status BETWEEN 1 AND 10", name="dossiers_status"),
    CheckConstraint("applicant_kind IN ('citizen', 'enterprise')", name="dossiers_applicant_kind"),
    CheckConstraint("fee_total >= 0", name="dossiers_fee_total"),
    # The owner's list, newest first, keyset on (created_at, id).
    Index("dossiers_owner_created", "owner", text("created_at DESC"), text("id DESC")),
    Index("dossiers_applicant", "applicant_identifier", text("created_at DESC")),
    Index(
        "dossiers_mirrored_for",
        "applicant_key",
        text("created_at DESC"),
        text("id DESC"),
        postgresql_where=text("origin = 'mirrored'"),
    ),
    Index("dossiers_agency_created", "agency_code", text("created_at DESC"), text("id DESC")),
)

# The day's sequence of each receiving agency: an UPSERT increments it inside the submitting
# transaction, so concurrent submissions queue on the row and a rolled-back one leaves no gap.
dossier_sequences = Table(
    "dossier_sequences",
    metadata,
    Column("agency_code", Text, nullable=False),
    Column("day", Date, nullable=False),
    Column("last_value", Integer, nullable=False),
    PrimaryKeyConstraint("agency_code", "day"),
)

# Every applied status change (the timeline), and every refused update with its reason.
dossier_history = Table(
    "dossier_history",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("dossier_id", UUID(as_uuid=False), ForeignKey("dossiers.id"), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("previous", SmallInteger, nullable=True),
    Column("status", SmallInteger, nullable=False),
    Column("source", Text, nullable=False),  # portal | owner | agency | payment
    Column("actor", Text, nullable=True),  # who: an account, an agency system, a provider
    Column("note", Text, nullable=True),
    Column("record_id", Text, nullable=True),  # the source's id of the update, if any
    CheckConstraint("source IN ('portal', 'owner', 'agency', 'payment')", name="dossier_history_source"),
    Index("dossier_history_dossier", "dossier_id", "id"),
    UniqueConstraint("dossier_id", "record_id", name="dossier_history_record"),
)

dossier_refused_updates = Table(
    "dossier_refused_updates",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("dossier_code", Text, nullable=False),
    Column("dossier_id", UUID(as_uuid=False), nullable=True),
    Column("source", Text, nullable=False),
    Column("record_id", Text, nullable=True),
    Column("reason", Text, nullable=False),  # stale | not-allowed | unknown-dossier | wrong-agency | ...
    Column("detail", Text, nullable=True),
    Column("payload", JSONB, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("dossier_refused_updates_code", "dossier_code"),
)

# Files: uploaded by an owner first (dossier_id NULL), then bound to one dossier at submission
# or to a supplement request. The bytes are in the storage under ``storage_key``.
attachments = Table(
    "attachments",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("owner", Text, nullable=False),
    Column("dossier_id", UUID(as_uuid=False), ForeignKey("dossiers.id"), nullable=True),
    Column("component_code", Text, nullable=True),
    Column("supplement_id", BigInteger, nullable=True),
    Column("filename", Text, nullable=False),
    Column("content_type", Text, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", Text, nullable=False),
    Column("storage_key", Text, nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("content_type IN ('application/pdf', 'image/jpeg', 'image/png')", name="attachments_type"),
    CheckConstraint("size > 0", name="attachments_size"),
    Index("attachments_owner_unbound", "owner", postgresql_where=text("dossier_id IS NULL")),
    Index("attachments_dossier", "dossier_id"),
)

# A retried submission with the same key returns the same dossier; another body is refused.
idempotency_keys = idempotency_table(metadata, "dossiers.id")

drafts = Table(
    "drafts",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("owner", Text, nullable=False),
    Column("service_id", Text, nullable=False),
    Column("content", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("drafts_owner", "owner", text("updated_at DESC")),
)

supplement_requests = Table(
    "supplement_requests",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("dossier_id", UUID(as_uuid=False), ForeignKey("dossiers.id"), nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("note", Text, nullable=True),
    Column("fulfilled_at", DateTime(timezone=True), nullable=True),
    Index("supplement_requests_open", "dossier_id", unique=True, postgresql_where=text("fulfilled_at IS NULL")),
)

ratings = Table(
    "ratings",
    metadata,
    Column("dossier_id", UUID(as_uuid=False), ForeignKey("dossiers.id"), primary_key=True),
    Column("score", SmallInteger, nullable=False),
    Column("comment", Text, nullable=True),
    Column("rated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("score BETWEEN 1 AND 5", name="ratings_score"),
)

INTAKE_TABLES = [
    dossiers,
    dossier_sequences,
    dossier_history,
    dossier_refused_updates,
    attachments,
    idempotency_keys,
    drafts,
    supplement_requests,
    ratings,
]

# --- public statistics: a read model fed by events (rules in ``domain.statistics``) ---------

# What the statistics know of each dossier (not a foreign key: an event may name a dossier
# before, or without, its row here).
stats_dossiers = Table(
    "stats_dossiers",
    metadata,
    Column("dossier_id", Text, primary_key=True),
    Column("agency_code", Text, nullable=True),
    Column("origin", Text, nullable=True),
    Column("received_at", DateTime(timezone=True), nullable=True),
    Column("appointment_date", Date, nullable=True),
    Column("digitised", Boolean, nullable=False, server_default=text("false")),
    Column("published", Boolean, nullable=False, server_default=text("false")),
    Column("processed_at", DateTime(timezone=True), nullable=True),
    Column("paid_at", DateTime(timezone=True), nullable=True),
    Column("rated_at", DateTime(timezone=True), nullable=True),
    Column("rating", SmallInteger, nullable=True),
)

# The sum of every dossier's contribution, per agency, Vietnam calendar day and metric.
stats_daily = Table(
    "stats_daily",
    metadata,
    Column("agency_code", Text, nullable=False),
    Column("day", Date, nullable=False),
    Column("metric", Text, nullable=False),
    Column("value", BigInteger, nullable=False),
    PrimaryKeyConstraint("agency_code", "day", "metric"),
    Index("stats_daily_day", "day", "agency_code"),
)

STATISTICS_TABLES = [stats_dossiers, stats_daily]

# Wrong public lookups counted per key (``code:<dossier code>``, ``addr:<client address or its
# /64>``) in a fixed window: every API process and replica shares the count (service.lookup).
lookup_failures = Table(
    "dossier_lookup_failures",
    metadata,
    Column("key", Text, primary_key=True),
    Column("window_started_at", DateTime(timezone=True), nullable=False),
    Column("failures", Integer, nullable=False),
    Index("dossier_lookup_failures_window", "window_started_at"),
)

LOOKUP_TABLES = [lookup_failures]
