"""The benchmark's arithmetic (benchmarks/run/metrics.py), delivery accounting
(benchmarks/load/deliveries.py) and scenarios, without a server."""

from __future__ import annotations

import pytest

from benchmarks.load import deliveries
from benchmarks.load.deliveries import DeliveryAccount, account_deliveries
from benchmarks.results.summary import rounded
from benchmarks.run import metrics
from benchmarks.run.scenarios import CHAT, FANOUT, IDLE, PROFILES, Scenario, profile_runs


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        pytest.param([5.0], 50, 5.0, id="one-value"),
        pytest.param([1.0, 2.0, 3.0, 4.0], 50, 2.5, id="median-interpolates"),
        pytest.param([4.0, 1.0, 3.0, 2.0], 50, 2.5, id="unsorted-input"),
        pytest.param(list(range(101)), 95, 95.0, id="p95-of-0-to-100"),
        pytest.param([10.0, 20.0], 0, 10.0, id="p0-is-min"),
        pytest.param([10.0, 20.0], 100, 20.0, id="p100-is-max"),
        pytest.param([0.0, 10.0], 99, 9.9, id="p99-between-two"),
    ],
)
def test_percentile(values: list[float], q: float, expected: float) -> None:
    assert metrics.percentile(values, q) == pytest.approx(expected)


def test_percentile_of_nothing_is_none_and_bad_q_is_refused() -> None:
    assert metrics.percentile([], 50) is None
    with pytest.raises(ValueError):
        metrics.percentile([1.0], 101)


def test_ratios_over_zero_are_none_not_infinite_or_zero() -> None:
    assert metrics.ratio(10, 4) == 2.5
    assert metrics.ratio(0, 4) == 0
    assert metrics.ratio(10, 0) is None
    assert metrics.ratio(0, 0) is None
    assert metrics.per_client_per_minute(600, clients=20, duration_s=30) == 60
    assert metrics.per_client_per_minute(600, clients=0, duration_s=30) is None
    assert rounded(None) is None
    assert rounded(1 / 3, 2) == 0.33


def test_accounting_of_a_perfect_receiver() -> None:
    account = account_deliveries([4, 5, 6], [4, 5, 6])
    assert account == DeliveryAccount(expected=3, deliveries=3)
    assert account.clean


def test_accounting_counts_lost_duplicate_and_out_of_order_separately() -> None:
    # 5 arrives twice (one duplicate), 3 arrives after 4 (out of order), 6 never arrives
    # though 7 did (lost: passed by).
    account = account_deliveries([2, 3, 4, 5, 6, 7], [2, 4, 3, 5, 5, 7])
    assert account.expected == 6
    assert account.deliveries == 5
    assert (account.lost, account.in_flight) == (1, 0)
    assert account.duplicates == 1
    assert account.out_of_order == 1
    assert not account.clean


def test_a_missing_message_newer_than_all_that_arrived_is_in_flight_not_lost() -> None:
    # 4 was skipped: 5 came after it. 6 and 7 are behind the receiver's newest: on their way.
    anomalies = deliveries.delivery_anomalies([3, 4, 5, 6, 7], [3, 5])
    assert (anomalies.lost, anomalies.in_flight) == ([4], [6, 7])
    account = account_deliveries([3, 4, 5, 6, 7], [3, 5])
    assert (account.deliveries, account.in_flight, account.lost) == (2, 2, 1)
    assert account.deliveries + account.in_flight + account.lost == account.expected


def test_messages_only_in_flight_leave_the_account_clean() -> None:
    account = account_deliveries([1, 2, 3], [1])
    assert (account.in_flight, account.lost) == (2, 0) and account.clean
    nothing_yet = account_deliveries([1, 2], [])
    assert (nothing_yet.in_flight, nothing_yet.lost) == (2, 0)
    assert "lost 0, in flight 2" in nothing_yet.describe()


def test_a_newer_message_received_unexpected_still_makes_an_older_missing_one_lost() -> None:
    # 9 arrived though the accounting's history stopped at 3 (stored later): 3 was passed by.
    account = account_deliveries([1, 2, 3], [1, 2, 9])
    assert (account.lost, account.in_flight) == (1, 0)


