"""A lean asyncio load generator for the hot paths: the same jobs against pushlab and the floor.

Each job drives one hot path for a few seconds and divides the server's CPU time
(``GET /api/metrics``, read just before and after) by the units it served. A strategy's row
declares its job (``Strategy.hot_path``: name, load, path); the loads are:

- ``poll``: clients ask ``GET <path>?after=N`` back to back (half of them get the
  room's 5 messages, half nothing new): CPU per request;
- ``wait``: clients hold ``<path>?after=N``; messages are posted at a steady rate;
  each answer and the client's next wait is a delivery: CPU per delivery;
- ``stream``: clients hold ``<path>?after=0`` open while messages are posted at a steady
  rate; each line of the body that starts with the row's ``delivery_line`` is a delivery;
- ``broadcast``: WebSocket clients in one room, one of them sending a frame at a steady
  rate: CPU per delivered frame;
- and the ``post`` job of every run: ``POST .../messages`` one after another into a room
  nobody listens to: CPU per post.

It runs as its own process (``python -m benchmarks.run.hotpaths``), pinned by the runner to
the other core, and prints one JSON object. No Locust and no gevent: this client costs
little, so the server's side is what is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import websockets
from websockets.asyncio.client import connect as ws_connect

from strategies import STRATEGIES
from strategies.base import HotPath

HOT_PATHS = {s.hot_path.job: s.hot_path for s in STRATEGIES.values() if s.hot_path}
"""Each strategy's own job, by name, as its registry row declares it."""
POST = HotPath(job="post", load="poll", path="/api/rooms/{room}/messages")
JOBS = (*HOT_PATHS, "post")
UNITS = {**{job: hot_path.unit for job, hot_path in HOT_PATHS.items()}, "post": "post"}
POLL_CLIENTS = 20
POLL_BACKLOG = 5
WAIT_CLIENTS = 50
WAIT_POSTS_PER_S = 10.0
BROADCAST_CLIENTS = 100
BROADCAST_FRAMES_PER_S = 20.0
SETTLE_S = 0.5
"""After a job closes its clients: the server's clean-up of them stays out of the next job."""
POST_SESSIONS = 20
POSTS_PER_SESSION = 9
"""Under the site's rate limit (a burst of 10 per client)."""


class HttpError(RuntimeError):
    pass


class EmptyAnswer(ConnectionError):
    """The server closed a kept-alive connection before answering."""


@dataclass
class HttpClient:
    """One keep-alive HTTP/1.1 connection with its own cookies, like one browser tab."""

    host: str
    port: int
    cookies: dict[str, str] = field(default_factory=dict)
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, body: bytes = b"", timeout: float = 60.0
    ) -> tuple[int, bytes]:
        """One request; on a kept connection the server closed meanwhile, once more on a new one."""
        reused = self.writer is not None and not self.writer.is_closing()
        try:
            return await self.request_once(method, path, body, timeout)
        except (ConnectionError, asyncio.IncompleteReadError, EmptyAnswer):
            if not reused:
                raise
            self.close()
            return await self.request_once(method, path, body, timeout)

    async def request_once(
        self, method: str, path: str, body: bytes, timeout: float
    ) -> tuple[int, bytes]:
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        headers = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        if self.cookies:
            headers.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        if "csrftoken" in self.cookies:
            headers.append(f"X-CSRFToken: {self.cookies['csrftoken']}")
        if body:
            headers += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        self.writer.write(("\r\n".join(headers) + "\r\n\r\n").encode() + body)
        return await asyncio.wait_for(self.read_response(self.reader), timeout)

    async def read_response(self, reader: asyncio.StreamReader) -> tuple[int, bytes]:
        status_line = await reader.readline()
        if not status_line:
            raise EmptyAnswer("the server closed the connection")
        status = int(status_line.split()[1])
        length, chunked = None, False
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
            elif name == "set-cookie":
                cookie_name, _, rest = value.partition("=")
                self.cookies[cookie_name] = rest.split(";")[0]
        if chunked:
            body = b""
            while size := int((await reader.readline()).strip() or b"0", 16):
                body += await reader.readexactly(size)
                await reader.readline()
            await reader.readline()
            return status, body
        return status, await reader.readexactly(length or 0)

    async def get_json(self, path: str, timeout: float = 60.0) -> dict[str, Any]:
        status, body = await self.request("GET", path, timeout=timeout)
        if status != 200:
            raise HttpError(f"GET {path} answered {status}: {body[:200]!r}")
        return dict(json.loads(body))

    async def post(self, room: str, text: str) -> None:
        body = json.dumps({"message": text}).encode()
        status, answer = await self.request("POST", f"/api/rooms/{room}/messages", body)
        if status != 201:
            raise HttpError(f"POST answered {status}: {answer[:200]!r}")

    async def join(self, room: str) -> None:
        """Load the room page, as a browser does: the session and CSRF cookies."""
        status, _ = await self.request("GET", f"/chat/{room}/?strategy=websocket")
        if status != 200:
            raise HttpError(f"the room page answered {status}")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


