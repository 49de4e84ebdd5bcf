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


def _no_delay(writer: asyncio.StreamWriter) -> None:
    """Send small chunks at once (no Nagle): the relay's delay is the only one added."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Copy reader to writer, each chunk `delay` seconds after it arrived: a timer per chunk,
    with no task or queue in between, so the relay's own CPU time per chunk stays small beside
    the nodes' it shares the machine with (bench/scale_out.py)."""
    loop = asyncio.get_running_loop()
    due = 0.0
    try:
        while chunk := await reader.read(65536):
            # Strictly later than the chunk before: timers due at the same time may run in
            # any order, and the stream's bytes must not.
            due = max(loop.time() + delay, due + 1e-6)
            loop.call_at(due, writer.write, chunk)
    except OSError:
        pass
    loop.call_at(max(loop.time() + delay, due + 1e-6), writer.close)


async def _relay(host: str, port: int, delay: float) -> None:
    async def connection(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(host, port)
        except OSError:
            client_w.close()
            return
        for writer in (client_w, server_w):
            _no_delay(writer)
        await asyncio.gather(_pipe(client_r, server_w, delay), _pipe(server_r, client_w, delay))

    listener = await asyncio.start_server(connection, "127.0.0.1", 0)
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
