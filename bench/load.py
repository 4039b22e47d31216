"""The load generator, run as its own process: ``concurrency`` clients in a closed loop over a
list of requests, for a bounded time and number of requests; or, with ``--rate``, an open loop
sending that many requests a second whatever the answers' speed. Writes the latencies by kind
as JSON.

A plan item is ``[kind, path]`` (a GET), ``[kind, path, method, json_body]`` or
``[kind, path, method, fields, "form"]`` (a form-encoded body); ``--headers``
(a JSON object) is sent with every request. Any 2xx answer is a success.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
from pathlib import Path
from typing import Any

import httpx

WARM_UP_SECONDS = 2.0


async def _send(client: httpx.AsyncClient, item: list[Any]) -> bool:
    method = item[2] if len(item) > 2 else "GET"
    body = item[3] if len(item) > 3 else None
    as_form = len(item) > 4 and item[4] == "form"
    try:
        if as_form:
            answer = await client.request(method, item[1], data=body)
        else:
            answer = await client.request(method, item[1], json=body)
    except httpx.HTTPError:
        return False
    return 200 <= answer.status_code < 300


async def drive(
    base: str, plan: list[list[Any]], concurrency: int, seconds: float, max_requests: int,
    headers: dict[str, str] | None = None, rate: float | None = None,
) -> dict:  # fmt: skip
    latencies: dict[str, list[float]] = {item[0]: [] for item in plan}
    errors: dict[str, int] = {item[0]: 0 for item in plan}
    order = itertools.cycle(plan)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=10, headers=headers) as client:
        warm_until = time.monotonic() + WARM_UP_SECONDS
        while time.monotonic() < warm_until:  # connections, caches and plans warm
            await _send(client, next(order))
        started = time.monotonic()
        deadline = started + seconds
        sent = 0

        async def one(item: list[Any]) -> None:
            begin = time.perf_counter()
            if await _send(client, item):
                latencies[item[0]].append((time.perf_counter() - begin) * 1000)
            else:
                errors[item[0]] += 1

        async def one_client() -> None:
            nonlocal sent
            while time.monotonic() < deadline and sent < max_requests:
                sent += 1
                await one(next(order))

        if rate is None:
            await asyncio.gather(*(one_client() for _ in range(concurrency)))
        else:  # open loop: a request every 1/rate seconds, each on its own
            tasks = []
            while time.monotonic() < deadline and sent < max_requests:
                tasks.append(asyncio.create_task(one(next(order))))
                sent += 1
                await asyncio.sleep(max(0.0, started + sent / rate - time.monotonic()))
            await asyncio.gather(*tasks)
        elapsed = time.monotonic() - started
    return {"seconds": elapsed, "latencies_ms": latencies, "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--plan", type=Path, required=True)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--max-requests", type=int, default=20_000)
    parser.add_argument("--headers", type=json.loads, default=None)
    parser.add_argument("--rate", type=float, default=None, help="requests a second (open loop)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    plan = json.loads(args.plan.read_text())
    result = asyncio.run(drive(args.base, plan, args.concurrency, args.seconds, args.max_requests, args.headers,
                               args.rate))  # fmt: skip
    args.out.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
