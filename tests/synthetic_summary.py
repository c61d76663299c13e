"""Schema-shaped summary.json files for testing readers of results (charts, report.md,
docs generator, notebooks).

They are written only to temporary directories: nothing made here is ever a result. The
numbers follow the techniques' arithmetic (a poll every second, one request per long
poll) so readers see plausible shapes, but no test may assert them as findings.
"""

from __future__ import annotations

import json
from pathlib import Path
from statistics import NormalDist
from typing import Any

POLL_INTERVAL_MS = 1000

# Per strategy: requests per client per minute, bytes, CPU ms and Redis commands per
# delivery, p50 ms and the spread of the latency distribution (like a quick run on 2 cores).
PROFILES: dict[str, dict[str, float]] = {
    "short-polling": {"rpm": 72.1, "bytes": 1130.0, "cpu": 1.93, "redis": 0.0, "p50": 503.0},
    "long-polling": {"rpm": 115.0, "bytes": 560.0, "cpu": 2.4, "redis": 2.1, "p50": 6.1},
    "websocket": {"rpm": 2.0, "bytes": 190.0, "cpu": 0.9, "redis": 1.3, "p50": 4.2},
    "naive-long-polling": {"rpm": 115.0, "bytes": 560.0, "cpu": 6.0, "redis": 0.0, "p50": 55.0},
}
HELD_CONNECTION = {"rpm": 2.5, "bytes": 230.0, "cpu": 1.1, "redis": 1.0, "p50": 5.0}
DB_QUERIES_PER_CLIENT_PER_MIN = {"short-polling": 144.0, "naive-long-polling": 612.0}
"""Two queries per poll; one per 100 ms while a naive long poll waits; a few otherwise."""
"""The profile of any other registered strategy: a push over a held connection."""


def registered_keys() -> list[str]:
    """Every strategy of the registry, so a new one appears in every synthetic run."""
    from strategies import STRATEGIES

    return list(STRATEGIES)


def latency_cdf(key: str, p50: float) -> list[list[float]]:
    """101 points: uniform over one poll interval for short polling, log-normal otherwise."""
    fractions = [i / 100 for i in range(101)]
    if key == "short-polling":
        return [[round(3 + POLL_INTERVAL_MS * f, 1), f] for f in fractions]
    normal = NormalDist()
    return [
        [round(p50 * 2.7 ** (0.6 * normal.inv_cdf(min(max(f, 0.005), 0.995))), 2), f]
        for f in fractions
    ]


SENDS_S = [10.3, 10.9, 11.6, 12.2, 12.8, 13.5, 14.1, 14.6, 15.4, 16.0, 16.7, 17.2, 17.9, 18.5, 19.3]
"""When messages are sent in the synthetic timeline's window: about two a second in a room."""
TIMELINE_SHAPES = {"short-polling": "poll", "long-polling": "hold", "naive-long-polling": "hold"}
"""How each technique's lanes look; any other pushes down a held connection."""


def synthetic_timeline(key: str) -> dict[str, Any]:
    """Three clients over seconds 10 to 20: polls every second, held requests answered by
    each message, or a connection held open that only pushes."""
    driver = TIMELINE_SHAPES.get(key, "push")
    lanes = []
    for client in range(3):
        requests: list[dict[str, Any]] = []
        connections: list[list[float]] = []
        arrivals: list[dict[str, Any]] = []
        if driver == "poll":
            polls = [round(9.5 + client * 0.31 + second, 3) for second in range(11)]
            requests += [
                {"start": at, "end": round(at + 0.006, 3), "method": "GET"} for at in polls
            ]
            for sent in SENDS_S:
                answered = next((at + 0.006 for at in polls if at > sent), None)
                if answered is not None:
                    arrivals.append({"at": round(answered, 3), "sent": sent, "pushed": False})
        elif driver == "hold":
            opened = 9.8
            for sent in SENDS_S:
                answered = round(sent + 0.004 + (0.05 if key.startswith("naive") else 0), 3)
                requests.append({"start": opened, "end": answered, "method": "GET"})
                arrivals.append({"at": answered, "sent": sent, "pushed": False})
                opened = round(answered + 0.002, 3)
            requests.append({"start": opened, "end": 25.0, "method": "GET"})
        else:
            connections.append([1.2, 30.0])
            arrivals += [
                {"at": round(sent + 0.003, 3), "sent": sent, "pushed": True} for sent in SENDS_S
            ]
        if key != "websocket":  # its sends are frames up the socket, not POSTs
            own = SENDS_S[client::5]
            requests += [
                {"start": sent, "end": round(sent + 0.008, 3), "method": "POST"} for sent in own
            ]
        lanes.append(
            {
                "client": client,
                "sends": True,
                "requests": sorted(requests, key=lambda request: request["start"]),
                "connections": connections,
                "arrivals": arrivals,
            }
        )
    return {"window_s": [10.0, 20.0], "clients": lanes, "sent": SENDS_S}


