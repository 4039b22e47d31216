"""The command line every service has: ``python -m services.<name> <command>``.

api           serve the HTTP API (uvicorn; --metrics-port: /metrics on that internal port)
worker        run the outbox relay, the consumers and the periodic jobs (--only: some of them;
              --metrics-port: /metrics, /healthz and /readyz on that port)
migrate       apply the Alembic migrations
seed          load development fixtures (refused in production)
replay        mark published events unpublished again, to refill an emptied broker
dead-letters  list the service's dead letters, or retry them (their events consumed again)
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, TypeVar

from .app import ServiceSpec
from .db import Database
from .deadletters import add_dead_letter_arguments, run_dead_letters
from .http import serve_factory
from .logging import configure_logging
from .migrations import upgrade
from .outbox import replay
from .settings import Environment, ServiceSettings
from .worker import PARTS, run_worker

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
    api.add_argument("--metrics-port", type=int, default=0,
                     help="serve /metrics on this internal port (0: off; never on the API's own port)")  # fmt: skip
    worker = sub.add_parser("worker", help="run the outbox relay, consumers and periodic jobs")
    worker.add_argument("--metrics-port", type=int, default=0,
                        help="serve /metrics, /healthz and /readyz on this port (0: off)")  # fmt: skip
    worker.add_argument("--only", type=_parts, action="append", metavar="PART[,PART]",
                        help=f"run only these parts ({', '.join(PARTS)}); repeatable; default: all")  # fmt: skip
    sub.add_parser("migrate", help="apply migrations")
    sub.add_parser("seed", help="load development fixtures")
    rep = sub.add_parser("replay", help="publish already published events again")
    rep.add_argument("--since", type=_aware, required=True, help="ISO time; events created at or after it")
    rep.add_argument("--until", type=_aware, help="ISO time; events created before it")
    rep.add_argument("--topic", help="only this topic")
    add_dead_letter_arguments(sub.add_parser("dead-letters", help="list or retry the service's dead letters"))
    for command in spec.commands:
        command.add_arguments(sub.add_parser(command.name, help=command.help))
    args = parser.parse_args(argv)

    settings = spec.load_settings()
    extra = {c.name: c for c in spec.commands}
    if args.command in extra:
        return asyncio.run(_with_db(spec, settings, lambda db, s: extra[args.command].run(db, s, args)))
    if args.command == "api":
        if args.metrics_port and args.workers > 1:
            parser.error("--metrics-port serves one process's metrics: use it with one worker (a pod per process)")
        serve_factory(f"services.{spec.name}.app:create_app", host=settings.host, port=settings.port,
                      workers=args.workers, metrics_port=args.metrics_port or None,
                      name=f"{spec.name}-api")  # fmt: skip
    elif args.command == "worker":
        parts = [part for chosen in args.only or [list(PARTS)] for part in chosen]
        run_fast(run_worker(spec, settings, metrics_port=args.metrics_port or None, parts=dict.fromkeys(parts)))
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
    elif args.command == "dead-letters":
        # Its logs go to stderr, as every process's do: stdout is the JSON it prints.
        configure_logging(f"{spec.name}-dead-letters", settings.log_level, settings.log_json)
        return asyncio.run(_with_db(spec, settings, lambda db, s: run_dead_letters(db, s, args)))
    return 0


def _parts(value: str) -> list[str]:
    """``relay``, ``consumers,jobs``...: the worker's parts named in one ``--only``."""
    parts = [part.strip() for part in value.split(",") if part.strip()]
    unknown = [part for part in parts if part not in PARTS]
    if unknown or not parts:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(PARTS)} (not {', '.join(unknown) or 'nothing'})")
    return parts


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


async def _with_db(
    spec: ServiceSpec, settings: ServiceSettings, action: Callable[[Database, ServiceSettings], Awaitable[T]]
) -> T:
    db = Database(
        settings.database_url.get_secret_value(),
        source=spec.name,
        topic=settings.topic,
        pool_size=2,
        unit_of_work=spec.unit_of_work,
    )
    try:
        return await action(db, settings)
    finally:
        await db.dispose()
