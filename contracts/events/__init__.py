"""Event data models, one per event type. Register each in :mod:`contracts.registry`."""
