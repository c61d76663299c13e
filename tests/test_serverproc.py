import json
import urllib.request


def test_server_process_serves_and_counts(live_server_process):
    before = live_server_process.metrics()
    with urllib.request.urlopen(live_server_process.url + "/api/rooms/probe/messages") as answer:
        assert json.load(answer) == {"messages": [], "last_id": 0}
    after = live_server_process.metrics()
    assert after["pid"] == live_server_process.pid
    assert after["http_opened"] >= before["http_opened"] + 2
