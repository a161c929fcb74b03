"""Stage reports as JSON: the CLI's ``--format json`` and the DAGs' XComs say them alike."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from typing import Any


def as_json(report: Any) -> dict[str, Any]:
    """A stage's report (a dataclass) as a JSON-able dict; times in ISO 8601."""
    converted: dict[str, Any] = jsonable(dataclasses.asdict(report))
    return converted


def jsonable(value: Any) -> Any:
    """``value`` with its times in ISO 8601, reports as dicts and tuples as lists."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    return value
