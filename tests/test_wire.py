"""The wire page's bytes (docs/wire.md, strategies/wire.py): captured from the suite's real
server and compared with the committed ``docs/_generated/wire-KEY.txt``, so a change in what
the server sends makes the page fail here instead of going stale.

To rewrite the committed captures after a deliberate change (the same server as the check):
``PUSHLAB_WRITE_WIRE=1 .venv/bin/python -m pytest tests/test_wire.py`` and commit the result.
"""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

import pytest

from lab import cli
from lab.serverproc import ServerProcess, free_port
from strategies import STRATEGIES, wire

REPO = Path(__file__).resolve().parent.parent
PAGES = [REPO / "docs" / "wire.md", REPO / "docs" / "ru" / "wire.md"]


def test_the_accept_value_is_rfc_6455s_for_its_sample_key() -> None:
    """RFC 6455, section 1.3 states this pair; the page computes the right side from the left."""
    assert wire.accept_value("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


@pytest.mark.parametrize(
    ("opcode", "payload", "mask", "expected"),
    [
        (0x1, b"Hello", None, "81 05 48 65 6c 6c 6f"),
        (0x1, b"Hello", bytes.fromhex("37fa213d"), "81 85 37 fa 21 3d 7f 9f 4d 51 58"),
        (0xA, b"Hello", None, "8a 05 48 65 6c 6c 6f"),
    ],
    ids=["unmasked-text", "masked-text", "pong"],
)
def test_frames_are_rfc_6455s_examples_byte_for_byte(
    opcode: int, payload: bytes, mask: bytes | None, expected: str
) -> None:
    """Section 5.7's examples; each parses back to its fields."""
    raw = wire.frame_bytes(opcode, payload, mask)
    assert raw.hex(" ") == expected
    frame = wire.parse_frame(raw)
    assert (frame.fin, frame.opcode, frame.masked, frame.payload) == (
        True,
        opcode,
        bool(mask),
        payload,
    )


@pytest.mark.parametrize(
    ("size", "header"), [(256, "82 7e 01 00"), (65536, "82 7f 00 00 00 00 00 01 00 00")]
)
def test_long_payloads_carry_their_length_in_2_or_8_more_bytes(size: int, header: str) -> None:
    frame = wire.parse_frame(wire.frame_bytes(0x2, bytes(size), None))
    assert frame.raw[: frame.header_size].hex(" ") == header
    assert len(frame.payload) == size


def test_normalising_keeps_every_length_true() -> None:
    """Each volatile value becomes a placeholder of its own width (the port aside)."""
    text = (
        '"author": "guest-3fa9c1", "created_at": "2026-12-07T15:30:11.927749+00:00"\n'
        "Date: Mon, 07 Dec 2026 15:30:12 GMT\nSet-Cookie: csrftoken=Ab12Cd34; Path=/\n"
    )
    shown = wire.normalised(text)
    assert "guest-3fa9c1" not in shown and "2026" not in shown and "Ab12Cd34" not in shown
    assert len(shown) == len(text)
    assert wire.normalised("Host: 127.0.0.1:54321") == "Host: 127.0.0.1:8000"


@pytest.mark.parametrize("key", list(STRATEGIES))
def test_the_committed_capture_is_what_the_server_sends(
    key: str, live_server_process: ServerProcess
) -> None:
    captured = wire.committed_capture(live_server_process.url, key)
    committed = wire.committed_file(key)
    if os.environ.get("PUSHLAB_WRITE_WIRE") == "1":
        committed.write_text(captured, encoding="utf-8")
    assert committed.read_text(encoding="utf-8") == captured, (
        f"{committed.relative_to(REPO)} is stale: rewrite it (this module's docstring)"
    )


def test_every_capture_is_on_both_wire_pages_and_only_the_registrys() -> None:
    committed = {path.name for path in wire.GENERATED.glob("wire-*.txt")}
    assert committed == {wire.committed_file(key).name for key in STRATEGIES}
    for page in PAGES:
        included = set(re.findall(r'--8<-- "(wire-[\w-]+\.txt)"', page.read_text("utf-8")))
        assert included == committed, page


def test_the_committed_websocket_handshake_proves_the_key_was_read() -> None:
    """The page's accept value is the one RFC 6455 computes from the page's key."""
    text = wire.committed_file("websocket").read_text(encoding="utf-8")
    assert f"Sec-WebSocket-Key: {wire.SAMPLE_KEY}\\r\\n" in text
    assert f"Sec-WebSocket-Accept: {wire.accept_value(wire.SAMPLE_KEY)}\\r\\n" in text
    assert "(the same as the server's Sec-WebSocket-Accept)" in text


def test_pushlab_wire_prints_a_live_rooms_bytes(
    live_server_process: ServerProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command against a running server, in this process (it is only a client)."""
    argv = ["wire", "wire-cli", "--strategy", "websocket", "--url", live_server_process.url]
    assert cli.main(argv) == 0
    shown = capsys.readouterr().out
    assert "< HTTP/1.1 101 Switching Protocols\\r\\n" in shown
    assert "opcode=0x1 (text)" in shown and "opcode=0xa (pong)" in shown
    assert "payload: close code 1000" in shown
    assert re.search(r'"room": "wire-cli", "author": "guest-[0-9a-f]{16}"', shown), shown


def test_a_held_request_is_checked_to_be_held(monkeypatch: pytest.MonkeyPatch) -> None:
    """A capture says the server held a request only if nothing came back meanwhile."""

    async def no_post(_: wire.Target) -> None:
        return None

    async def answered_at_once() -> wire.Record:
        done: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        done.set_result(b"HTTP/1.1 200 OK\r\n\r\n")
        return await wire.until_posted(wire.Target("127.0.0.1", 1, "r"), done)

    monkeypatch.setattr(wire, "post_message", no_post)
    assert "answered before" in asyncio.run(answered_at_once()).note


def test_the_frame_header_sizes_the_page_states() -> None:
    """docs/wire.md's byte counts (tests/prose_figures.toml): a length up to 125 bytes fits the
    second byte, a longer one takes the next 2 bytes, and a client's masking key is 4 bytes."""
    assert wire.parse_frame(wire.frame_bytes(0x1, bytes(125), None)).header_size == 2
    assert wire.parse_frame(wire.frame_bytes(0x1, bytes(126), None)).header_size == 2 + 2
    assert wire.parse_frame(wire.frame_bytes(0x1, b"x")).header_size == 2 + 4
    assert len(wire.MASKING_KEY) == 4


def test_pushlab_wire_without_a_server_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert cli.main(["wire", "lobby", "--strategy", "sse", "--url", url]) == 1
    assert capsys.readouterr().err.startswith(f"pushlab wire: {url}: ")


def test_a_refused_step_names_what_the_server_answered() -> None:
    with pytest.raises(wire.WireError, match=r"expected 101, the server answered:\nHTTP/1\.1 403"):
        wire.expect(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", 101)
