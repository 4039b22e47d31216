"""Pure domain model of the dossier service: no FastAPI, SQLAlchemy or Kafka here."""
