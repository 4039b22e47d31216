"""Use cases of the dossier service; each takes a unit of work and never commits."""
