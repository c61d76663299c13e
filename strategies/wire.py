"""The wire: the bytes one message takes with each technique, captured from a running server.

``pushlab wire ROOM --strategy KEY`` prints them for a live room; tests/test_wire.py captures
every technique from the suite's server and checks the result against the committed
``docs/_generated/wire-KEY.txt`` that docs/wire.md shows. The client here is hand-rolled on
asyncio streams on purpose: it writes each HTTP request and WebSocket frame byte by byte
(FIN, opcode, mask bit, length, masking key) so that a student sees them; a library such as
``websockets`` would hide exactly that (docs/decisions.md, "The wire page").

Which endpoint and what kind of exchange come from the registry (``Strategy.hot_path``): a
``poll`` is one GET, a ``wait`` a held GET, a ``stream`` a held response read chunk by chunk,
a ``broadcast`` a WebSocket.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import re
import struct
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from strategies import STRATEGIES

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
"""RFC 6455's fixed string: the accept value is base64(SHA-1(key + GUID))."""
SAMPLE_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
"""RFC 6455's own sample ``Sec-WebSocket-Key`` (section 1.3), so the capture is reproducible;
a browser sends 16 fresh random bytes instead."""
MASKING_KEY = bytes.fromhex("37fa213d")
"""RFC 6455's example masking key (section 5.7); a browser draws a new one for every frame."""
CLIENT_ID = "wire-1"
"""The ``client_id`` the captured message carries (``lab.chat.clean_client_id``)."""
TEXT = "hello"
PING_PAYLOAD = b"are you there?"
HOLD_S = 0.3
"""How long a held request (or a stream) must stay unanswered before the message is posted:
the capture checks that the server really holds it."""
READ_TIMEOUT_S = 10.0
OPCODES = {0x0: "continuation", 0x1: "text", 0x2: "binary", 0x8: "close", 0x9: "ping", 0xA: "pong"}
GENERATED = Path(__file__).resolve().parent.parent / "docs" / "_generated"

Direction = Literal["client", "server", "note"]


@dataclass(frozen=True)
class Record:
    """One piece of a transcript: bytes a side sent (an HTTP head and body, one chunk of a
    streamed body, one WebSocket frame), or a note on what happened between them."""

    direction: Direction
    kind: Literal["http", "chunk", "frame", "note"]
    raw: bytes = b""
    note: str = ""


@dataclass
class Target:
    """A running server and a room on it; ``cookies`` are the posting session's."""

    host: str
    port: int
    room: str
    cookies: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, url: str, room: str) -> Target:
        parts = urlsplit(url)
        return cls(parts.hostname or "127.0.0.1", parts.port or 80, room)

    @property
    def authority(self) -> str:
        return f"{self.host}:{self.port}"


def accept_value(key: str) -> str:
    """``Sec-WebSocket-Accept`` for ``key`` (RFC 6455, section 4.2.2): the server proves it
    read this handshake, and a cache or proxy cannot replay an old one."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


# --- HTTP/1.1, by hand ------------------------------------------------------------------------


def http_request(target: Target, method: str, path: str, headers: Sequence[str] = ()) -> bytes:
    """A request head as a browser's fetch would send it, less the headers nobody reads."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {target.authority}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def read_head(reader: asyncio.StreamReader) -> bytes:
    """The status line and headers, up to and including the empty line."""
    return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT_S)


def header(head: bytes, name: str) -> str | None:
    """One header's value from a head (the first, case-insensitive), or None."""
    found = re.search(rf"^{name}:[ \t]*(.*?)\r$", head.decode("latin-1"), re.I | re.M)
    return found.group(1) if found else None


async def read_response(reader: asyncio.StreamReader) -> bytes:
    """A whole response with a ``Content-Length`` body: head and body, as received."""
    head = await read_head(reader)
    if (header(head, "Transfer-Encoding") or "").lower() == "chunked":
        body = chunk = b""
        while chunk != b"0\r\n\r\n":  # the last chunk is empty
            chunk = await read_chunk(reader)
            body += chunk
        return head + body
    length = int(header(head, "Content-Length") or 0)
    return head + await asyncio.wait_for(reader.readexactly(length), READ_TIMEOUT_S)


