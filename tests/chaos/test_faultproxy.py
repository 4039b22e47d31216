"""The fault proxy itself (``tests.support.faultproxy``), against an echo server on loopback:
it relays, and each toxic does what it says and goes away when removed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.faultproxy import FaultProxy, Toxic, control_app


@pytest.fixture
async def echo() -> AsyncIterator[str]:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    yield f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
    server.close()


@pytest.fixture
async def proxy(echo: str) -> AsyncIterator[FaultProxy]:
    relay = await FaultProxy("echo", echo).start()
    yield relay
    await relay.close()


async def round_trip(port: int, payload: bytes = b"ping", timeout: float = 5.0) -> tuple[bytes, float]:
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(payload)
        await writer.drain()
        got = await asyncio.wait_for(reader.readexactly(len(payload)), timeout)
    finally:
        writer.close()
    return got, time.monotonic() - started


async def test_relays_both_ways(proxy: FaultProxy) -> None:
    got, _ = await round_trip(proxy.port, b"x" * 200_000)
    assert got == b"x" * 200_000


async def test_latency_delays_each_way_and_goes_away(proxy: FaultProxy) -> None:
    proxy.add_toxic(Toxic("slow", "latency", "downstream", {"latency_ms": 150}))
    _, took = await round_trip(proxy.port)
    assert took >= 0.15
    proxy.remove_toxic("slow")
    _, took = await round_trip(proxy.port)
    assert took < 0.15


async def test_timeout_drops_the_bytes_and_the_connection_stays_open(proxy: FaultProxy) -> None:
    proxy.add_toxic(Toxic("cut", "timeout", "both", {"timeout_ms": 0}))
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(b"lost")
    await writer.drain()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader.readexactly(4), 0.3)
    proxy.remove_toxic("cut")
    writer.write(b"next")
    assert await asyncio.wait_for(reader.readexactly(4), 2) == b"next"  # flows again; the first is gone
    writer.close()


async def test_timeout_that_holds_delivers_the_bytes_late(proxy: FaultProxy) -> None:
    proxy.add_toxic(Toxic("cut", "timeout", "both", {"timeout_ms": 0, "hold": 1}))
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(b"held")
    await writer.drain()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader.readexactly(4), 0.3)
    proxy.remove_toxic("cut")
    assert await asyncio.wait_for(reader.readexactly(4), 2) == b"held"  # late, not lost
    writer.close()


async def test_timeout_with_a_time_closes_the_connection(proxy: FaultProxy) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    proxy.add_toxic(Toxic("cut", "timeout", "both", {"timeout_ms": 200}))
    writer.write(b"lost")
    started = time.monotonic()
    assert await asyncio.wait_for(reader.read(10), 3) == b""  # closed, nothing passed
    assert time.monotonic() - started >= 0.15
    writer.close()


async def test_reset_sends_an_rst_to_open_and_new_connections(proxy: FaultProxy) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    proxy.add_toxic(Toxic("rst", "reset", "both", {"timeout_ms": 0}))
    with pytest.raises(ConnectionResetError):
        for _ in range(50):  # the RST may be seen by the read or by a later write
            writer.write(b"x")
            await writer.drain()
            if not await asyncio.wait_for(reader.read(10), 2):
                raise AssertionError("closed with a FIN, not reset")
            await asyncio.sleep(0.02)
    with pytest.raises(ConnectionResetError):
        await round_trip(proxy.port)
    proxy.clear()
    assert (await round_trip(proxy.port))[0] == b"ping"


async def test_bandwidth_limits_the_rate(proxy: FaultProxy) -> None:
    proxy.add_toxic(Toxic("thin", "bandwidth", "downstream", {"rate_kb": 256}))
    got, took = await round_trip(proxy.port, b"y" * 128 * 1024)
    assert len(got) == 128 * 1024
    assert took >= 0.4  # 128 KiB at 256 KiB/s


async def test_the_control_api_makes_proxies_and_toxics(echo: str) -> None:
    app = control_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://control") as api:
        made = (await api.post("/proxies", json={"name": "db", "upstream": echo})).json()
        port = int(made["listen"].rsplit(":", 1)[1])
        toxic = {"name": "slow", "type": "latency", "attributes": {"latency_ms": 120}}
        assert (await api.post("/proxies/db/toxics", json=toxic)).status_code == 201
        assert (await round_trip(port))[1] >= 0.12
        assert (await api.delete("/proxies/db/toxics/slow")).status_code == 204
        assert (await api.post("/proxies", json={"name": "far", "upstream": "10.0.0.1:5432"})).status_code == 400
        bad = {"type": "nonsense"}
        assert (await api.post("/proxies/db/toxics", json=bad)).status_code == 400
        assert (await api.get("/proxies")).json()["db"]["toxics"] == []
