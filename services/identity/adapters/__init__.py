"""SQLAlchemy tables, repositories and outbound clients of the identity service."""
