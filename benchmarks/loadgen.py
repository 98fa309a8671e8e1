"""A small HTTP/1.1 load generator on asyncio streams: open loop at a fixed rate, or closed loop.

On a 2-core machine the load generator shares the CPU with the server under test, and Python HTTP
clients (httpx, aiohttp) spend more CPU per request than a lean server does; raw streams with a
pre-built request keep the generator's share small. In the open loop, latency is counted from the
moment a request was due, not from when it was sent, so a server that falls behind cannot hide its
queue (no coordinated omission).

    python benchmarks/loadgen.py http://127.0.0.1:8000/traces --rate 333 --duration 30 \\
        --body body.json --header "X-API-Key: ..." --unique 00000000-0000-4000-8000-000000000000

prints one JSON object: counts, statuses, throughput, latency percentiles and its own CPU time.
"""

import argparse
import asyncio
import json
import resource
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import percentile  # noqa: E402

BACKLOG_S = 5
DRAIN_S = 10


@dataclass
class Target:
    host: str
    port: int
    head: bytes  # request line and headers, up to the blank line
    body: bytes
    unique: bytes | None = None  # replaced in the body by a new UUID on every request

    def request(self) -> bytes:
        body = self.body.replace(self.unique, str(uuid.uuid4()).encode(), 1) if self.unique else self.body
        return self.head + body


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    late: int = 0
    unfinished: int = 0  # still waiting DRAIN_S after the last send; counted with a lower-bound latency
    overloaded: bool = False  # sending stopped early: BACKLOG_S of requests were waiting


class Pool:
    """Keep-alive connections; one is closed when the server says `Connection: close` (gunicorn sync)."""

    def __init__(self, target: Target, limit: int):
        self.target = target
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.slots = asyncio.Semaphore(limit)

    async def send(self, payload: bytes) -> int:
        async with self.slots:
            reused = bool(self.idle)
            try:
                return await self._exchange(payload)
            except (asyncio.IncompleteReadError, ConnectionError):
                if not reused:
                    raise
                return await self._exchange(payload)  # the server had closed an idle connection

    async def _exchange(self, payload: bytes) -> int:
        if self.idle:
            reader, writer = self.idle.pop()
        else:
            reader, writer = await asyncio.open_connection(self.target.host, self.target.port)
        try:
            writer.write(payload)
            head = await reader.readuntil(b"\r\n\r\n")
            length, keep = _content_length_and_keep_alive(head)
            await reader.readexactly(length)
        except BaseException:
            writer.close()
            raise
        if keep:
            self.idle.append((reader, writer))
        else:
            writer.close()
        return int(head[9:12])


def _content_length_and_keep_alive(head: bytes) -> tuple[int, bool]:
    length, keep = 0, True
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection" and value.strip().lower() == b"close":
            keep = False
    return length, keep


async def _one(pool: Pool, tally: Tally, since: float) -> None:
    try:
        status = await pool.send(pool.target.request())
    except asyncio.CancelledError:
        tally.unfinished += 1
        tally.latencies.append((time.perf_counter() - since) * 1000)
        raise
    except Exception as exc:  # a benchmark counts failures instead of stopping at the first
        tally.errors[type(exc).__name__] += 1
        return
    tally.statuses[status] += 1
    tally.latencies.append((time.perf_counter() - since) * 1000)


async def open_loop(target: Target, *, rate: float, duration: float, connections: int) -> tuple[Tally, float]:
    """Send `rate` requests a second for `duration` seconds, whatever the server's pace (but stop
    early once BACKLOG_S seconds' worth of requests are waiting: the server cannot keep up)."""
    pool, tally, waiting = Pool(target, connections), Tally(), set()
    start = time.perf_counter()
    for i in range(int(rate * duration)):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -0.01:
            tally.late += 1
        if len(waiting) > rate * BACKLOG_S:
            tally.overloaded = True
            break
        task = asyncio.create_task(_one(pool, tally, due))
        waiting.add(task)
        task.add_done_callback(waiting.discard)
    if waiting:
        _, unfinished = await asyncio.wait(set(waiting), timeout=DRAIN_S)
        for task in unfinished:
            task.cancel()
        await asyncio.gather(*unfinished, return_exceptions=True)
    return tally, time.perf_counter() - start


async def closed_loop(target: Target, *, connections: int, duration: float) -> tuple[Tally, float]:
    """`connections` clients, each sending its next request as soon as the last is answered."""
    pool, tally = Pool(target, connections), Tally()
    start = time.perf_counter()
    end = start + duration

    async def client():
        while time.perf_counter() < end:
            await _one(pool, tally, time.perf_counter())

    await asyncio.gather(*(client() for _ in range(connections)))
    return tally, time.perf_counter() - start


def target_from(url: str, *, method: str, headers: list[str], body: bytes, unique: str | None) -> Target:
    parts = urlparse(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"{method} {path or '/'} HTTP/1.1", f"Host: {parts.hostname}:{parts.port}", *headers]
    if body:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode()
    return Target(parts.hostname, parts.port or 80, head, body, unique.encode() if unique else None)


def summary(tally: Tally, elapsed: float, cpu_seconds: float, *, offered_rate: float | None) -> dict:
    ok = sum(n for status, n in tally.statuses.items() if 200 <= status < 300)
    return {
        "offered_rate": offered_rate,
        "elapsed_s": round(elapsed, 3),
        "completed": sum(tally.statuses.values()),
        "ok": ok,
        "throughput": round(ok / elapsed, 1) if elapsed else 0.0,
        "statuses": {str(k): v for k, v in tally.statuses.items()},
        "errors": dict(tally.errors),
        "late_sends": tally.late,
        "unfinished": tally.unfinished,
        "overloaded": tally.overloaded,
        "latency_ms": {
            f"p{q}": round(percentile(tally.latencies, q), 2) if tally.latencies else None
            for q in (50, 90, 99)
        }
        | {"max": round(max(tally.latencies), 2) if tally.latencies else None},
        "cpu_s": round(cpu_seconds, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("url")
    parser.add_argument("--method", default="POST")
    parser.add_argument("--body", type=Path, help="File with the request body")
    parser.add_argument("--header", action="append", default=[], help='"Name: value", repeatable')
    parser.add_argument("--unique", help="Text of the body replaced by a new UUID in every request")
    parser.add_argument("--rate", type=float, help="Open loop at this many requests/s (else closed loop)")
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument(
        "--connections", type=int, default=256, help="Open loop: at most; closed loop: exactly"
    )
    args = parser.parse_args()
    body = args.body.read_bytes() if args.body else b""
    target = target_from(args.url, method=args.method, headers=args.header, body=body, unique=args.unique)
    cpu_before = _cpu()
    if args.rate:
        run = open_loop(target, rate=args.rate, duration=args.duration, connections=args.connections)
    else:
        run = closed_loop(target, connections=args.connections, duration=args.duration)
    tally, elapsed = asyncio.run(run)
    print(json.dumps(summary(tally, elapsed, _cpu() - cpu_before, offered_rate=args.rate)))


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    main()
