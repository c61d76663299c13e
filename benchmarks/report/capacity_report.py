"""The capacity section of report.md: clients at the SLO, every step, and why each broke.

Each technique's explanation follows what its design spends a server core on
(``Strategy.capacity_driver``), and is checked against the step figures the way
the short-polling interval prediction is checked in the main reading:

- ``polls``: requests/s = clients / interval, so one core is full at about
  interval / (server CPU per request) clients;
- ``requests per delivery``: every delivery answers a held request that is asked
  again, so requests/s ≈ deliveries/s + sends/s;
- ``deliveries``: the cost follows deliveries/s (CPU per delivery times deliveries/s),
  not the number of idle connections.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from benchmarks.report.chart_parts import strategy_title
from benchmarks.report.charts import capacity_steps, capacity_table
from benchmarks.results.summary import Summary, format_number, latency, number
from benchmarks.run.scenarios import CAPACITY_LOADS
from strategies import STRATEGIES

AGREEMENT = 0.2
"""A prediction agrees when the measured figure is within 20 % of it."""
STEP_HEADERS = (
    "clients", "verdict", "p95 ms", "deliveries/s", "lost", "in flight", "requests/s",
    "server CPU %", "CPU ms/request", "CPU ms/delivery", "server MB", "server fds",
    "Locust CPU %",
)  # fmt: skip
BEFORE_IN_FLIGHT = (
    "This run is older than the in-flight count: its `lost` includes messages that were "
    "still on their way when the clients stopped, so a step that broke on loss may only "
    "have been late."
)


def capacity_section(summary: Summary) -> list[str]:
    """``## Capacity at the SLO``: the summary table, the reading, then every step."""
    table = capacity_table(summary)
    if not table:
        return []
    config: Mapping[str, Any] = summary.get("config") or {}
    lines = [
        "## Capacity at the SLO",
        "",
        "A step passes while delivery p95 ≤ its SLO (500 ms; short polling: plus one poll "
        "interval), nothing is lost, duplicated or reordered, no request fails and Locust "
        "stays below 90 % of its core. A message still in flight when the clients stopped "
        "(after the drain window) is late, not lost: it counts in the p95 at its age then. "
        "`generator` means Locust saturated first: the server's own limit is higher than "
        "the run could show.",
        "",
        "| strategy | load | clients at SLO | what broke | deliveries/s at SLO "
        "| server CPU % at SLO |",
        "|---|---|---:|---|---:|---:|",
    ]
    for key, loads in table.items():
        for load, figures in loads.items():
            broke = figures.get("broke") or "nothing (every step passed)"
            at = number(figures, "broke_at_clients")
            lines.append(
                f"| {strategy_title(key)} | {load} "
                f"| {format_number(number(figures, 'clients_at_slo'))} "
                f"| {broke}{f' at {at:,.0f} clients' if at is not None else ''} "
                f"| {format_number(number(figures, 'deliveries_per_s_at_slo'))} "
                f"| {format_number(number(figures, 'server_cpu_percent_at_slo'))} |"
            )
    if not knows_in_flight(table):
        lines += ["", BEFORE_IN_FLIGHT]
    lines += ["", "### Why each technique broke where it did", ""]
    for key, loads in table.items():
        for load, figures in loads.items():
            lines.append("- " + " ".join(why_it_broke(key, load, figures, config)))
    for key, loads in table.items():
        for load, figures in loads.items():
            lines += ["", f"### {strategy_title(key)}, {load} load: every step", ""]
            lines += steps_table(capacity_steps(figures))
    return ["\n".join(lines)]


