"""A schema-shaped summary.json for testing readers of results (docs generator, notebooks).

It is written only to temporary directories: nothing made here is ever a result. The
numbers follow the techniques' arithmetic (a poll every second, one request per long
poll) so readers see plausible shapes, but no test may assert them as findings.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

KEYS = ("short-polling", "long-polling", "websocket")
REQUESTS_PER_CLIENT_PER_MIN = {"short-polling": 60.0, "long-polling": 14.0, "websocket": 0.0}
P50_MS = {"short-polling": 500.0, "long-polling": 9.0, "websocket": 4.0}


def strategy_result(key: str, clients: int, *, scenario: str = "chat") -> dict[str, Any]:
    duration_s = 30.0
    sent = clients * duration_s / 5
    deliveries = int(sent * 9)
    requests = int(REQUESTS_PER_CLIENT_PER_MIN[key] * clients * duration_s / 60)
    p50 = P50_MS[key] * (1 + clients / 200)
    cdf = [[p50 * 2 * step / 100, step / 100] for step in range(101)]
    return {
        "status": "ok",
        "failure": None,
        "verify": {"ok": True, "lost": 0, "duplicates": 0, "out_of_order": 0, "deliveries": 18},
        "scenario": scenario,
        "clients": clients,
        "duration_s": duration_s,
        "messages_sent": int(sent),
        "deliveries_expected": deliveries,
        "deliveries": deliveries,
        "lost": 0,
        "duplicates": 0,
        "out_of_order": 0,
        "http_requests": requests,
        "http_requests_per_client_per_min": REQUESTS_PER_CLIENT_PER_MIN[key],
        "requests_per_delivery": requests / deliveries,
        "bytes_sent": deliveries * 300,
        "bytes_per_delivery": 300.0,
        "delivery_ms": {
            "p50": p50,
            "p95": p50 * 1.9,
            "p99": p50 * 1.98,
            "max": p50 * 2,
            "mean": p50,
            "cdf": cdf,
        },
        "server_cpu_ms": deliveries * 1.5,
        "server_cpu_ms_per_delivery": 1.5,
        "redis_commands": deliveries,
        "redis_commands_per_delivery": 1.0,
        "redis_clients_peak": 4,
        "server_rss_mb_peak": 90.0,
        "locust_cpu_percent": 30.0,
        "locust_saturated": False,
    }


def synthetic_summary(*, with_sweep: bool = True, failed: str | None = None) -> dict[str, Any]:
    """A whole summary; ``failed`` names a strategy to mark as failed in the main scenario."""
    chat = {key: strategy_result(key, 20) for key in KEYS}
    if failed is not None:
        chat[failed] = {**chat[failed], "status": "failed", "failure": "lost 3 messages"}
    summary: dict[str, Any] = {
        "run_id": "synthetic-test-run",
        "created_at": "2026-11-24T00:00:00+00:00",
        "git_sha": "unknown",
        "machine": {
            "hostname": "test",
            "cpus": 2,
            "memory_gb": 4.0,
            "platform": "Linux",
            "python": "3.11.7",
        },
        "versions": {"django": "5.2", "channels": "4.3", "locust": "2.47"},
        "config": {
            "profile": "full" if with_sweep else "quick",
            "scenario": "chat",
            "scenarios": ["chat", "idle"],
            "poll_interval_ms": 1000,
            "clients": 20,
            "duration_s": 30,
            "room_size": 10,
            "send_interval_s": 5,
            "server": "daphne",
            "processes": 1,
            "strategies": list(KEYS),
        },
        "status": "failed" if failed else "ok",
        "strategies": chat,
        "scenarios": {
            "chat": chat,
            "idle": {key: strategy_result(key, 20, scenario="idle") for key in KEYS},
        },
    }
    if with_sweep:
        summary["sweep"] = {
            key: [strategy_result(key, clients, scenario="sweep") for clients in (10, 20, 40, 80)]
            for key in KEYS
        }
    return summary


def write_results_dir(directory: Path, summary: dict[str, Any]) -> Path:
    """A results directory holding just summary.json (what the notebooks and docs read)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return directory
