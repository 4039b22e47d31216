"""The load generator's connections: one the server closed while it sat idle is opened again,
not written to (that was a failed request in the open-loop phase, counted against the portal)."""

from __future__ import annotations

import asyncio

from bench.load import Connection

ANSWER = b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n"


async def test_a_connection_the_server_closed_when_idle_is_opened_again() -> None:
    accepted = 0

    async def answer_once_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.write(ANSWER)
        await writer.drain()
        writer.close()  # as a server whose keep-alive ran out, without saying so in the answer

    server = await asyncio.start_server(answer_once_then_close, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    connection = Connection("127.0.0.1", port)
    request = b"GET / HTTP/1.1\r\nhost: x\r\n\r\n"
    try:
        for _ in range(3):
            assert await asyncio.wait_for(connection.exchange(request), 5) == 204
            await asyncio.sleep(0.1)  # the server's close reaches the client
        assert accepted == 3
    finally:
        connection.close()
        server.close()
        await server.wait_closed()