async def read_chunk(reader: asyncio.StreamReader) -> bytes:
    """One chunk of a ``Transfer-Encoding: chunked`` body: its size line in hex, its data and
    the CRLF after it, as received."""
    size_line = await asyncio.wait_for(reader.readuntil(b"\r\n"), READ_TIMEOUT_S)
    size = int(size_line.split(b";")[0], 16)
    return size_line + await asyncio.wait_for(reader.readexactly(size + 2), READ_TIMEOUT_S)


async def exchange(target: Target, request: bytes, body: bytes = b"") -> bytes:
    """Send one request on a connection of its own and read its whole answer."""
    reader, writer = await asyncio.open_connection(target.host, target.port)
    try:
        writer.write(request + body)
        await writer.drain()
        return await read_response(reader)
    finally:
        writer.close()


class WireError(Exception):
    """The server answered something the capture cannot go on from (a refusal, an error)."""


def expect(response: bytes, wanted: int) -> bytes:
    """``response`` if its status is ``wanted``; else a ``WireError`` showing its head."""
    if int(response.split(b" ", 2)[1]) != wanted:
        head = response.partition(b"\r\n\r\n")[0].decode("latin-1")
        raise WireError(f"expected {wanted}, the server answered:\n{head}")
    return response


def body_of(response: bytes) -> bytes:
    return response.partition(b"\r\n\r\n")[2]


async def open_session(target: Target) -> None:
    """Open the room's page, as a browser does first: the session and CSRF cookies a post
    needs."""
    page = await exchange(target, http_request(target, "GET", f"/chat/{target.room}/"))
    expect(page, 200)
    for line in page.partition(b"\r\n\r\n")[0].decode("latin-1").split("\r\n"):
        if line.lower().startswith("set-cookie:"):
            name, _, value = line.split(":", 1)[1].strip().split(";")[0].partition("=")
            target.cookies[name] = value


async def post_message(target: Target) -> None:
    """Post the message the capture follows, as a page's fetch does (not part of the
    transcript: every technique but WebSocket sends this same POST)."""
    body = json.dumps({"message": TEXT, "client_id": CLIENT_ID}).encode()
    cookie = "; ".join(f"{name}={value}" for name, value in target.cookies.items())
    headers = [
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        f"Cookie: {cookie}",
        f"X-CSRFToken: {target.cookies.get('csrftoken', '')}",
    ]
    path = f"/api/rooms/{target.room}/messages"
    expect(await exchange(target, http_request(target, "POST", path, headers), body), 201)


async def newest_id(target: Target) -> int:
    """The room's newest message id, page by page, so a live room's capture waits for the
    next message instead of reading its history."""
    after = 0
    while True:
        path = f"/api/rooms/{target.room}/messages?after={after}"
        answer = expect(await exchange(target, http_request(target, "GET", path)), 200)
        page = json.loads(body_of(answer))
        if not page["messages"]:
            return after
        after = int(page["last_id"])


# --- WebSocket frames, by hand (RFC 6455, section 5.2) ----------------------------------------


@dataclass(frozen=True)
class Frame:
    """One frame as it crossed the wire (``raw``) and its fields; ``payload`` unmasked."""

    raw: bytes
    fin: bool
    opcode: int
    masked: bool
    payload: bytes

    @property
    def header_size(self) -> int:
        return len(self.raw) - len(self.payload)


def apply_mask(data: bytes, key: bytes) -> bytes:
    """XOR with the 4-byte key, repeated: masking and unmasking are the same operation."""
    return bytes(byte ^ key[i % 4] for i, byte in enumerate(data))


def frame_bytes(opcode: int, payload: bytes, mask: bytes | None = MASKING_KEY) -> bytes:
    """One final frame: byte 1 is FIN and the opcode, byte 2 the mask bit and the length (126
    or 127: the length follows in 2 or 8 bytes), then the masking key and the payload. A
    client masks every frame it sends, a server none."""
    head = bytes([0x80 | opcode])
    mask_bit = 0x80 if mask else 0
    if len(payload) < 126:
        head += bytes([mask_bit | len(payload)])
    elif len(payload) < 1 << 16:
        head += bytes([mask_bit | 126]) + struct.pack("!H", len(payload))
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", len(payload))
    return head + (mask + apply_mask(payload, mask) if mask else payload)


