"""A TCP relay that delays every chunk by a fixed time in each direction, as a network would.

bench/scale_out.py puts it between the verifier nodes and PostgreSQL, so each database round
trip costs twice the delay and nodes are bound by round trips, as across a real network, rather
than by the CPU of the machine the bench runs on. Delivery is pipelined: a chunk is written
`delay` after it was read whatever else is in flight, in order, with no bandwidth limit.

    .venv/bin/python -m bench.latency_relay TARGET_HOST TARGET_PORT --delay-ms 2

prints `relay on 127.0.0.1:PORT` once it listens, then relays until it is terminated.
"""

import argparse
import asyncio
import socket


class _Side(asyncio.Protocol):
    """One end of a relayed connection: each chunk it receives is written to the other end
    `delay` seconds later. A protocol and a timer per chunk, with no stream, task or queue in
    between, so the relay's own CPU time per chunk stays small beside the nodes' it shares the
    machine with (bench/scale_out.py)."""

    def __init__(self, delay: float) -> None:
        self.delay, self.due = delay, 0.0
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.other: _Side | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        # Send small chunks at once (no Nagle): the relay's delay is the only one added.
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        assert self.other is not None and self.other.transport is not None
        self.loop.call_at(self._next_due(), self.other.transport.write, data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.other is not None and self.other.transport is not None:
            self.loop.call_at(self._next_due(), self.other.transport.close)

    def _next_due(self) -> float:
        """`delay` from now, and strictly later than the chunk before: timers due at the same
        time may run in any order, and the stream's bytes must not."""
        self.due = max(self.loop.time() + self.delay, self.due + 1e-6)
        return self.due


class _ClientSide(_Side):
    """The end a node connects to; it opens the other end, to the target, and reads nothing
    until that is open."""

    def __init__(self, delay: float, host: str, port: int) -> None:
        super().__init__(delay)
        self.host, self.port = host, port

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        assert self.transport is not None
        self.transport.pause_reading()
        self.loop.create_task(self._connect())

    async def _connect(self) -> None:
        assert self.transport is not None
        target = _Side(self.delay)
        self.other, target.other = target, self
        try:
            await self.loop.create_connection(lambda: target, self.host, self.port)
        except OSError:
            self.transport.close()
            return
        self.transport.resume_reading()


async def _relay(host: str, port: int, delay: float) -> None:
    loop = asyncio.get_running_loop()
    listener = await loop.create_server(lambda: _ClientSide(delay, host, port), "127.0.0.1", 0)
    print(f"relay on 127.0.0.1:{listener.sockets[0].getsockname()[1]}", flush=True)
    async with listener:
        await listener.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--delay-ms", type=float, default=2.0, help="added in each direction")
    args = parser.parse_args()
    asyncio.run(_relay(args.host, args.port, args.delay_ms / 1000))


if __name__ == "__main__":
    main()
