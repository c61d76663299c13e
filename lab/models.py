"""The shared message store: every strategy reads and writes these two tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import models
from django.utils import timezone


class Room(models.Model):
    """A chat room, created by its first message.

    ``last_message_id`` is the room's message counter. Bumping it is what takes
    the room's row lock, so messages of one room are numbered in commit order.
    """

    name = models.CharField(max_length=100, unique=True)
    last_message_id = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name


class Message(models.Model):
    """One chat message; ``number`` is its ``id`` in the API: 1, 2, 3, ... within its room."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="messages")
    number = models.PositiveBigIntegerField()
    author = models.CharField(max_length=150)
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    client_id = models.CharField(max_length=64, null=True, blank=True)
    """The sender's id for this message (``"client_id"``): a repeat of it by the same author in
    the room is the same message, so a retried send is stored once; another author's message
    with the same id is a message of its own. NULL for clients that send none."""

    class Meta:
        ordering = ["room", "number"]
        constraints = [
            models.UniqueConstraint(fields=["room", "number"], name="unique_number_per_room"),
            models.UniqueConstraint(
                fields=["room", "author", "client_id"],
                condition=models.Q(client_id__isnull=False),
                name="unique_client_id_per_author",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.room_id}#{self.number}"

    def as_json(self, room_name: str) -> dict[str, Any]:
        """The message as every strategy sends it, in the one shape of ``message_json``."""
        return message_json(
            room_name, self.number, self.author, self.text, self.created_at, self.client_id
        )


def message_json(
    room_name: str,
    number: int,
    author: str,
    text: str,
    created_at: datetime,
    client_id: str | None,
) -> dict[str, Any]:
    """The one shape of a stored message, for model instances and raw reads alike."""
    data: dict[str, Any] = {
        "id": number,
        "room": room_name,
        "author": author,
        "message": text,
        # Always with microseconds: isoformat() drops ".000000" at a whole second, and a
        # client reading a fixed width (docs/_generated/wire-*.txt) would break once in a million.
        "created_at": created_at.isoformat(timespec="microseconds"),
    }
    if client_id is not None:  # lets a sender see which of its sends was stored
        data["client_id"] = client_id
    return data
