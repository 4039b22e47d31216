"""Tables of the payment service database (the kit adds its outbox and inbox).

Money is ``BigInteger`` VND everywhere: no floats, no decimals, no minor units (VNPay's ×100 is
computed at its border only).
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
    LargeBinary,
    MetaData,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from contracts.assurance import ACR_LEVELS
from services.kit.idempotency import idempotency_table

metadata = MetaData()

# What the dossier service assessed (dossier.fees.assessed.v1): the only source of an amount.
assessments = Table(
    "assessments",
    metadata,
    Column("dossier_id", UUID(as_uuid=False), primary_key=True),
    Column("dossier_code", Text, nullable=False),
    Column("owner", Text, nullable=False),
    Column("agency_code", Text, nullable=False),
    Column("lines", JSONB, nullable=False),
    Column("total", BigInteger, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # The level of assurance the dossier's online service requires (an acr value, contracts.assurance).
    Column("required_acr", Text, nullable=False, server_default=ACR_LEVELS[0]),
    CheckConstraint("total >= 0", name="assessments_total"),
)

orders = Table(
    "orders",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("reference", Text, nullable=False, unique=True),  # what every protocol carries
    Column("dossier_id", UUID(as_uuid=False), ForeignKey("assessments.dossier_id"), nullable=False),
    Column("dossier_code", Text, nullable=False),
    Column("owner", Text, nullable=False),
    Column("provider", Text, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("state", Text, nullable=False),
    Column("provider_transaction", Text, nullable=True),
    Column("flag", Text, nullable=True),  # for review: amount-mismatch, late-success, ...
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("paid_at", DateTime(timezone=True), nullable=True),
    # When the payer was told the order expires soon (payment.order.expiring.v1): at most once.
    Column("expiry_warned_at", DateTime(timezone=True), nullable=True),
    CheckConstraint("amount > 0", name="orders_amount"),
    CheckConstraint(
        "state IN ('created', 'pending', 'succeeded', 'failed', 'expired', 'cancelled', 'refunded')",
        name="orders_state",
    ),
    Index("orders_dossier", "dossier_id"),
    Index("orders_pending_expiry", "expires_at", postgresql_where=text("state IN ('created', 'pending')")),
    # At most one order of a dossier may be open or paid at a time.
    Index(
        "orders_one_live_per_dossier",
        "dossier_id",
        unique=True,
        postgresql_where=text("state IN ('created', 'pending', 'succeeded')"),
    ),
)

order_transitions = Table(
    "order_transitions",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("order_id", UUID(as_uuid=False), ForeignKey("orders.id"), nullable=False),
    Column("previous", Text, nullable=True),
    Column("state", Text, nullable=False),
    Column("source", Text, nullable=False),  # owner | callback | expiry | reconciliation | operator
    Column("detail", Text, nullable=True),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("order_transitions_order", "order_id", "id"),
)

reference_sequences = Table(
    "reference_sequences",
    metadata,
    Column("day", Date, primary_key=True),
    Column("last_value", Integer, nullable=False),
)

# Every callback as it arrived (secrets redacted), append-only, with what was made of it.
callbacks = Table(
    "callbacks",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("provider", Text, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("remote_addr", Text, nullable=True),
    Column("method", Text, nullable=False),
    Column("query", Text, nullable=True),
    Column("headers", JSONB, nullable=False),
    Column("body", Text, nullable=True),
    Column("verified", Boolean, nullable=False),
    Column("order_reference", Text, nullable=True),
    Column("outcome", Text, nullable=False),
    Index("callbacks_reference", "order_reference"),
)

idempotency_keys = idempotency_table(metadata, "orders.id")

receipts = Table(
    "receipts",
    metadata,
    Column("order_id", UUID(as_uuid=False), ForeignKey("orders.id"), primary_key=True),
    Column("number", Text, nullable=False, unique=True),
    Column("jws", Text, nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
)

# The keys that sign receipts; their public halves are the JWKS anyone verifies receipts with.
receipt_keys = Table(
    "receipt_keys",
    metadata,
    Column("kid", Text, primary_key=True),
    Column("private_key", LargeBinary, nullable=False),  # PEM, encrypted at rest
    Column("public_jwk", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

PAYMENT_TABLES = [
    assessments,
    orders,
    order_transitions,
    reference_sequences,
    callbacks,
    idempotency_keys,
    receipts,
    receipt_keys,
]
