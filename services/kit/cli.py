"""The command line every service has: ``python -m services.<name> <command>``.

api       serve the HTTP API (uvicorn)
worker    run the outbox relay and the consumers
migrate   apply the Alembic migrations
seed      load development fixtures (refused in production)
replay    mark published events unpublished again, to refill an emptied broker
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any, TypeVar

from .app import ServiceSpec
from .db import Database
from .http import serve_factory
from .migrations import upgrade
from .outbox import replay
from .settings import Environment

T = TypeVar("T")


def _aware(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def main(spec: ServiceSpec, argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=f"python -m services.{spec.name}",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    api = sub.add_parser("api", help="serve the HTTP API")
    api.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    worker = sub.add_parser("worker", help="run the outbox relay and consumers")
    worker.add_argument("--metrics-port", type=int, default=0, help="serve /metrics on this port (0: off)")
    sub.add_parser("migrate", help="apply migrations")
    sub.add_parser("seed", help="load development fixtures")
    rep = sub.add_parser("replay", help="publish already published events again")
    rep.add_argument("--since", type=_aware, required=True, help="ISO time; events created at or after it")
    rep.add_argument("--until", type=_aware, help="ISO time; events created before it")
    rep.add_argument("--topic", help="only this topic")
    for command in spec.commands:
        command.add_arguments(sub.add_parser(command.name, help=command.help))
    args = parser.parse_args(argv)

    settings = spec.load_settings()
    extra = {c.name: c for c in spec.commands}
    if args.command in extra:
        return asyncio.run(_with_db(spec, settings, lambda db, s: extra[args.command].run(db, s, args)))
    if args.command == "api":
        serve_factory(f"services.{spec.name}.app:create_app", host=settings.host, port=settings.port,
                      workers=args.workers)  # fmt: skip
    elif args.command == "worker":
        from .worker import run_worker

        run_fast(run_worker(spec, settings, metrics_port=args.metrics_port or None))
    elif args.command == "migrate":
        upgrade(spec.migrations, settings.database_url.get_secret_value())
    elif args.command == "seed":
        if settings.environment is Environment.PRODUCTION:
            parser.error("development fixtures are refused in production")
        if spec.seed is not None:
            asyncio.run(_with_db(spec, settings, spec.seed))
    elif args.command == "replay":
        count = asyncio.run(
            _with_db(spec, settings, lambda db, _s: replay(db, since=args.since, until=args.until, topic=args.topic))
        )
        print(f"{count} events marked for publishing again")
    return 0


def run_fast(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` on uvloop, the loop uvicorn gives the APIs (the worker's relay and consumers
    spend much of their time in socket I/O, which it does in C), or on asyncio's where uvloop is
    not available."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - installed with uvicorn[standard] on every supported platform
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


async def _with_db(spec, settings, action):  # type: ignore[no-untyped-def]
    db = Database(settings.database_url.get_secret_value(), source=spec.name, topic=settings.topic, pool_size=2)
    try:
        return await action(db, settings)
    finally:
        await db.dispose()