@dataclass
class Job:
    """What one job measured; ``cpu_ms_per_unit`` is the figure that matters."""

    name: str
    seconds: float
    units: int = 0
    cpu_ms: float = 0.0
    errors: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "unit": UNITS[self.name],
            "units": self.units,
            "seconds": round(self.seconds, 2),
            "cpu_ms": round(self.cpu_ms, 2),
            "cpu_ms_per_unit": round(self.cpu_ms / self.units, 4) if self.units else None,
            "units_per_s": round(self.units / self.seconds, 1) if self.seconds else None,
            "errors": self.errors,
        }


class Target:
    """A server under test at ``url`` (pushlab or the floor: they answer the same paths)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.url = url
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.tag = uuid.uuid4().hex[:8]
        self.monitor = HttpClient(self.host, self.port)

    def client(self) -> HttpClient:
        return HttpClient(self.host, self.port)

    def room(self, job: str) -> str:
        return f"hot-{self.tag}-{job}"

    async def cpu_s(self) -> float:
        return float((await self.monitor.get_json("/api/metrics"))["cpu_s"])

    async def measured(self, job: Job, body: Any) -> Job:
        """Run ``body`` for ``job.seconds``; the CPU window is exactly the body's run."""
        before, started = await self.cpu_s(), time.monotonic()
        await body
        job.seconds = time.monotonic() - started
        job.cpu_ms = (await self.cpu_s() - before) * 1000
        return job

    async def sessions(self, room: str, count: int) -> list[HttpClient]:
        clients = [self.client() for _ in range(count)]
        await asyncio.gather(*(client.join(room) for client in clients))
        return clients


