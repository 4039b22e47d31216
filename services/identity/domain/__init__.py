"""Pure domain model of the identity service: no FastAPI, SQLAlchemy or Kafka here."""