def steps_table(steps: Sequence[Mapping[str, Any]]) -> list[str]:
    rows = ["| " + " | ".join(STEP_HEADERS) + " |", "|" + "---:|" * len(STEP_HEADERS)]
    for step in steps:
        verdict = "passed" if step.get("passed") else f"broke: {step.get('broke')}"
        cells = [
            format_number(number(step, "clients")), verdict,
            format_number(latency(step, "p95")),
            *(format_number(number(step, name)) for name in (
                "deliveries_per_s", "lost", "in_flight", "http_requests_per_s",
                "server_cpu_percent", "server_cpu_ms_per_request", "server_cpu_ms_per_delivery",
                "server_rss_mb_peak", "server_fds_peak", "locust_cpu_percent",
            )),
        ]  # fmt: skip
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def knows_in_flight(table: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> bool:
    """Whether the run's held steps count messages in flight apart from lost ones."""
    held = [
        step
        for loads in table.values()
        for figures in loads.values()
        for step in capacity_steps(figures)
        if step.get("deliveries") is not None
    ]
    return all("in_flight" in step for step in held)


def agrees(predicted: float, low: float, high: float | None) -> bool:
    """Does ``predicted`` fall where the measured limit lies (``low`` .. ``high``), ±20 %?"""
    upper = high if high is not None else float("inf")
    return low * (1 - AGREEMENT) <= predicted <= upper * (1 + AGREEMENT)


def why_it_broke(
    key: str, load: str, figures: Mapping[str, Any], config: Mapping[str, Any]
) -> list[str]:
    """Plain sentences: where the steps ended, the design's arithmetic, and its check."""
    steps = capacity_steps(figures)
    passing = [step for step in steps if step.get("passed")]
    last = passing[-1] if passing else None
    broke_step = steps[-1] if steps and not steps[-1].get("passed") else None
    held = number(figures, "clients_at_slo") or 0.0
    broke = figures.get("broke")
    title = f"**{strategy_title(key)}, {load}:**"
    if not steps:
        return [title, "no step was measured."]
    ending = (
        f"held {held:,.0f} clients; every step passed, so its limit lies beyond this run."
        if broke is None
        else f"held {held:,.0f} clients and broke on {broke}"
        + (f" at {number(broke_step, 'clients'):,.0f}." if broke_step else ".")
    )
    sentences = [title, ending]
    if broke == "generator":
        sentences.append(
            "Locust, not the server, was the limit (a faster generator or more Locust workers "
            "would show the server's own)."
        )
    reference = last or broke_step
    assert reference is not None
    driver = STRATEGIES[key].capacity_driver if key in STRATEGIES else "deliveries"
    server_limit = broke_step if broke != "generator" else None
    if driver == "polls":
        sentences += polls_explained(reference, held, server_limit, config)
    else:
        sentences += DRIVER_EXPLAINED[driver](reference, load, config)
        sentences.append(core_full_sentence(reference, held, server_limit))
    sentences += memory_explained(steps)
    return sentences


def polls_explained(
    step: Mapping[str, Any],
    held: float,
    broke_step: Mapping[str, Any] | None,
    config: Mapping[str, Any],
) -> list[str]:
    interval_ms = number(config, "poll_interval_ms")
    clients = number(step, "clients")
    per_request = number(step, "server_cpu_ms_per_request")
    requests = number(step, "http_requests_per_s")
    if not (interval_ms and clients and per_request and requests):
        return ["Every client asks once per poll interval, whether or not anyone wrote."]
    expected_requests = clients * 1000 / interval_ms
    predicted = interval_ms / per_request
    broke_at = number(broke_step, "clients") if broke_step else None
    if broke_at is None:
        check = "cannot be checked by this run, which found no server limit"
    elif agrees(predicted, held, broke_at):
        check = f"agrees with it within {AGREEMENT:.0%}"
    else:
        check = f"does not agree with it within {AGREEMENT:.0%}"
    return [
        f"Every client asks once per {interval_ms:g} ms whether or not anyone wrote, so "
        f"requests/s = clients / interval: at {clients:,.0f} clients "
        f"{expected_requests:,.0f}/s predicted (plus the sends), {requests:,.0f}/s measured.",
        f"At {per_request:.3g} ms of server CPU per request, one core is full at "
        f"{interval_ms:g} / {per_request:.3g} ≈ {predicted:,.0f} clients; the measured limit "
        f"(held {held:,.0f}"
        + (f", broke at {broke_at:,.0f}" if broke_at is not None else "")
        + f") {check}.",
    ]


def requests_per_delivery_explained(step: Mapping[str, Any], load: str) -> list[str]:
    deliveries = number(step, "deliveries_per_s")
    requests = number(step, "http_requests_per_s")
    clients = number(step, "clients")
    if not (deliveries and requests and clients):
        return ["Every delivery answers a held request, which the client then asks again."]
    room_size = CAPACITY_LOADS[load].room_size or clients
    expected = deliveries + deliveries / room_size  # each message is also one POST
    check = "agrees" if abs(requests - expected) <= AGREEMENT * expected else "does not agree"
    return [
        "Every delivery answers a held request, which the client then asks again: "
        f"requests/s ≈ deliveries/s + sends/s = {expected:,.0f}/s predicted at "
        f"{clients:,.0f} clients, {requests:,.0f}/s measured ({check} within {AGREEMENT:.0%}; "
        "fewer when one answer carries several messages). In busy rooms that is a whole "
        "HTTP request, routing and all, per message per client.",
    ]


def checks_explained(step: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    """The naive loop: a store query per held request per check interval, messages or not."""
    check_ms = number(config, "naive_poll_ms")
    clients = number(step, "clients")
    cpu = number(step, "server_cpu_percent")
    if not (check_ms and clients and cpu):
        return ["Every held request asks the database again and again until a message exists."]
    checks = clients * 1000 / check_ms
    return [
        f"Every held request asks the database every {check_ms:g} ms until a message exists, "
        "so the work grows with the clients waiting, not with the messages: at "
        f"{clients:,.0f} clients up to {checks:,.0f} queries/s whether or not anyone wrote "
        f"(fewer when answers come sooner), {cpu * 10 / checks:.3g} ms of server CPU each "
        "at most."
    ]


def deliveries_explained() -> list[str]:
    return [
        "An open connection costs nothing while the room is silent; the work is pushing each "
        "message down each socket, so CPU follows deliveries/s, not clients."
    ]


Explainer = Callable[[Mapping[str, Any], str, Mapping[str, Any]], list[str]]
DRIVER_EXPLAINED: dict[str, Explainer] = {
    "requests per delivery": lambda step, load, config: requests_per_delivery_explained(step, load),
    "checks": lambda step, load, config: checks_explained(step, config),
    "deliveries": lambda step, load, config: deliveries_explained(),
}
"""What each ``Strategy.capacity_driver`` but ``polls`` says about a step the core held, before
the core-full arithmetic they share (polls have their own)."""


def core_full_sentence(
    step: Mapping[str, Any], held: float, broke_step: Mapping[str, Any] | None
) -> str:
    """CPU per delivery in the hold, and the clients at which one core would be full."""
    deliveries = number(step, "deliveries_per_s")
    cpu = number(step, "server_cpu_percent")
    clients = number(step, "clients")
    if not (deliveries and cpu and clients):
        return ""
    predicted = clients * 100 / cpu
    broke_at = number(broke_step, "clients") if broke_step else None
    if broke_at is None:
        check = "this run found no server limit to check it against"
    elif agrees(predicted, held, broke_at):
        check = f"the measured limit agrees within {AGREEMENT:.0%}"
    else:
        check = (
            f"the measured limit does not agree within {AGREEMENT:.0%}: something other than "
            "CPU (the event loop's latency, Redis, the join storm) broke it first"
        )
    return (
        f"At {clients:,.0f} clients the server spent {cpu:.0f} % of a core on "
        f"{deliveries:,.0f} deliveries/s ({cpu * 10 / deliveries:.3g} ms each), so one core "
        f"would be full near {predicted:,.0f} clients; {check}."
    )


def memory_explained(steps: Sequence[Mapping[str, Any]]) -> list[str]:
    """Server memory per added client, from the first and last step that recorded it."""
    measured = [
        (clients, rss)
        for step in steps
        if (clients := number(step, "clients")) is not None
        and (rss := number(step, "server_rss_mb_peak")) is not None
    ]
    if len(measured) < 2 or measured[-1][0] == measured[0][0]:
        return []
    (first_clients, first_rss), (last_clients, last_rss) = measured[0], measured[-1]
    per_client_kb = (last_rss - first_rss) * 1024 / (last_clients - first_clients)
    return [
        f"Server memory grew {per_client_kb:,.0f} KB per added client "
        f"({first_rss:,.0f} MB at {first_clients:,.0f}, {last_rss:,.0f} MB at "
        f"{last_clients:,.0f})."
    ]
