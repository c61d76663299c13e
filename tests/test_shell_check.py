"""The lecture's channel-layer check from ``manage.py shell`` (docs/lecture.md): as written
on the lecture's layer, and the listen-first form the page gives for the default layer, where
a message sent to a channel nobody listens to is gone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # each check runs `manage.py shell` as a subprocess

ROOT = Path(__file__).resolve().parent.parent

LECTURE_CHECK = """
import channels.layers
from asgiref.sync import async_to_sync

channel_layer = channels.layers.get_channel_layer()
async_to_sync(channel_layer.send)("test_channel", {"type": "hello"})
print(async_to_sync(channel_layer.receive)("test_channel"))
"""

LISTEN_FIRST = """
import asyncio
import channels.layers
from asgiref.sync import async_to_sync

channel_layer = channels.layers.get_channel_layer()

async def check():
    receiving = asyncio.create_task(channel_layer.receive("test_channel"))
    await asyncio.sleep(0.5)  # the receive subscribes first
    await channel_layer.send("test_channel", {"type": "hello"})
    return await asyncio.wait_for(receiving, 10)

print(async_to_sync(check)())
"""


def shell(code: str, layer: str, tmp_path: Path) -> str:
    env = {
        **os.environ,
        "PUSHLAB_VAR_DIR": str(tmp_path),
        "PUSHLAB_CHANNEL_LAYER": layer,
        "REDIS_URL": "",  # the embedded Redis, as a student's machine has
    }
    finished = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert finished.returncode == 0, finished.stderr[-2000:]
    return finished.stdout


def test_the_lecture_check_works_as_written_on_the_lectures_layer(tmp_path: Path) -> None:
    assert "{'type': 'hello'}" in shell(LECTURE_CHECK, "redis", tmp_path)


@pytest.mark.parametrize("layer", ["pubsub", "redis"])
def test_the_listen_first_check_works_on_either_layer(layer: str, tmp_path: Path) -> None:
    assert "{'type': 'hello'}" in shell(LISTEN_FIRST, layer, tmp_path)
