"""Use cases of the payment service; each takes a unit of work and never commits."""
