"""Real HTTP servers for tests: an ASGI app served by uvicorn on a loopback port, in a thread
(the helper lives with the local runtime's components, which the benchmark uses too)."""

from deploy.local.components import serve

__all__ = ["serve"]