def strategy_result(key: str, clients: int = 20, messages: int = 109) -> dict[str, Any]:
    """One StrategyResult as the runner writes it, with numbers consistent with each other.

    More clients than the quick profile's 20 cost more CPU and, for the push strategies,
    more latency (short polling's latency is set by its poll interval).
    """
    load = clients / 20
    profile = dict(PROFILES.get(key, HELD_CONNECTION))
    db_per_minute = DB_QUERIES_PER_CLIENT_PER_MIN.get(key, 4.0)
    profile["cpu"] = round(profile["cpu"] * (0.8 + 0.2 * load), 3)
    if key != "short-polling":
        profile["p50"] *= load**0.5
    deliveries = messages * 10  # every message reaches the room's 10 clients
    duration = 30.0
    requests = round(profile["rpm"] * clients * duration / 60)
    cdf = latency_cdf(key, profile["p50"])
    ms = [point[0] for point in cdf]
    return {
        "status": "ok",
        "failure": None,
        "verify": {"ok": True, "lost": 0, "duplicates": 0, "out_of_order": 0, "deliveries": 18},
        "scenario": "chat",
        "clients": clients,
        "duration_s": duration,
        "messages_sent": messages,
        "deliveries_expected": deliveries,
        "deliveries": deliveries,
        "in_flight": 0,
        "lost": 0,
        "duplicates": 0,
        "out_of_order": 0,
        "http_requests": requests,
        "http_requests_per_client_per_min": profile["rpm"],
        "requests_per_delivery": round(requests / deliveries, 4) if deliveries else None,
        "bytes_sent": round(profile["bytes"] * deliveries),
        "bytes_per_delivery": profile["bytes"] if deliveries else None,
        "delivery_ms": {
            "p50": ms[50],
            "p95": ms[95],
            "p99": ms[99],
            "max": ms[100],
            "mean": sum(ms) / len(ms),
            "cdf": cdf,
        },
        "server_cpu_ms": profile["cpu"] * deliveries,
        "server_cpu_ms_per_delivery": profile["cpu"] if deliveries else None,
        "redis_commands": round(profile["redis"] * deliveries),
        "redis_commands_per_delivery": profile["redis"] if deliveries else None,
        "redis_clients_peak": 4,
        "db_queries": round(db_per_minute * clients * duration / 60),
        "db_queries_per_delivery": (
            round(db_per_minute * clients * duration / 60 / deliveries, 3) if deliveries else None
        ),
        "db_queries_per_client_per_min": db_per_minute,
        "server_rss_mb_peak": 95.2,
        "locust_cpu_percent": 35.0,
        "locust_saturated": False,
        "timeline": synthetic_timeline(key),
    }


def build_summary(
    *,
    failed: str | None = None,
    sweep: bool = False,
    zero_deliveries: bool = False,
    idle: bool = False,
) -> dict[str, Any]:
    """A summary.json for every registered strategy; variants: one failed, a sweep, no
    deliveries at all, and an ``idle`` scenario (nobody writes) beside ``chat``."""
    results = {
        key: strategy_result(key, messages=0 if zero_deliveries else 109)
        for key in registered_keys()
    }
    if zero_deliveries:
        for result in results.values():
            result["delivery_ms"] = dict.fromkeys(("p50", "p95", "p99", "max", "mean"))
            result["delivery_ms"]["cdf"] = []
    if failed:
        results[failed].update(
            status="failed", lost=7, deliveries=1083, failure="7 of 1090 deliveries were lost"
        )
    summary: dict[str, Any] = {
        "run_id": "20261124-001500-quick",
        "created_at": "2026-11-24T00:15:00+00:00",
        "git_sha": "0123456789abcdef0123456789abcdef01234567",
        "machine": {
            "hostname": "lab",
            "cpus": 2,
            "memory_gb": 23.4,
            "platform": "Linux-6.1-x86_64",
            "python": "3.11.7",
        },
        "versions": {
            "django": "5.2.19",
            "channels": "4.3.2",
            "daphne": "4.2.3",
            "locust": "2.47.0",
            "matplotlib": "3.11.2",
        },
        "config": {
            "profile": "quick",
            "scenario": "chat",
            "scenarios": ["chat", "idle"] if idle else ["chat"],
            "poll_interval_ms": POLL_INTERVAL_MS,
            "clients": 20,
            "duration_s": 30,
            "room_size": 10,
            "send_interval_s": 5,
            "server": "daphne",
            "processes": 1,
            "strategies": registered_keys(),
        },
        "status": "failed" if failed else "ok",
        "strategies": results,
        "scenarios": {"chat": results},
    }
    if idle:
        summary["scenarios"]["idle"] = {
            key: strategy_result(key, messages=0) for key in registered_keys()
        }
    if sweep:
        summary["sweep"] = {
            key: [strategy_result(key, clients=clients) for clients in (10, 40, 80)]
            for key in registered_keys()
        }
    return summary


def save(run_dir: Path, summary: dict[str, Any]) -> Path:
    """A results directory holding just summary.json (what charts, notebooks and docs read)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return run_dir