async def run_for(seconds: float, loop_body: Any) -> None:
    """Call ``loop_body()`` again and again until ``seconds`` have passed."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await loop_body()


async def poll_job(target: Target, seconds: float, hot_path: HotPath) -> Job:
    room, job = target.room(hot_path.job), Job(hot_path.job, seconds)
    path = hot_path.path.format(room=room)
    (poster,) = await target.sessions(room, 1)
    for number in range(POLL_BACKLOG):
        await poster.post(room, f"backlog {number}")
    clients = [target.client() for _ in range(POLL_CLIENTS)]

    def poller(client: HttpClient, after: int) -> Any:
        async def once() -> None:
            status, _ = await client.request("GET", f"{path}?after={after}")
            job.units += 1
            job.errors += status != 200

        return once

    await asyncio.gather(*(c.get_json(path) for c in clients))
    loops = [run_for(seconds, poller(c, POLL_BACKLOG * (i % 2))) for i, c in enumerate(clients)]
    await target.measured(job, asyncio.gather(*loops))
    for client in [poster, *clients]:
        client.close()
    return job


async def steady_posts(senders: list[HttpClient], room: str, per_s: float, seconds: float) -> int:
    """Post ``per_s`` messages a second for ``seconds``, round-robin over the senders."""
    started, sent = time.monotonic(), 0
    for sender in itertools.cycle(senders):
        due = started + sent / per_s
        if due - started >= seconds:
            return sent
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        await sender.post(room, f"hot {sent}")
        sent += 1
    return sent


async def long_poll_job(target: Target, seconds: float, hot_path: HotPath) -> Job:
    room, job = target.room(hot_path.job), Job(hot_path.job, seconds)
    held = hot_path.path.format(room=room)
    senders = await target.sessions(room, POST_SESSIONS)
    waiters = [target.client() for _ in range(WAIT_CLIENTS)]
    stop = asyncio.Event()

    async def wait_loop(client: HttpClient) -> None:
        after = 0
        while not stop.is_set():
            path = f"{held}?after={after}&timeout=10"
            try:
                answer = await client.get_json(path, timeout=20)
            except (HttpError, OSError, asyncio.IncompleteReadError, TimeoutError):
                job.errors += 1
                await asyncio.sleep(0.1)
                continue
            job.units += len(answer["messages"])
            after = int(answer["last_id"])

    tasks = [asyncio.create_task(wait_loop(client)) for client in waiters]
    await asyncio.sleep(1.0)  # every wait is held before the first post
    units_before = job.units
    await target.measured(job, steady_posts(senders, room, WAIT_POSTS_PER_S, seconds))
    await asyncio.sleep(0.3)  # the last wake-ups arrive (their CPU is in the window already)
    job.units -= units_before
    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for client in [*senders, *waiters]:
        client.close()
    await asyncio.sleep(SETTLE_S)
    return job


async def read_events(
    client: HttpClient, path: str, job: Job, opened: asyncio.Event, delivery_line: str = "data:"
) -> None:
    """Hold one stream (a chunked response) and count its lines that start with
    ``delivery_line``: one per delivered message (an event stream's ``data:``; its
    ``retry:`` and ``: keepalive`` lines are not deliveries)."""
    marker = delivery_line.encode()
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        request = f"GET {path} HTTP/1.1\r\nHost: {client.host}:{client.port}\r\n"
        writer.write((request + "Accept: */*\r\n\r\n").encode())
        status_line = await reader.readline()
        if b" 200 " not in status_line:
            raise HttpError(f"GET {path} answered {status_line!r}")
        while (await reader.readline()) not in (b"\r\n", b""):
            pass  # the headers
        opened.set()
        pending = b""
        while size := int((await reader.readline()).strip() or b"0", 16):
            pending += await reader.readexactly(size)
            await reader.readline()  # the CRLF after each chunk
            *lines, pending = pending.split(b"\n")
            job.units += sum(line.startswith(marker) for line in lines)
    finally:
        writer.close()


async def stream_job(target: Target, seconds: float, hot_path: HotPath) -> Job:
    """Streams held open while messages are posted: server CPU per message delivered."""
    room, job = target.room(hot_path.job), Job(hot_path.job, seconds)
    senders = await target.sessions(room, POST_SESSIONS)
    opened = [asyncio.Event() for _ in range(WAIT_CLIENTS)]
    path = hot_path.path.format(room=room) + "?after=0"
    readers = [
        asyncio.create_task(read_events(target.client(), path, job, event, hot_path.delivery_line))
        for event in opened
    ]
    await asyncio.wait_for(asyncio.gather(*(event.wait() for event in opened)), 30)
    await asyncio.sleep(0.5)  # every stream is subscribed before the first post
    units_before = job.units
    await target.measured(job, steady_posts(senders, room, WAIT_POSTS_PER_S, seconds))
    await asyncio.sleep(0.3)
    job.units -= units_before
    for task in readers:
        task.cancel()
    results = await asyncio.gather(*readers, return_exceptions=True)
    job.errors += sum(not isinstance(r, asyncio.CancelledError | None) for r in results)
    for client in senders:
        client.close()
    await asyncio.sleep(SETTLE_S)
    return job


async def broadcast_job(target: Target, seconds: float, hot_path: HotPath) -> Job:
    room, job = target.room(hot_path.job), Job(hot_path.job, seconds)
    path = hot_path.path.format(room=room)
    sessions = await target.sessions(room, BROADCAST_CLIENTS)
    origin = f"http://{target.host}:{target.port}"
    sockets = []
    for session in sessions:
        cookie = "; ".join(f"{k}={v}" for k, v in session.cookies.items())
        sockets.append(
            await ws_connect(
                f"ws://{target.host}:{target.port}{path}",
                origin=origin,  # type: ignore[arg-type]
                additional_headers=[("Cookie", cookie)] if cookie else None,
                compression=None,
                max_queue=None,
                ping_interval=None,
            )
        )
        session.close()

    async def read_loop(socket: Any) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for frame in socket:
                if "error" in json.loads(frame):
                    job.errors += 1
                else:
                    job.units += 1

    readers = [asyncio.create_task(read_loop(socket)) for socket in sockets]

    async def send_frames() -> None:
        started = time.monotonic()
        for sent, socket in enumerate(itertools.cycle(sockets)):
            due = started + sent / BROADCAST_FRAMES_PER_S
            if due - started >= seconds:
                return
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            await socket.send(json.dumps({"message": f"hot {sent}"}))

    await asyncio.sleep(0.5)
    units_before = job.units
    await target.measured(job, send_frames())
    await asyncio.sleep(0.3)
    job.units -= units_before
    for socket in sockets:
        await socket.close()
    for reader in readers:
        reader.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    await asyncio.sleep(SETTLE_S)
    return job


async def post_job(target: Target, seconds: float, hot_path: HotPath = POST) -> Job:
    """A fixed number of posts (the rate limit allows POSTS_PER_SESSION per session)."""
    room, job = target.room(hot_path.job), Job(hot_path.job, seconds)
    senders = await target.sessions(room, POST_SESSIONS)

    async def post_all() -> None:
        for number in range(POSTS_PER_SESSION):
            for sender in senders:
                await sender.post(room, f"post {number}")
                job.units += 1

    await target.measured(job, post_all())
    for sender in senders:
        sender.close()
    return job


IDLE_ROOMS = 20
IDLE_PER_ROOM = 50
"""Of each kind: 50 WebSockets and 50 long polls in each of 20 rooms, 2000 clients in all."""
IDLE_SECONDS = 30.0
IDLE_LONG_POLL_TIMEOUT_S = 25
"""The page's default: every idle long poll is answered empty and renewed once within the
idle window, so the renewals are part of what waiting costs."""


def process_status(pid: int) -> dict[str, int]:
    """``VmRSS`` (kB) and ``Threads`` of a process on this machine, from /proc."""
    found: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "Threads"):
                found[name] = int(value.split()[0])
    return found


@dataclass
class IdleCrowd:
    """The idle-burst job's clients: ``IDLE_PER_ROOM`` WebSockets and as many long polls in
    each room, and how long after its room's post each got the burst's message."""

    target: Target
    rooms: list[str]
    arrivals: list[float] = field(default_factory=list)
    """Seconds from a room's post to one client's arrival, one per client that got it."""
    sent_at: dict[str, float] = field(default_factory=dict)
    errors: int = 0
    sockets: list[tuple[Any, str]] = field(default_factory=list)
    readers: list[asyncio.Task[None]] = field(default_factory=list)
    polls: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def clients(self) -> int:
        return len(self.sockets) + len(self.polls)

    async def join(self) -> None:
        """Open every socket (one at a time, as a crowd arrives), then start every long poll."""
        for room in self.rooms:
            for _ in range(IDLE_PER_ROOM):
                self.sockets.append((await self.open_socket(room), room))
        self.readers = [asyncio.create_task(self.read(sock, room)) for sock, room in self.sockets]
        self.polls = [
            asyncio.create_task(self.long_poll(room))
            for room in self.rooms
            for _ in range(IDLE_PER_ROOM)
        ]

    async def open_socket(self, room: str) -> Any:
        target = self.target
        return await ws_connect(
            f"ws://{target.host}:{target.port}/ws/chat/{room}/",
            origin=f"http://{target.host}:{target.port}",  # type: ignore[arg-type]
            compression=None,
            ping_interval=None,
        )

    async def read(self, socket: Any, room: str) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for frame in socket:
                if "error" in json.loads(frame):
                    self.errors += 1
                else:
                    self.arrivals.append(time.monotonic() - self.sent_at[room])

    async def long_poll(self, room: str) -> None:
        """Wait, renew on an empty answer, stop at the first message (as the page would)."""
        client = self.target.client()
        path = f"/api/rooms/{room}/messages/wait?after=0&timeout={IDLE_LONG_POLL_TIMEOUT_S}"
        try:
            while True:
                answer = await client.get_json(path, timeout=IDLE_LONG_POLL_TIMEOUT_S + 30)
                if answer["messages"]:
                    self.arrivals.append(time.monotonic() - self.sent_at[room])
                    return
        except (HttpError, OSError, asyncio.IncompleteReadError, TimeoutError):
            self.errors += 1
        finally:
            client.close()

    async def burst(self, posters: list[HttpClient]) -> None:
        """One message to each room (``posters[i]`` posts to ``rooms[i]``), then wait up to
        30 s for every client to get it."""

        async def post(poster: HttpClient, room: str) -> None:
            self.sent_at[room] = time.monotonic()
            await poster.post(room, "burst")

        await asyncio.gather(*map(post, posters, self.rooms))
        deadline = time.monotonic() + 30
        while len(self.arrivals) < self.clients and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.gather(*self.polls, return_exceptions=True)

    async def leave(self) -> None:
        for socket, _ in self.sockets:
            await socket.close()
        for reader in self.readers:
            reader.cancel()
        await asyncio.gather(*self.readers, return_exceptions=True)

    def burst_ms(self) -> dict[str, float | None]:
        """The burst's delivery times: p50, p95 and the slowest (ms)."""
        latencies_ms = sorted(1000 * value for value in self.arrivals)

        def percentile(share: float) -> float | None:
            if not latencies_ms:
                return None
            index = min(len(latencies_ms) - 1, int(share * len(latencies_ms)))
            return round(latencies_ms[index], 1)

        slowest = round(latencies_ms[-1], 1) if latencies_ms else None
        return {"p50": percentile(0.5), "p95": percentile(0.95), "max": slowest}


