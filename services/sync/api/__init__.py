"""HTTP routes of the sync service, served under ``/api/v1/sync``."""
