"""The benchmark scenarios and profiles, and how a scenario reaches the Locust processes.

The runner picks scenarios from a profile; each Locust process reads the one it
runs from ``PUSHLAB_BENCH_*`` environment variables (``from_env``), so workers
forked by ``--processes`` get it too. Without them (``make locust``) the chat
scenario runs with no end, for a class watching Locust's web UI.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

SERVERS = ("daphne", "uvicorn")
LAYERS = ("redis", "pubsub")

ENV_PREFIX = "PUSHLAB_BENCH_"
DELIVERIES_DIR_ENV = "PUSHLAB_BENCH_DELIVERIES_DIR"
"""Where each Locust process appends deliveries.jsonl (one line per receiving client)."""
RUN_TAG_ENV = ENV_PREFIX + "RUN_TAG"
"""Part of every room name, so runs and verify steps never share a room."""
STEPS_FILE = "steps.jsonl"
"""Written by a climb (``benchmarks.load.shapes``) beside deliveries.jsonl: one line per
capacity step it held (its times and Locust's view of it), then one saying why it stopped."""
DRAIN_S = 3.0
"""The drain window: at the end of a run the senders stop and the receivers go on this long
before deliveries are counted; what has not arrived by then is in flight or lost
(``benchmarks.load.drain``, ``benchmarks.load.deliveries``)."""
JOIN_SETTLE_S = 2.0
"""After a capacity step's last client started, before its hold: its socket or poll is in
place."""


def redis_chaos_from(value: str) -> tuple[float, float, float]:
    """``(redis_restart_at_s, redis_stall_at_s, redis_stall_s)`` from its environment form."""
    if not value:
        return 0.0, 0.0, 0.0
    restart, stall, stall_s = (float(part) for part in value.split(","))
    return restart, stall, stall_s


@dataclass(frozen=True)
class Scenario:
    """One kind of load: how many clients, in what rooms, who sends and how often."""

    name: str
    clients: int
    duration_s: float
    room_size: int
    """Clients per room; the last room may be smaller. 0 means one room of every client."""
    send_interval_s: float
    """Each sender's average pause between messages."""
    every_client_sends: bool
    """True: every client sends; False: only the first client of each room does."""
    drain_s: float = DRAIN_S
    """The drain window: senders stop this long before the end (or, stopped early, as they
    are stopped), so the last messages arrive before the deliveries are counted."""
    restarts_at_s: tuple[float, ...] = ()
    """Seconds after the first client started when the runner restarts the server (chaos)."""
    redis_restart_at_s: float = 0.0
    """When the runner restarts Redis, empty, mid-run (chaos-redis); 0: never."""
    redis_stall_at_s: float = 0.0
    """When the runner stalls Redis (SIGSTOP) for ``redis_stall_s`` (chaos-redis); 0: never."""
    redis_stall_s: float = 0.0
    resend_every: int = 0
    """One message in n (a sender's 1st, n+1-th, ...) is sent twice with one client_id, as if
    the first answer was lost (chaos): the server must store it once. 0: only failed sends
    are re-sent."""
    server: str | None = None
    """The ASGI server for this scenario instead of ``--server`` (the server variants)."""
    layer: str | None = None
    """The channel layer for this scenario instead of ``--layer`` (the layer variants)."""
    only_strategies: tuple[str, ...] = ()
    """Measure only these strategies (a layer carries WebSocket messages only); empty: all."""
    join_rate: float = 0.0
    """Clients started per second; 0: everyone within about two seconds."""
    steps: tuple[int, ...] = ()
    """Climb through these client counts in one run (the capacity scenario): join each step's
    new clients at ``join_rate``, settle, hold ``step_hold_s``, and go on only while the step
    kept ``slo_p95_ms`` and no request failed (``benchmarks.load.shapes``). Empty: one level,
    ``clients``, for ``duration_s``."""
    step_hold_s: float = 0.0
    slo_p95_ms: float = 0.0
    """The climb stops after a step whose delivery p95, as Locust saw it, was above this."""

    @property
    def spawn_rate(self) -> float:
        """Clients started per second: ``join_rate``, or everyone within about two seconds."""
        return self.join_rate or max(10.0, self.clients / 2)

    def with_duration(self, duration_s: float) -> Scenario:
        """The same scenario run for ``duration_s``; restarts keep their place in the run."""
        scale = duration_s / self.duration_s
        return replace(
            self,
            duration_s=duration_s,
            restarts_at_s=tuple(round(at_s * scale, 1) for at_s in self.restarts_at_s),
            redis_restart_at_s=round(self.redis_restart_at_s * scale, 1),
            redis_stall_at_s=round(self.redis_stall_at_s * scale, 1),
        )

    def room_of(self, client_index: int) -> int:
        return 0 if self.room_size <= 0 else client_index // self.room_size

    def sends(self, client_index: int) -> bool:
        return self.every_client_sends or (
            client_index == 0 if self.room_size <= 0 else client_index % self.room_size == 0
        )

    def to_env(self) -> dict[str, str]:
        return {
            ENV_PREFIX + "SCENARIO": self.name,
            ENV_PREFIX + "CLIENTS": str(self.clients),
            ENV_PREFIX + "DURATION_S": str(self.duration_s),
            ENV_PREFIX + "ROOM_SIZE": str(self.room_size),
            ENV_PREFIX + "SEND_INTERVAL_S": str(self.send_interval_s),
            ENV_PREFIX + "EVERY_CLIENT_SENDS": "1" if self.every_client_sends else "0",
            ENV_PREFIX + "DRAIN_S": str(self.drain_s),
            ENV_PREFIX + "RESTARTS_AT_S": ",".join(map(str, self.restarts_at_s)),
            ENV_PREFIX + "RESEND_EVERY": str(self.resend_every),
            ENV_PREFIX + "JOIN_RATE": str(self.join_rate),
            ENV_PREFIX + "STEPS": ",".join(map(str, self.steps)),
            ENV_PREFIX + "STEP_HOLD_S": str(self.step_hold_s),
            ENV_PREFIX + "SLO_P95_MS": str(self.slo_p95_ms),
            ENV_PREFIX + "REDIS_CHAOS": f"{self.redis_restart_at_s},{self.redis_stall_at_s},"
            f"{self.redis_stall_s}",
        }

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Scenario:
        """The scenario the runner asked for, or ``LIVE_DEMO`` when run by hand."""
        environ = dict(os.environ if environ is None else environ)
        if ENV_PREFIX + "SCENARIO" not in environ:
            return LIVE_DEMO

        def value(name: str) -> str:
            return environ[ENV_PREFIX + name]

        redis_chaos = redis_chaos_from(environ.get(ENV_PREFIX + "REDIS_CHAOS", ""))
        return cls(
            name=value("SCENARIO"),
            clients=int(value("CLIENTS")),
            duration_s=float(value("DURATION_S")),
            room_size=int(value("ROOM_SIZE")),
            send_interval_s=float(value("SEND_INTERVAL_S")),
            every_client_sends=value("EVERY_CLIENT_SENDS") == "1",
            drain_s=float(value("DRAIN_S")),
            restarts_at_s=tuple(float(at) for at in value("RESTARTS_AT_S").split(",") if at),
            resend_every=int(environ.get(ENV_PREFIX + "RESEND_EVERY", "0")),
            join_rate=float(environ.get(ENV_PREFIX + "JOIN_RATE", "0")),
            steps=tuple(int(n) for n in environ.get(ENV_PREFIX + "STEPS", "").split(",") if n),
            step_hold_s=float(environ.get(ENV_PREFIX + "STEP_HOLD_S", "0")),
            slo_p95_ms=float(environ.get(ENV_PREFIX + "SLO_P95_MS", "0")),
            redis_restart_at_s=redis_chaos[0],
            redis_stall_at_s=redis_chaos[1],
            redis_stall_s=redis_chaos[2],
        )


CHAT = Scenario(
    "chat", clients=20, duration_s=30, room_size=10, send_interval_s=5, every_client_sends=True
)
"""Rooms of 10 clients, each sending about every 5 s: a busy chat."""
IDLE = Scenario(
    "idle", clients=20, duration_s=70, room_size=10, send_interval_s=60, every_client_sends=False
)
"""Clients connected, about one message per room a minute: what waiting costs."""
FANOUT = Scenario(
    "fanout", clients=50, duration_s=30, room_size=0, send_interval_s=1, every_client_sends=False
)
"""One sender, one large room: the cost of delivering one message to many."""
CHAOS = Scenario(
    "chaos",
    clients=20,
    duration_s=40,
    room_size=10,
    send_interval_s=3,
    every_client_sends=True,
    restarts_at_s=(13, 25),
    resend_every=4,
)
"""Chat load while the server restarts twice: clients must resume and still get every message;
senders re-send (failed sends, and one message in 4 on purpose) and nothing is stored twice."""
CHAOS_REDIS = Scenario(
    "chaos-redis",
    clients=20,
    duration_s=40,
    room_size=10,
    send_interval_s=3,
    every_client_sends=True,
    redis_restart_at_s=12,
    redis_stall_at_s=25,
    redis_stall_s=4,
    resend_every=4,
)
"""Chat load while Redis is restarted (empty) and later stalled for 4 s; the server is not
restarted: every strategy must resume by itself and still deliver every message."""
VERIFY = Scenario(
    "verify",
    clients=4,
    duration_s=7,
    room_size=4,
    send_interval_s=1,
    every_client_sends=True,
    drain_s=2.5,
)
"""The check before timing: a few clients in one room must get every message once, in order."""
LIVE_DEMO = replace(CHAT, duration_s=float("inf"))

SWEEP_CLIENTS = (10, 20, 40, 80)
"""The client counts of the sweep (chat load): how cost and latency grow with clients."""
SWEEP = replace(CHAT, name="sweep", duration_s=20)

CAPACITY_STEPS = (250, 500, 1000, 2000, 4000, 8000)
"""Clients at each step of the capacity scenario, up to ``--capacity-max``."""
CAPACITY_JOIN_RATE = 50.0
"""Clients joining per second in a capacity climb: the join storm is measured, bounded. A join
(the room page, then the socket or first poll) costs a server 3 to 12 ms of CPU, so an
unbounded storm would break the first steps on joining, not on holding clients
(docs/decisions.md, "Locust users for thousands of clients", has the measurements)."""
CAPACITY_QUIET = Scenario(
    "capacity-quiet",
    clients=CAPACITY_STEPS[0],
    duration_s=20,
    room_size=100,
    send_interval_s=10,
    every_client_sends=False,
    join_rate=CAPACITY_JOIN_RATE,
)
"""Capacity, quiet load: rooms of 100, one message per room about every 10 s."""
CAPACITY_BUSY = replace(
    CAPACITY_QUIET, name="capacity-busy", room_size=10, send_interval_s=5, every_client_sends=True
)
"""Capacity, busy load: rooms of 10, every client sending about every 5 s."""
CAPACITY_LOADS = {"quiet": CAPACITY_QUIET, "busy": CAPACITY_BUSY}

VARIANTS = tuple(
    [replace(CHAT, name=f"chat-{server}", duration_s=20, server=server) for server in SERVERS]
    + [
        replace(
            CHAT,
            name=f"chat-{layer}-layer",
            duration_s=20,
            layer=layer,
            only_strategies=("websocket",),
        )
        for layer in LAYERS
    ]
)
"""The chat load under each ASGI server and each channel layer: what the choice costs."""

IDLE_BURST = Scenario(
    "idle-burst",
    clients=2000,
    duration_s=30,
    room_size=100,
    send_interval_s=30,
    every_client_sends=False,
)
"""1000 idle WebSockets and 1000 idle long polls on one server (20 rooms of 100), then one
message to each room: what holding clients costs, and how fast a burst reaches them all.
Driven by ``benchmarks.run.hotpaths`` (job ``idle-burst``), not by Locust, once per run."""

SCENARIOS = {
    **{
        scenario.name: scenario
        for scenario in (CHAT, IDLE, FANOUT, CHAOS, CHAOS_REDIS, SWEEP, *VARIANTS, IDLE_BURST)
    },
    "capacity": CAPACITY_QUIET,
}
"""What ``--scenarios`` accepts; ``capacity`` runs both of its loads."""


@dataclass(frozen=True)
class Profile:
    name: str
    scenarios: tuple[str, ...]
    chat_clients: int
    chat_duration_s: float


PROFILES = {
    "quick": Profile("quick", ("chat",), chat_clients=20, chat_duration_s=30),
    "full": Profile(
        "full",
        (
            "chat",
            "idle",
            "fanout",
            "chaos",
            "chaos-redis",
            "sweep",
            *(variant.name for variant in VARIANTS),
            IDLE_BURST.name,
            "capacity",
        ),
        chat_clients=40,
        chat_duration_s=45,
    ),
}


def profile_runs(
    profile: Profile,
    clients: int | None,
    duration_s: float | None,
    scenarios: tuple[str, ...] | None = None,
) -> list[tuple[str, Scenario]]:
    """Every (scenario name, sized scenario) a profile runs, in order; sweep steps ascending.

    ``--clients`` and ``--duration`` replace the sizes of the main (chat) scenario
    and the duration of the others; the sweep keeps its client counts.
    ``scenarios`` (``--scenarios``) replaces the profile's list of scenario names.
    """
    runs: list[tuple[str, Scenario]] = []
    for name in scenarios or profile.scenarios:
        base = SCENARIOS[name]
        if name == "chat":
            sized = replace(
                base,
                clients=clients or profile.chat_clients,
                duration_s=duration_s or profile.chat_duration_s,
            )
            runs.append((name, sized))
        elif name == "capacity":  # steps and their length come from --capacity-*
            runs += [(load.name, load) for load in CAPACITY_LOADS.values()]
        elif name == "sweep":
            runs += [
                (name, replace(base.with_duration(duration_s or base.duration_s), clients=count))
                for count in SWEEP_CLIENTS
            ]
        else:
            runs.append((name, base.with_duration(duration_s or base.duration_s)))
    return runs
