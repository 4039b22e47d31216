"""Pure domain model of the sync service: no FastAPI, SQLAlchemy or Kafka here."""
