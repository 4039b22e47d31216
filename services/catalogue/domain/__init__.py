"""Pure domain model of the catalogue service: no FastAPI, SQLAlchemy or Kafka here."""
