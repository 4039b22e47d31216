"""SQLAlchemy tables, repositories and outbound clients of the catalogue service."""
