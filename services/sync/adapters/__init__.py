"""SQLAlchemy tables, repositories and outbound clients of the sync service."""
