"""JSON logs with request and correlation ids, secrets dropped and personal identifiers masked.

Every record goes through structlog's processors, including records from the standard
``logging`` module (uvicorn, aiokafka, SQLAlchemy), so one masking rule covers all.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

import structlog
from structlog.typing import EventDict

from .tracing import trace_id, traceparent_var

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
correlation_id_var: ContextVar[str | None] = ContextVar("correlation_id", default=None)

# Keys whose values are never written, whatever they hold.
SECRET_KEYS = re.compile(
    r"(pass(word)?|secret|token|authorization|cookie|api[_-]?key|private|otp|code_verifier|signature|hash)",
    re.IGNORECASE,
)
# Keys that hold personal identifiers: written masked, keeping only the last characters.
PERSONAL_KEYS = re.compile(
    r"(personal_id|citizen_id|identifier|id_number|cccd|phone|email|tax_code|ma_doi_tuong|so_dien_thoai)",
    re.IGNORECASE,
)
# Personal identifiers that slip into free text: 12-digit personal numbers, phone numbers, e-mails.
# A run of digits inside a word is part of something else (a hex request or trace id, a key's
# hash): masking it there garbled the ids that tie log lines together, and hid nothing personal.
_PERSONAL_NUMBER = re.compile(r"(?<![0-9A-Za-z])(\d{8})(\d{4})(?![0-9A-Za-z])")
_PHONE = re.compile(r"(?<![0-9A-Za-z])(\+?84|0)(\d{5,6})(\d{3})(?![0-9A-Za-z])")
_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*(@[A-Za-z0-9.-]+)")
# A database error's text carries the statement's values (SQLAlchemy's "[parameters: (...)]",
# asyncpg's "invalid input for query argument $1: <value>"): hashes, secrets, personal data.
_SQL_PARAMETERS = re.compile(r"\[parameters: .*?\](?=\n|$)", re.DOTALL)
_QUERY_ARGUMENT = re.compile(r"(query argument \$\d+: ).*?(?= \(|\n|$)")


def mask(value: object, keep: int = 3) -> str:
    """Mask a personal identifier, keeping its last ``keep`` characters: ``*********123``."""
    text = str(value)
    if len(text) <= keep:
        return "*" * len(text)
    return "*" * (len(text) - keep) + text[-keep:]


def mask_text(text: str) -> str:
    """Mask personal identifiers that appear inside free text."""
    text = _PERSONAL_NUMBER.sub(lambda m: "*" * 8 + m.group(2)[-3:].rjust(4, "*"), text)
    text = _PHONE.sub(lambda m: m.group(1) + "*" * len(m.group(2)) + m.group(3), text)
    return _EMAIL.sub(lambda m: m.group(1) + "***" + m.group(2), text)


def scrub(value: Any, key: str = "") -> Any:
    """Return ``value`` with secrets replaced and personal identifiers masked, recursively."""
    if key and SECRET_KEYS.search(key):
        return "[redacted]"
    if key and PERSONAL_KEYS.search(key) and isinstance(value, (str, int)):
        return mask(value)
    if isinstance(value, Mapping):
        return {k: scrub(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v, key) for v in value]
    if isinstance(value, str):
        return mask_text(value)
    return value


def without_statement_values(text: str) -> str:
    """``text`` (an exception and its traceback) without the values of any SQL statement in it."""
    text = _SQL_PARAMETERS.sub("[parameters: redacted]", text)
    return _QUERY_ARGUMENT.sub(r"\1[redacted]", text)


# Written as they are: the record's own fields, and a trace id (hex whose digits could look like
# a personal number to the free-text masking).
_UNSCRUBBED = frozenset({"timestamp", "level", "logger", "trace_id"})


def _scrub_processor(_logger: Any, _name: str, event_dict: EventDict) -> EventDict:
    if isinstance(event_dict.get("exception"), str):
        event_dict["exception"] = without_statement_values(event_dict["exception"])
    return {k: (v if k in _UNSCRUBBED else scrub(v, k)) for k, v in event_dict.items()}


def _add_ids(_logger: Any, _name: str, event_dict: EventDict) -> EventDict:
    if (rid := request_id_var.get()) is not None:
        event_dict.setdefault("request_id", rid)
    if (cid := correlation_id_var.get()) is not None:
        event_dict.setdefault("correlation_id", cid)
    # The trace of the request or event being handled: from a log line to its spans.
    if (trace := trace_id(traceparent_var.get())) is not None:
        event_dict.setdefault("trace_id", trace)
    return event_dict


def configure_logging(service: str, level: str = "INFO", json: bool = True) -> None:
    """Configure structlog and the standard library to write one JSON object a line to stderr."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_ids,
        structlog.processors.format_exc_info,
        _scrub_processor,
    ]
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        # A record below the level is dropped before any processor runs (not after all of them).
        processors=[structlog.stdlib.filter_by_level, *shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=shared,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "kafka", "httpx", "httpcore", "sqlalchemy.engine"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # uvicorn installs its own handlers; route them through ours.
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # uvicorn's access line carries the query string (OIDC codes, id_token_hint): off. The kit's
    # middleware writes its own line without it.
    access = logging.getLogger("uvicorn.access")
    access.handlers[:] = []
    access.propagate = False
    access.disabled = True
    structlog.contextvars.bind_contextvars(service=service)


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)
