"""HTTP routes of the dossier service, served under ``/api/v1/dossier``."""