def test_accounting_ignores_unexpected_ids_for_loss_but_not_for_order() -> None:
    account = account_deliveries([1, 2], [1, 2, 9, 3])
    assert (account.deliveries, account.lost, account.out_of_order) == (2, 0, 1)


def test_nothing_expected_nothing_received_is_clean() -> None:
    assert account_deliveries([], []) == DeliveryAccount()


def test_total_account_adds_receivers_lines() -> None:
    lines = [
        {**account_deliveries([1, 2], [1, 2]).as_dict(), "latencies_ms": [1.0]},
        {**account_deliveries([1, 2, 3], [1, 1, 3]).as_dict(), "sent": 4},
        {**account_deliveries([1, 2, 3], [1]).as_dict()},
    ]
    total = deliveries.total_account(lines)
    assert total == DeliveryAccount(expected=8, deliveries=5, in_flight=2, lost=1, duplicates=1)
    old_line = {"expected": 2, "deliveries": 1, "lost": 1, "duplicates": 0, "out_of_order": 0}
    assert deliveries.total_account([old_line]).in_flight == 0  # written before in_flight


def test_cdf_keeps_small_samples_whole_and_ends_at_one() -> None:
    points = metrics.cdf_points([30.0, 10.0, 20.0])
    assert points == [[10.0, 0.0], [20.0, 0.5], [30.0, 1.0]]
    assert metrics.cdf_points([7.0]) == [[7.0, 0.0]]
    assert metrics.cdf_points([]) == []


def test_cdf_downsamples_large_samples_to_at_most_101_ascending_points() -> None:
    values = [float(v % 997) for v in range(5000)]
    points = metrics.cdf_points(values)
    assert len(points) == metrics.CDF_MAX_POINTS
    fractions = [fraction for _, fraction in points]
    latencies = [ms for ms, _ in points]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert fractions == sorted(fractions) and latencies == sorted(latencies)
    assert latencies[0] == min(values) and latencies[-1] == max(values)
    assert points[50][0] == pytest.approx(metrics.percentile(values, 50), abs=0.01)


def test_latency_summary_of_nothing_has_the_keys_and_no_numbers() -> None:
    empty = metrics.latency_summary([])
    assert set(empty) == {"p50", "p95", "p99", "max", "mean", "cdf"}
    assert empty["p50"] is None and empty["cdf"] == []
    full = metrics.latency_summary([1.0, 2.0, 3.0, 4.0])
    assert (full["p50"], full["max"], full["mean"]) == (2.5, 4.0, 2.5)


def test_scenario_travels_to_locust_through_the_environment() -> None:
    assert Scenario.from_env(CHAT.to_env()) == CHAT
    assert Scenario.from_env(FANOUT.to_env()) == FANOUT
    assert Scenario.from_env({}).name == "chat"  # make locust: the chat, without an end


def test_rooms_and_senders() -> None:
    assert [CHAT.room_of(i) for i in (0, 9, 10, 19)] == [0, 0, 1, 1]
    assert all(CHAT.sends(i) for i in range(20))
    assert [FANOUT.room_of(i) for i in (0, 49)] == [0, 0]
    assert [FANOUT.sends(i) for i in (0, 1, 10)] == [True, False, False]
    assert [IDLE.sends(i) for i in (0, 1, 10, 11)] == [True, False, True, False]


def test_profiles_quick_is_the_chat_only_and_full_sweeps_upward() -> None:
    quick = profile_runs(PROFILES["quick"], clients=None, duration_s=None)
    assert [name for name, _ in quick] == ["chat"]
    assert (quick[0][1].clients, quick[0][1].duration_s) == (20, 30)
    resized = profile_runs(PROFILES["quick"], clients=4, duration_s=6)
    assert (resized[0][1].clients, resized[0][1].duration_s) == (4, 6)
    full = profile_runs(PROFILES["full"], clients=None, duration_s=None)
    assert [name for name, _ in full][:3] == ["chat", "idle", "fanout"]
    sweep = [scenario.clients for name, scenario in full if name == "sweep"]
    assert sweep[0] == 10 and sweep == sorted(sweep) and len(sweep) >= 3


