"""Event contracts shared by every service: the CloudEvents envelope and one pydantic
model per event type. Their JSON Schemas are exported to ``contracts/schemas/``."""
