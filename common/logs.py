"""JSON logs, one line per event, the same fields in every process, and the request id.

Each line: ``ts`` (UTC, ISO 8601), ``level``, ``process`` (command-api, query-api, relay,
worker, …), ``pid``, ``logger``, ``msg``, ``request_id`` when the event belongs to a request (the
``X-Request-ID`` of an API request; the ids of the writes a relay batch or worker job carries),
then whatever the call adds with ``extra={"fields": {...}}``. ``LOG_FORMAT=text`` gives plain
lines instead. Warnings and uncaught exceptions (of the main thread or any other) are log
events too, so that not even a crash writes a line that is not JSON.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import sys
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
VALID_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")


def request_id(offered: str | None) -> str:
    """The client's X-Request-ID if it is a sane one, else a new one."""
    return offered if offered and VALID_ID.fullmatch(offered) else uuid.uuid4().hex


class JsonFormatter(logging.Formatter):
    def __init__(self, process: str) -> None:
        super().__init__()
        self.process = process

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(), "process": self.process, "pid": record.process,
            "logger": record.name, "msg": record.getMessage(),
        }
        rid = getattr(record, "request_id", None) or REQUEST_ID.get()
        if rid:
            line["request_id"] = rid
        line.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def setup(process: str, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if os.environ.get("LOG_FORMAT", "json") == "text":
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    else:
        handler.setFormatter(JsonFormatter(process))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    logging.captureWarnings(True)  # a warning is a log event ("py.warnings"), not a bare line
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread


def _log_uncaught(kind: type[BaseException], value: BaseException, tb: Any) -> None:
    if issubclass(kind, KeyboardInterrupt):
        return sys.__excepthook__(kind, value, tb)
    logging.getLogger("semsearch").critical("uncaught %s: %s", kind.__name__, value,
                                            exc_info=(kind, value, tb))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is None or issubclass(args.exc_type, SystemExit):
        return
    name = args.thread.name if args.thread is not None else "?"
    logging.getLogger("semsearch").error(
        "uncaught %s in thread %s: %s", args.exc_type.__name__, name, args.exc_value,
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback))
