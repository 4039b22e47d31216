"""SQLAlchemy tables, repositories and outbound clients of the dossier service."""
