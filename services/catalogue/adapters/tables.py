"""Tables of the catalogue service database (the kit adds its outbox and inbox).

Search documents (``service_search``, ``procedure_search``) are denormalised copies kept by
the service layer: one row per published online service / active procedure holding the
filter columns and the normalised text (lower(unaccent(...))), so a search reads one table
through its GIN indexes.
"""

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR, UUID

from contracts.assurance import ACR_LEVELS

metadata = MetaData()

agencies = Table(
    "agencies",
    metadata,
    Column("code", Text, primary_key=True),  # mã định danh, e.g. 000.00.01.H22
    Column("name", Text, nullable=False),
    Column("level", Text, nullable=False),
    Column("parent_code", Text, ForeignKey("agencies.code"), nullable=True),
    Column("province_code", Text, nullable=True),  # the provincial unit it belongs to (H22)
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("level IN ('ministry', 'province', 'department', 'commune')", name="agencies_level"),
    Index("agencies_parent", "parent_code"),
    Index("agencies_province", "province_code"),
)

sectors = Table(
    "sectors",
    metadata,
    Column("code", Text, primary_key=True),
    Column("name", Text, nullable=False),
)

procedures = Table(
    "procedures",
    metadata,
    Column("code", Text, primary_key=True),  # e.g. 1.001234
    Column("name", Text, nullable=False),
    Column("sector_code", Text, ForeignKey("sectors.code"), nullable=False),
    Column("level", Text, nullable=False),
    Column("steps", JSONB, nullable=False),
    Column("documents", JSONB, nullable=False),  # [{name, copies, template}]
    Column("processing_days", Integer, nullable=False),
    Column("fees", JSONB, nullable=False),  # [{name, amount, condition}]
    Column("legal_basis", JSONB, nullable=False),
    Column("results", JSONB, nullable=False),
    Column("status", Text, nullable=False),
    # Grows with every change published as an event, so consumers can ignore stale ones.
    Column("revision", Integer, nullable=False, server_default="1"),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("level IN ('central', 'province', 'commune')", name="procedures_level"),
    CheckConstraint("status IN ('active', 'retired')", name="procedures_status"),
    CheckConstraint("processing_days >= 0", name="procedures_processing_days"),
)

procedure_faqs = Table(
    "procedure_faqs",
    metadata,
    Column("procedure_code", Text, ForeignKey("procedures.code", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("question", Text, nullable=False),
    Column("answer", Text, nullable=False),
)

online_services = Table(
    "online_services",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("procedure_code", Text, ForeignKey("procedures.code"), nullable=False),
    Column("agency_code", Text, ForeignKey("agencies.code"), nullable=False),
    Column("status", Text, nullable=False),
    Column("published_version", Integer, nullable=True),
    Column("revision", Integer, nullable=False, server_default="1"),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("status IN ('draft', 'published', 'retired')", name="online_services_status"),
    Index("online_services_procedure", "procedure_code"),
    Index("online_services_agency", "agency_code"),
)

online_service_versions = Table(
    "online_service_versions",
    metadata,
    Column("service_id", UUID(as_uuid=False), ForeignKey("online_services.id"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("online_level", Text, nullable=False),
    Column("form_schema", JSONB, nullable=False),
    Column("fees", JSONB, nullable=False),
    Column("processing_days", Integer, nullable=False),
    Column("routing_target", Text, nullable=False),  # the agency system dossiers go to
    Column("published_at", DateTime(timezone=True), nullable=True),  # NULL: the draft being edited
    # The level of assurance a dossier's applicant signs in at (an acr value, contracts.assurance).
    Column("required_acr", Text, nullable=False, server_default=ACR_LEVELS[0]),
    CheckConstraint("online_level IN ('full', 'partial')", name="online_service_versions_level"),
    CheckConstraint(f"required_acr IN {ACR_LEVELS!r}", name="online_service_versions_required_acr"),
    CheckConstraint("version >= 1", name="online_service_versions_version"),
)

# Who changed what in the catalogue (append-only): editors, imports and the fixtures.
catalogue_audit = Table(
    "catalogue_audit",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("actor", Text, nullable=False),  # account id or client id (never a personal identifier)
    Column("action", Text, nullable=False),  # e.g. service.draft.created, procedure.updated
    Column("entity", Text, nullable=False),  # procedure:<code>, service:<id>, agency:<code>
    Column("changes", JSONB, nullable=False),  # the fields set, with their new values
    Column("request_id", Text, nullable=True),
    Index("catalogue_audit_entity", "entity", "id"),
)

service_search = Table(
    "service_search",
    metadata,
    Column("service_id", UUID(as_uuid=False), primary_key=True),
    Column("procedure_code", Text, nullable=False),
    Column("agency_code", Text, nullable=False),
    Column("province_code", Text, nullable=True),
    Column("sector_code", Text, nullable=False),
    Column("level", Text, nullable=False),
    Column("online_level", Text, nullable=False),
    Column("title", Text, nullable=False),  # normalised procedure name
    Column("document", Text, nullable=False),  # normalised procedure + agency names
    Column("tsv", TSVECTOR, nullable=False),  # of the document
    Column("agency_tsv", TSVECTOR, nullable=False),  # of the agency name alone
    ForeignKeyConstraint(["service_id"], ["online_services.id"], ondelete="CASCADE"),
    Index("service_search_tsv", "tsv", postgresql_using="gin"),
    Index("service_search_agency_tsv", "agency_tsv", postgresql_using="gin"),
    # Services of one procedure in id order (optionally of one agency or province): a search
    # walks the ranked procedures and reads their services from these, stopping at a page.
    Index("service_search_procedure", "procedure_code", "service_id"),
    Index("service_search_agency_procedure", "agency_code", "procedure_code", "service_id"),
    Index("service_search_province_procedure", "province_code", "procedure_code", "service_id"),
    Index("service_search_sector", "sector_code"),
)

procedure_search = Table(
    "procedure_search",
    metadata,
    Column("procedure_code", Text, ForeignKey("procedures.code", ondelete="CASCADE"), primary_key=True),
    Column("sector_code", Text, nullable=False),
    Column("level", Text, nullable=False),
    Column("title", Text, nullable=False),  # normalised procedure name
    Column("document", Text, nullable=False),  # normalised procedure + sector names
    Column("tsv", TSVECTOR, nullable=False),  # of the document: procedure search
    Column("title_tsv", TSVECTOR, nullable=False),  # of the name alone: service search
    Index("procedure_search_tsv", "tsv", postgresql_using="gin"),
    Index("procedure_search_title_tsv", "title_tsv", postgresql_using="gin"),
    # Typo tolerance when the words find nothing: trigrams of the names (thousands, not 100,000s).
    Index("procedure_search_title_trgm", "title", postgresql_using="gin", postgresql_ops={"title": "gin_trgm_ops"}),
)

CATALOGUE_TABLES = [
    agencies,
    sectors,
    procedures,
    procedure_faqs,
    online_services,
    online_service_versions,
    service_search,
    procedure_search,
]
