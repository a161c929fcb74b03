"""Structured, quiet logging: one ``logfmt`` line per event on stderr."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
NOISY_LIBRARIES = ("httpx", "httpcore", "sentence_transformers", "transformers", "alembic")


class LogfmtFormatter(logging.Formatter):
    """``ts=... level=info logger=pipeline.embed.stage msg="embed progress" done=64 of=200``."""

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="seconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields.update(record_fields(record))
        line = " ".join(f"{key}={_quote(value)}" for key, value in fields.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def record_fields(record: logging.LogRecord) -> dict[str, object]:
    """The fields a call passed with ``extra=`` (everything that is not a standard attribute)."""
    return {key: value for key, value in vars(record).items() if key not in _STANDARD}


def _quote(value: object) -> str:
    text = str(value)
    if text == "" or any(ch in text for ch in ' "=\n'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


def configure(level: str = "WARNING") -> None:
    """Send our logs to stderr as logfmt; third-party chatter stays at WARNING or above."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LogfmtFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in NOISY_LIBRARIES:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
