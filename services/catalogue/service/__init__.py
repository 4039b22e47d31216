"""Use cases of the catalogue service; each takes a unit of work and never commits."""
