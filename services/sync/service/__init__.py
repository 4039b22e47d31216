"""Use cases of the sync service; each takes a unit of work and never commits."""
