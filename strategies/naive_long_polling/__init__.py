"""Naive long polling: the lecture's loop that asks the database until a message exists."""
