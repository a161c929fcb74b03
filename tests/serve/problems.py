"""What every route answers to a client's mistake, checked one way."""

from __future__ import annotations

from typing import Any, Protocol


class Answer(Protocol):
    """A response, from whichever HTTP client the test uses."""

    @property
    def status_code(self) -> int: ...

    @property
    def text(self) -> str: ...

    def json(self) -> Any: ...


def assert_invalid(response: Answer, named: str) -> None:
    """A 422 in the API's problem shape: FastAPI's list in ``detail`` naming the query
    parameter ``named`` first, and one sentence in ``message``."""
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["detail"][0]["loc"] == ["query", named], body
    assert body["message"].startswith(f"invalid request: query parameter {named!r}: ")
