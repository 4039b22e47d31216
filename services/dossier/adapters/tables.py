"""Tables of the dossier service database (the kit adds its outbox and inbox).

The ``catalogue_*`` tables are this service's read model of the procedure catalogue, fed only
by ``catalogue.events`` (the rules are in ``domain.catalogue_view``): the online services it
takes dossiers for, every published version of each (a dossier refers to the version it was
filed under) and the procedures. ``revision`` is the catalogue's counter of the aggregate as of
the event that set the row.
"""

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

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
