"""HTTP routes of the payment service, served under ``/api/v1/payment``."""
