"""The install's own SECRET_KEY, and the refusal to expose a server that is unsafe to expose.

Sessions are signed cookies, so whoever knows ``SECRET_KEY`` can mint one (any author
name, a fresh rate-limit allowance). Without ``PUSHLAB_SECRET_KEY`` each install makes a
random key once, in a file under the var directory readable only by its owner, and reuses
it; the old built-in string is never a default again, and a server bound to a
non-loopback address refuses to start with it or with DEBUG on.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import stat
import sys
from pathlib import Path

OLD_BUILTIN_KEY = "pushlab-dev-only-not-secret"
"""The key every install used before: public in the repository's history, so never safe."""
KEY_FILE_NAME = "secret_key"


def install_secret_key(var_dir: Path) -> str:
    """The key in ``var_dir/secret_key``, made (random, mode 0600) on first use.

    Two processes starting at once agree: the file appears whole or not at all (written
    to a temporary name, then hard-linked into place, which fails if it already exists).
    """
    path = var_dir / KEY_FILE_NAME
    if not path.exists():
        temporary = var_dir / f".{KEY_FILE_NAME}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(50) + "\n")
            with contextlib.suppress(FileExistsError):  # another process made it first
                os.link(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        path.chmod(0o600)  # copied in with a lax mode: others must not read it
    key = path.read_text().strip()
    if len(key) < 32:
        raise RuntimeError(f"{path} holds no usable secret key; delete it to make a new one")
    return key


def is_loopback(host: str) -> bool:
    """True for an address only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve anywhere


def exposure_problem(host: str, secret_key: str, debug: bool) -> str | None:
    """Why serving on ``host`` with these settings is unsafe, or None when it is not."""
    if is_loopback(host):
        return None
    if secret_key == OLD_BUILTIN_KEY:
        return (
            f"refusing to serve on {host}: PUSHLAB_SECRET_KEY is the old built-in key, which "
            "is public, so anyone could forge a session. Unset it (pushlab then makes a "
            "random key of this install's own) or set a random one."
        )
    if debug:
        return (
            f"refusing to serve on {host} with PUSHLAB_DEBUG on: DEBUG pages show settings "
            "and code to anyone who reaches them. Serve on 127.0.0.1, or turn DEBUG off."
        )
    return None


def refuse_unsafe_exposure(host: str) -> None:
    """Stop ``pushlab serve`` (exit code 2, the reason on stderr) if ``exposure_problem``."""
    from django.conf import settings

    problem = exposure_problem(host, settings.SECRET_KEY, settings.DEBUG)
    if problem:
        print(f"pushlab serve: {problem}", file=sys.stderr, flush=True)
        raise SystemExit(2)