async def idle_burst_job(target: Target, seconds: float) -> dict[str, Any]:
    """2000 idle clients (half WebSockets, half long polls) in 20 rooms: the server's CPU,
    memory and threads while they wait, then one message to each room and how long each
    client took to get it. The server must run on this machine (its /proc is read)."""
    pid = int((await target.monitor.get_json("/api/metrics"))["pid"])
    before = process_status(pid)
    crowd = IdleCrowd(target, [f"{target.room('idle')}-{n}" for n in range(IDLE_ROOMS)])
    posters = await asyncio.gather(*(target.sessions(room, 1) for room in crowd.rooms))
    await crowd.join()
    await asyncio.sleep(2.0)  # every long poll is held
    connected = process_status(pid)
    cpu_before, started = await target.cpu_s(), time.monotonic()
    await asyncio.sleep(IDLE_SECONDS)
    idle_cpu_s, idle_wall_s = await target.cpu_s() - cpu_before, time.monotonic() - started
    idle = process_status(pid)
    await crowd.burst([group[0] for group in posters])
    await crowd.leave()
    for group in posters:
        for poster in group:
            poster.close()
    rss_grown_kb = (idle.get("VmRSS") or 0) - (before.get("VmRSS") or 0)
    return {
        "clients": crowd.clients,
        "websockets": len(crowd.sockets),
        "long_polls": len(crowd.polls),
        "rooms": len(crowd.rooms),
        "idle_seconds": round(idle_wall_s, 2),
        "idle_cpu_percent": round(100 * idle_cpu_s / idle_wall_s, 2),
        "rss_kb_before": before.get("VmRSS"),
        "rss_kb_connected": idle.get("VmRSS"),
        "rss_kb_per_client": round(rss_grown_kb / crowd.clients, 1),
        "threads_before": before.get("Threads"),
        "threads_connected": connected.get("Threads"),
        "burst_deliveries": len(crowd.arrivals),
        "burst_expected": crowd.clients,
        "burst_ms": crowd.burst_ms(),
        "errors": crowd.errors,
    }


