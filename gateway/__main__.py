"""``python -m gateway [--workers N] [--metrics-port P]``: serve the gateway with uvicorn.

Each worker is its own process with its own connection pool and rate-limit buckets. Metrics are
served on the internal ``--metrics-port`` only, never on the public port (one worker then).
"""

from __future__ import annotations

import argparse

from services.kit.http import serve_factory

from .settings import GatewaySettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway", description=__doc__)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--metrics-port", type=int, default=0, help="serve /metrics on this internal port (0: off)")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.metrics_port and args.workers > 1:
        parser.error("--metrics-port serves one process's metrics: use it with one worker")
    settings = GatewaySettings()
    serve_factory(
        "gateway.app:create_app", host=settings.host, port=settings.port, workers=args.workers,
        forwarded_allow_ips=settings.forwarded_allow_ips, metrics_port=args.metrics_port or None, name="gateway",
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
