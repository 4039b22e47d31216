"""``python -m gateway [--workers N]``: serve the gateway with uvicorn.

Each worker is its own process with its own connection pool and rate-limit buckets.
"""

from __future__ import annotations

import argparse

from services.kit.http import serve_factory

from .settings import GatewaySettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway", description=__doc__)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    settings = GatewaySettings()
    serve_factory(
        "gateway.app:create_app", host=settings.host, port=settings.port, workers=args.workers,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
