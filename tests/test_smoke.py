import pytest

from lab import chat


@pytest.mark.django_db(transaction=True)
def test_post_then_read_back():
    first = chat.post_message(room="lobby", author="ann", text="  hello  ")
    second = chat.post_message(room="lobby", author="bob", text="again")
    assert (first["id"], second["id"]) == (1, 2)
    assert [m["message"] for m in chat.messages_after("lobby", 0)] == ["hello", "again"]
