"""Event type -> use case, for the events the identity service consumes."""

from services.kit.consumer import Handler

HANDLERS: dict[str, Handler] = {}