def test_a_failed_strategy_has_every_key_and_no_numbers_to_chart() -> None:
    from benchmarks.run.locust_run import failed_result
    from benchmarks.run.runner import summary_table

    result = failed_result(CHAT, None, "the verify step did not deliver every message")
    assert result["status"] == "failed" and result["failure"]
    assert result["verify"]["ok"] is False
    assert result["requests_per_delivery"] is None and result["delivery_ms"]["p50"] is None
    assert result["lost"] is None  # unknown, not "0 lost"
    table = summary_table({"scenarios": {"chat": {"websocket": result}}})
    assert "failed" in table and "websocket" in table


def test_a_message_carries_a_unique_id_and_its_send_time() -> None:
    import time

    before = time.time() * 1000
    first, second = deliveries.message_text(), deliveries.message_text()
    assert first != second and first.split()[1] != second.split()[1]
    sent = deliveries.sent_at_ms(first)
    assert sent is not None and before - 1 <= sent <= time.time() * 1000 + 1
    assert deliveries.sent_at_ms("hello there") is None
    assert deliveries.sent_at_ms("bench abc not-a-number") is None


def test_redis_command_count_leaves_out_the_probes_own_info_calls() -> None:
    import redis

    from benchmarks.run.probes import redis_command_calls
    from lab.embedded_redis import start_embedded_redis

    server = start_embedded_redis()
    try:
        client = redis.Redis(unix_socket_path=str(server.socket_path))
        before = redis_command_calls(client)
        for number in range(5):
            client.set(f"key-{number}", number)
        client.info("clients")
        assert redis_command_calls(client) - before == 5
        client.close()
    finally:
        server.stop()


BURNER = """
import subprocess, sys
child = '''
import sys, time
sys.stdin.readline()                    # wait for "go": the sampler is watching by now
start = time.process_time()
while time.process_time() - start < 1.0:
    pass                                # exactly one CPU-second, however busy the machine
sys.stdin.readline()                    # stay alive (and sampled) until told to go
'''
subprocess.run([sys.executable, "-c", child])
"""


@pytest.mark.slow
def test_load_sampler_counts_the_cpu_time_of_the_whole_process_tree() -> None:
    """A parent that waits and a child that burns exactly one CPU-second: the sampler
    attributes about one CPU-second to the tree and to its busiest process. CPU time, not a
    percentage of wall time, so the machine's load does not change the answer."""
    import subprocess
    import sys

    import redis

    from benchmarks.run.probes import LoadSampler, process_tree
    from lab.embedded_redis import start_embedded_redis
    from tests.waiting import wait_until

    server = start_embedded_redis()
    parent = subprocess.Popen([sys.executable, "-c", BURNER], stdin=subprocess.PIPE, text=True)
    assert parent.stdin is not None
    try:
        wait_until(lambda: len(process_tree(parent.pid)) == 2, "the child has started", 30)
        (child,) = set(process_tree(parent.pid)) - {parent.pid}
        client = redis.Redis(unix_socket_path=str(server.socket_path))
        sampler = LoadSampler(client, parent.pid, window=(0.0, 600.0)).start()
        wait_until(lambda: bool(sampler.samples), "the first sample", 30)
        before = sampler.samples[0].cpu_s[child]
        parent.stdin.write("go\n")
        parent.stdin.flush()
        # /proc counts CPU in 10 ms ticks: a second burnt may read as 0.99 s
        wait_until(
            lambda: sampler.samples[-1].cpu_s.get(child, 0.0) - before >= 0.97,
            "a sample shows the child's CPU-second",
            60,
        )
        sampler.stop()
        tree_percent, busiest_percent = sampler.locust_cpu_percent()
        assert tree_percent is not None and busiest_percent is not None
        alive = [sample for sample in sampler.samples if parent.pid in sample.cpu_s]
        wall_s = alive[-1].at - alive[0].at
        tree_cpu_s, busiest_cpu_s = tree_percent * wall_s / 100, busiest_percent * wall_s / 100
        assert 0.97 <= busiest_cpu_s <= tree_cpu_s < 1.3  # the burn, and the parent's little
        assert sampler.redis_clients_peak == 0  # only the sampler's own connection
        client.close()
    finally:
        parent.stdin.close()
        parent.kill()
        parent.wait()
        server.stop()