def parse_frame(raw: bytes) -> Frame:
    """The fields of one whole frame: FIN, opcode, mask bit, length (7 bits, or 126/127 and
    2 or 8 more bytes), masking key, payload (unmasked here)."""
    length, at = raw[1] & 0x7F, 2
    if length >= 126:
        width = 2 if length == 126 else 8
        length, at = int.from_bytes(raw[2 : 2 + width], "big"), 2 + width
    masked = bool(raw[1] & 0x80)
    key = raw[at : at + 4] if masked else b""
    data = raw[at + len(key) : at + len(key) + length]
    payload = apply_mask(data, key) if masked else data
    return Frame(raw, bool(raw[0] & 0x80), raw[0] & 0x0F, masked, payload)


async def read_frame(reader: asyncio.StreamReader) -> Frame:
    """Read one frame and keep its bytes exactly as they came."""

    async def take(count: int) -> bytes:
        return await asyncio.wait_for(reader.readexactly(count), READ_TIMEOUT_S)

    raw = await take(2)
    length = raw[1] & 0x7F
    if length >= 126:
        extended = await take(2 if length == 126 else 8)
        raw += extended
        length = int.from_bytes(extended, "big")
    raw += await take((4 if raw[1] & 0x80 else 0) + length)
    return parse_frame(raw)


# --- one message, captured per kind of exchange -----------------------------------------------


async def until_posted(target: Target, answer: asyncio.Future[bytes]) -> Record:
    """Check that nothing comes back for ``HOLD_S`` (the server holds the request), then post
    the message as another client; a note saying which happened."""
    done, _ = await asyncio.wait({answer}, timeout=HOLD_S)
    await post_message(target)
    if done:  # a live room where someone else wrote first
        return Record("note", "note", note="answered before our post: another message came")
    held_ms = round(HOLD_S * 1000)
    return Record(
        "note",
        "note",
        note=f"nothing for {held_ms} ms: the server holds it open. "
        f"Another client POSTs {TEXT!r}, and at once:",
    )


async def capture_poll(target: Target, path: str) -> list[Record]:
    """Short polling: the message is posted, then the next poll brings it."""
    await post_message(target)
    request = http_request(target, "GET", path)
    response = await exchange(target, request)
    note = f"another client has POSTed {TEXT!r}; the next poll asks for what is new:"
    return [
        Record("note", "note", note=note),
        Record("client", "http", request),
        Record("server", "http", response),
    ]


async def capture_wait(target: Target, path: str) -> list[Record]:
    """Long polling: a GET the server holds until the message is stored."""
    request = http_request(target, "GET", path)
    reader, writer = await asyncio.open_connection(target.host, target.port)
    try:
        writer.write(request)
        await writer.drain()
        answer = asyncio.ensure_future(read_response(reader))
        note = await until_posted(target, answer)
        response = await answer
    finally:
        writer.close()
    return [Record("client", "http", request), note, Record("server", "http", response)]


async def capture_stream(target: Target, path: str) -> list[Record]:
    """A held response (SSE, HTTP streaming): its head and first chunk at once, then one chunk
    per message, until the client closes the connection."""
    request = http_request(target, "GET", path)
    reader, writer = await asyncio.open_connection(target.host, target.port)
    try:
        writer.write(request)
        await writer.drain()
        head = await read_head(reader)
        first = await read_chunk(reader)
        chunk = asyncio.ensure_future(read_chunk(reader))
        note = await until_posted(target, chunk)
        message = await chunk
    finally:
        writer.close()
    return [
        Record("client", "http", request),
        Record("server", "http", head),
        Record("server", "chunk", first),
        note,
        Record("server", "chunk", message),
        Record("note", "note", note="the client closes the connection: a stream has no end"),
    ]


def handshake(target: Target, path: str) -> bytes:
    """The opening handshake: a GET asking to switch protocols (``Origin`` is checked by the
    server, ``lab.origins.SameOriginValidator``: scheme, host and port)."""
    headers = [
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {SAMPLE_KEY}",
        "Sec-WebSocket-Version: 13",
        f"Origin: http://{target.authority}",
    ]
    return http_request(target, "GET", path, headers)


