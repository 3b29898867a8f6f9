"""JSON logs, one object a line on stdout, for every process of ours (gateway, action server, worker, email).

`configure_logging("gateway")` sends structlog's loggers and the standard library's (ours, uvicorn's,
Sanic's, APScheduler's) through one renderer. Each line is a JSON object with at least `timestamp` (UTC, ISO
8601), `level`, `logger`, `process` and `event`, plus the `request_id` bound to the current context
(`bind_request_id`), so one customer message can be followed through the gateway and the action server.

No personal data goes in a log line (docs/adr/0016-logs-and-metrics.md): never a message's text, a phone number,
an email address or a session id. As a last guard, keys that usually hold such data (`text`, `question`,
`phone`, `email`, `sender`, `session_id`, ...) are replaced by "[dropped]" whoever passes them.

It lives in content_sync, which imports nothing else of ours, so that the worker and the action server can
use it as well as the gateway.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

import structlog

REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
"""What an incoming X-Request-ID may be: 1 to 64 letters, digits, `.`, `_` or `-`, starting with a letter or digit."""
PERSONAL_KEYS = frozenset(
    {"text", "question", "body", "message", "phone", "number", "email", "address", "sender", "session_id", "to"}
)
DROPPED = "[dropped]"
# Loggers that install handlers of their own; their records are sent to the root's JSON handler instead.
FOREIGN = ("uvicorn", "uvicorn.error", "sanic.root", "sanic.error", "sanic.server")
# Access logs name the client's address and the whole path with its query: silenced (the gateway writes its own
# line per request, with the route's template and no address: channels/observability/requests.py).
SILENCED = ("uvicorn.access", "sanic.access")
# Chatty at INFO: a line per HTTP call (health probes, every crawled page) or per scheduler tick.
QUIETER = ("httpx", "httpcore", "apscheduler.executors.default", "apscheduler.scheduler", "presidio-analyzer")


def drop_personal(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Replace the values of keys that usually hold personal data; `event` (the message) is left as it is.
    uvicorn's `color_message` (the same message with terminal colours) goes too."""
    for key in PERSONAL_KEYS.intersection(event):
        event[key] = DROPPED
    event.pop("color_message", None)
    return event


def _processors(process: str) -> list[Any]:
    def add_process(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        event.setdefault("process", process)
        return event

    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_process,
        drop_personal,
    ]


def configure_logging(process: str, level: int = logging.INFO) -> None:
    """Make every log line of this process one JSON object on stdout, tagged with `process`. Safe to call again."""
    shared = _processors(process)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(ensure_ascii=False, default=str),
        ],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    for name in FOREIGN:
        foreign = logging.getLogger(name)
        foreign.handlers = []
        foreign.propagate = True
    for name in QUIETER:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
    for name in SILENCED:
        silenced = logging.getLogger(name)
        silenced.handlers = []
        silenced.propagate = False


def valid_request_id(value: str | None) -> str | None:
    """`value` when it is a safe request id (REQUEST_ID), else None."""
    return value if value and REQUEST_ID.fullmatch(value) else None


@contextmanager
def bind_request_id(request_id: str | None) -> Iterator[None]:
    """Every log line written inside the block (in this context) carries `request_id`; nothing when None."""
    if request_id is None:
        yield
        return
    with structlog.contextvars.bound_contextvars(request_id=request_id):
        yield


def current_request_id() -> str | None:
    """The request id bound to the current context, if any."""
    value = structlog.contextvars.get_contextvars().get("request_id")
    return str(value) if value is not None else None