LOADS = {"poll": poll_job, "wait": long_poll_job, "stream": stream_job, "broadcast": broadcast_job}
"""What drives each kind of hot path (``HotPath.load``)."""


async def run_job(target: Target, name: str, seconds: float) -> Job:
    """The job ``name``: a registry row's hot path under its load, or the post job."""
    if name == "post":
        return await post_job(target, seconds)
    hot_path = HOT_PATHS[name]
    return await LOADS[hot_path.load](target, seconds, hot_path)


async def run_jobs(url: str, jobs: list[str], seconds: float) -> dict[str, Any]:
    """Every job in turn against the server at ``url``; a failed job is reported, not raised."""
    target = Target(url)
    results: dict[str, Any] = {}
    for name in jobs:
        try:
            if name == "idle-burst":
                results[name] = await idle_burst_job(target, seconds)
                continue
            results[name] = (await run_job(target, name, seconds)).as_dict()
        except (OSError, HttpError, asyncio.IncompleteReadError, TimeoutError) as exc:
            results[name] = {"unit": UNITS.get(name), "failure": f"{type(exc).__name__}: {exc}"}
    target.monitor.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="e.g. http://127.0.0.1:8000")
    parser.add_argument("--jobs", default=",".join(JOBS), help="comma-separated: " + ",".join(JOBS))
    parser.add_argument("--seconds", type=float, default=3.0, help="load per job")
    args = parser.parse_args(argv)
    jobs = [job for job in args.jobs.split(",") if job]
    unknown = [job for job in jobs if job not in JOBS and job != "idle-burst"]
    if unknown:
        parser.error(f"unknown job {', '.join(unknown)}")
    from lab.open_files import raise_open_files_limit

    raise_open_files_limit()  # a socket per idle client
    print(json.dumps(asyncio.run(run_jobs(args.url, jobs, args.seconds))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
