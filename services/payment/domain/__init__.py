"""Pure domain model of the payment service: no FastAPI, SQLAlchemy or Kafka here."""
