"""Event type -> use case, for the events the payment service consumes."""

from services.kit.consumer import Handler

HANDLERS: dict[str, Handler] = {}
