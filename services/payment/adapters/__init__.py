"""SQLAlchemy tables, repositories and outbound clients of the payment service."""
