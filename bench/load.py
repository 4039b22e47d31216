"""The load generator, run as its own process: ``concurrency`` clients in a closed loop over
a list of (kind, path) requests, for a bounded time and number of requests. Writes the
latencies by kind as JSON."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
from pathlib import Path

import httpx

WARM_UP_SECONDS = 2.0


async def drive(base: str, plan: list[tuple[str, str]], concurrency: int, seconds: float, max_requests: int) -> dict:
    latencies: dict[str, list[float]] = {kind: [] for kind, _ in plan}
    errors: dict[str, int] = {kind: 0 for kind, _ in plan}
    order = itertools.cycle(plan)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=10) as client:
        warm_until = time.monotonic() + WARM_UP_SECONDS
        while time.monotonic() < warm_until:  # connections, caches and plans warm
            await client.get(next(order)[1])
        started = time.monotonic()
        deadline = started + seconds
        sent = 0

        async def one_client() -> None:
            nonlocal sent
            while time.monotonic() < deadline and sent < max_requests:
                sent += 1
                kind, path = next(order)
                begin = time.perf_counter()
                try:
                    answer = await client.get(path)
                    ok = answer.status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    latencies[kind].append((time.perf_counter() - begin) * 1000)
                else:
                    errors[kind] += 1

        await asyncio.gather(*(one_client() for _ in range(concurrency)))
        elapsed = time.monotonic() - started
    return {"seconds": elapsed, "latencies_ms": latencies, "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--plan", type=Path, required=True)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--max-requests", type=int, default=20_000)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    plan = [tuple(item) for item in json.loads(args.plan.read_text())]
    result = asyncio.run(drive(args.base, plan, args.concurrency, args.seconds, args.max_requests))  # type: ignore[arg-type]
    args.out.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