async def capture_websocket(target: Target, path: str) -> list[Record]:
    """The handshake, the message sent as a text frame and broadcast back, a ping and its pong,
    and the closing handshake."""
    reader, writer = await asyncio.open_connection(target.host, target.port)
    records = [Record("client", "http", handshake(target, path))]

    async def send(opcode: int, payload: bytes) -> Frame:
        frame = parse_frame(frame_bytes(opcode, payload))
        records.append(Record("client", "frame", frame.raw))
        writer.write(frame.raw)
        await writer.drain()
        answer = await read_frame(reader)
        records.append(Record("server", "frame", answer.raw))
        return answer

    try:
        writer.write(records[0].raw)
        await writer.drain()
        records.append(Record("server", "http", expect(await read_head(reader), 101)))
        message = json.dumps({"message": TEXT, "client_id": CLIENT_ID}).encode()
        await send(0x1, message)
        await send(0x9, PING_PAYLOAD)
        await send(0x8, struct.pack("!H", 1000))
    finally:
        writer.close()
    return records


async def capture(url: str, room: str, key: str) -> list[Record]:
    """One message of strategy ``key`` in ``room`` on the server at ``url``, as a transcript."""
    hot_path = STRATEGIES[key].hot_path
    if hot_path is None:
        raise ValueError(f"{key} declares no endpoint (Strategy.hot_path) to capture")
    target = Target.of(url, room)
    path = hot_path.path.format(room=room)
    if hot_path.load == "broadcast":
        return await capture_websocket(target, path)
    await open_session(target)
    path += f"?after={await newest_id(target)}"
    if hot_path.load == "poll":
        return await capture_poll(target, path)
    if hot_path.load == "wait":
        return await capture_wait(target, path + "&timeout=5")
    return await capture_stream(target, path)


# --- the transcript as text -------------------------------------------------------------------

SIDES = {"client": "> ", "server": "< "}
"""curl -v's marks: ``>`` what the client sent, ``<`` what the server sent."""


def escaped(raw: bytes) -> list[str]:
    """Bytes as text lines that show every byte: CR and LF as ``\\r`` and ``\\n`` (a line ends
    after each LF), other control bytes as ``\\xNN``."""
    text = "".join(
        {13: "\\r", 10: "\\n\n"}.get(byte, chr(byte) if 32 <= byte < 127 else f"\\x{byte:02x}")
        for byte in raw
    )
    return text.splitlines()


def hex_lines(data: bytes, width: int = 16) -> list[str]:
    return [data[i : i + width].hex(" ") for i in range(0, len(data), width)]


def header_fields(frame: Frame) -> list[str]:
    """What each byte of a frame's header says, one line per field."""
    first, second = frame.raw[0], frame.raw[1]
    seven = second & 0x7F
    width = {126: 2, 127: 8}.get(seven, 0)  # 127: payloads of 64 KiB and more
    name = OPCODES.get(frame.opcode, "reserved")
    lines = [
        f"{first:02x} = {first >> 4:04b} {first & 0xF:04b}: FIN={first >> 7} (the last frame "
        f"of the message), RSV={first >> 4 & 7:03b}, opcode=0x{frame.opcode:x} ({name})",
        f"{second:02x} = {second >> 4:04b} {second & 0xF:04b}: MASK={second >> 7}, "
        f"length {seven}" + (f", so the length is in the next {width} bytes" if width else ""),
    ]
    if width:
        extended = frame.raw[2 : 2 + width]
        lines.append(f"{extended.hex(' ')}: the length, {len(frame.payload)} bytes")
    if frame.masked:
        key = frame.raw[frame.header_size - 4 : frame.header_size]
        lines.append(f"{key.hex(' ')}: the masking key; the payload after it is XORed with it")
    return lines


def frame_text(side: str, frame: Frame) -> list[str]:
    """A frame: its header in hex, the payload's bytes when masked, then each field decoded."""
    lines = [side + frame.raw[: frame.header_size].hex(" ")]
    if frame.masked:
        lines += [side + line for line in hex_lines(frame.raw[frame.header_size :])]
    lines += [f"#   {line}" for line in header_fields(frame)]
    if frame.opcode == 0x8 and len(frame.payload) >= 2:
        code = struct.unpack("!H", frame.payload[:2])[0]
        lines.append(f"#   payload: close code {code}, reason {frame.payload[2:].decode()!r}")
    else:
        unmasked = " (unmasked)" if frame.masked else ""
        lines.append(f"#   payload{unmasked}: " + "".join(escaped(frame.payload)))
    return lines


