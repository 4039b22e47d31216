"""HTTP routes of the identity service, served under ``/api/v1/identity``."""
