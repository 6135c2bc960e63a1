from datetime import datetime

import pytest
from fastapi.testclient import TestClient


def test_create_note(client: TestClient) -> None:
    response = client.post("/notes", json={"text": "buy milk ☕"})
    assert response.status_code == 201
    note = response.json()
    assert set(note) == {"id", "text", "created_at"}
    assert isinstance(note["id"], int)
    assert note["text"] == "buy milk ☕"
    assert datetime.fromisoformat(note["created_at"]).tzinfo is not None


def test_list_is_newest_first(client: TestClient) -> None:
    for text in ("first", "second", "third"):
        assert client.post("/notes", json={"text": text}).status_code == 201
    listed = client.get("/notes").json()
    assert [note["text"] for note in listed] == ["third", "second", "first"]
    assert [note["text"] for note in client.get("/notes", params={"limit": 2}).json()] == [
        "third",
        "second",
    ]


def test_list_defaults_to_fifty(client: TestClient) -> None:
    for number in range(55):
        client.post("/notes", json={"text": f"note {number}"})
    listed = client.get("/notes").json()
    assert len(listed) == 50
    assert listed[0]["text"] == "note 54"
    assert len(client.get("/notes", params={"limit": 200}).json()) == 55


def test_text_of_2000_characters_is_accepted(client: TestClient) -> None:
    assert client.post("/notes", json={"text": "x" * 2000}).status_code == 201


@pytest.mark.parametrize(
    "payload",
    [{"text": ""}, {"text": "x" * 2001}, {}, {"text": 42}, {"body": "wrong field"}],
)
def test_invalid_note_is_rejected(client: TestClient, payload: dict[str, object]) -> None:
    assert client.post("/notes", json=payload).status_code == 422
    assert client.get("/notes").json() == []


@pytest.mark.parametrize("limit", ["0", "201", "-1", "many"])
def test_invalid_limit_is_rejected(client: TestClient, limit: str) -> None:
    assert client.get("/notes", params={"limit": limit}).status_code == 422