def accept_lines(head: bytes) -> list[str]:
    """Under a 101 answer: the accept value computed here from the key, beside the server's."""
    computed = accept_value(SAMPLE_KEY)
    agrees = "the same" if header(head, "Sec-WebSocket-Accept") == computed else "DIFFERENT"
    return [
        f'#   base64(SHA-1("{SAMPLE_KEY}" + "{GUID}"))',
        f"#   = {computed} ({agrees} as the server's Sec-WebSocket-Accept)",
    ]


def render(records: Sequence[Record]) -> str:
    """The transcript as text: each record's bytes behind its side's mark, notes after ``#``."""
    lines: list[str] = []
    for record in records:
        if record.direction == "note":
            lines.append(f"# {record.note}")
            continue
        side = SIDES[record.direction]
        if record.kind == "frame":
            lines += frame_text(side, parse_frame(record.raw))
            continue
        lines += [side + line for line in escaped(record.raw)]
        if record.kind == "chunk":
            size = int(record.raw.split(b"\r\n")[0], 16)
            shown = f"0x{size:x} = {size}"
            lines.append(f"#   one chunk: its size in hex ({shown}), CRLF, that many bytes, CRLF")
        elif b"Sec-WebSocket-Accept" in record.raw:
            lines += accept_lines(record.raw)
    return "\n".join(lines) + "\n"


STORED_AT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00")
HTTP_DATE = re.compile(r"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT")
SECRET = re.compile(r"(?<=csrftoken=)\w+|(?<=sessionid=)\w+|(?<=X-CSRFToken: )\w+")
VOLATILE: list[tuple[re.Pattern[str], str | None]] = [
    (STORED_AT, "YYYY-MM-DDThh:mm:ss.ffffff+00:00"),
    (HTTP_DATE, "Www, DD Mmm YYYY hh:mm:ss GMT"),
    (re.compile(r"(?<=guest-)[0-9a-f]+"), None),
    (SECRET, None),
    (re.compile(r"127\.0\.0\.1:\d+"), "127.0.0.1:8000"),
]
"""What changes from one capture to the next, and what the committed capture shows instead:
the same number of characters (the port aside, which no length counts), so every
``Content-Length``, chunk size and frame length on the page still counts what it shows.
``None``: as many ``x``."""


def normalised(text: str) -> str:
    """``text`` with every ``VOLATILE`` value replaced by its placeholder."""
    for pattern, placeholder in VOLATILE:
        if placeholder is None:
            text = pattern.sub(lambda found: "x" * len(found.group()), text)
        else:
            text = pattern.sub(placeholder, text)
    return text


def committed_file(key: str) -> Path:
    """Where a technique's committed capture lives (docs/wire.md includes it)."""
    return GENERATED / f"wire-{key}.txt"


def capture_room(key: str) -> str:
    """The room a committed capture uses: its own, so its message is the room's first."""
    return f"wire-{key}"


def committed_capture(url: str, key: str) -> str:
    """A technique's capture as it is committed: in its own room, volatile values replaced."""
    return normalised(render(asyncio.run(capture(url, capture_room(key), key))))


def print_live(url: str, room: str, key: str) -> int:
    """``pushlab wire``: capture one message in ``room`` now and print it as it came; a server
    that is not there, refuses or stays silent is a one-line error and exit status 1."""
    try:
        records = asyncio.run(capture(url, room, key))
    except (OSError, WireError, TimeoutError, asyncio.IncompleteReadError) as error:
        sys.stderr.write(f"pushlab wire: {url}: {error or type(error).__name__}\n")
        return 1
    sys.stdout.write(render(records))
    return 0


def add_wire_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``pushlab wire`` subcommand (lab/cli.py)."""
    wire = commands.add_parser(
        "wire",
        help="print the bytes of one message in ROOM with one technique, live",
        description="Post one message in ROOM and print every byte the technique's client "
        "and the server exchange for it (docs/wire.md explains them).",
    )
    wire.add_argument("room", metavar="ROOM", help="the room (one message is posted in it)")
    wire.add_argument(
        "--strategy", choices=list(STRATEGIES), default="websocket",
        help="the technique (default: %(default)s)",
    )  # fmt: skip
    wire.add_argument(
        "--url", default="http://127.0.0.1:8000",
        help="the running server (default: %(default)s)",
    )  # fmt: skip
