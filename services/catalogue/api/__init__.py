"""HTTP routes of the catalogue service, served under ``/api/v1/catalogue``."""
