"""Request ids, error answers and the one access line per request, for every adapter."""

import logging
import re
import secrets
import time
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any, NamedTuple

import structlog

from .resilience import DependencyUnavailableError
from .telemetry import METRICS_PATH, metrics

REQUEST_ID_HEADER = "X-Request-ID"
# On every response: a browser must never guess a type from the body (MIME sniffing).
SECURITY_HEADERS = (("X-Content-Type-Options", "nosniff"),)
# Exactly these paths, so a scanner's `/health/<anything>` stays visible at INFO.
HEALTH_PROBE_PATHS = frozenset({"/health", "/health/live", "/health/ready"})
# Scraped every few seconds, like the probes: kept out of INFO and out of traces.
QUIET_PATHS = HEALTH_PROBE_PATHS | {METRICS_PATH}
# Inbound ids are echoed into headers and logs: accept only short, plain tokens.
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# An outage's first failures are answered before any breaker has opened: a client
# that retries this soon is told by the breaker how long to wait.
OUTAGE_RETRY_AFTER_SECONDS = 1

logger = structlog.get_logger(__name__)


def request_id_from(header_value: str | None) -> str:
    """Keep a valid inbound request id, otherwise make a new one."""
    if header_value is not None and _VALID_REQUEST_ID.fullmatch(header_value):
        return header_value
    return secrets.token_hex(16)


def bind_request_id(request_id: str) -> None:
    # Threads and tasks are reused between requests: start from an empty context,
    # or one request's fields leak into the next one's log lines.
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id)


def unbind_request_id() -> None:
    """Called when a request ends: what the server logs next is not this request's."""
    structlog.contextvars.clear_contextvars()


def current_request_id() -> str | None:
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    return request_id if isinstance(request_id, str) else None


def is_health_probe(path: str) -> bool:
    return path in HEALTH_PROBE_PATHS


def is_quiet(path: str) -> bool:
    return path in QUIET_PATHS


def error_body(status: int) -> dict[str, object]:
    """The one shape of every error answer, whichever layer produces it."""
    return {
        "error": HTTPStatus(status).phrase,
        "status": status,
        "request_id": current_request_id(),
    }


def invalid_request_body(
    issues: Iterable[Mapping[str, Any]], location: str | None = None
) -> dict[str, object]:
    """422's answer, from pydantic's issues: each names its field by where it is
    (`body.text`, `query.limit`; `location` is prefixed when the issues do not say),
    and a body that is no JSON at all is `body`, whichever framework parsed it."""

    def field(issue: Mapping[str, Any]) -> str:
        parts = tuple(issue["loc"]) if location is None else (location, *issue["loc"])
        if issue["type"] == "json_invalid":
            parts = parts[:1]
        return ".".join(str(part) for part in parts)

    return error_body(422) | {
        "errors": [{"field": field(i), "message": i["msg"]} for i in issues]
    }


class ErrorAnswer(NamedTuple):
    status: int
    body: dict[str, object]
    headers: dict[str, str]


def log_unhandled(
    error: Exception,
    *,
    method: str,
    path: str,
    outages: Mapping[type[Exception], str],
) -> ErrorAnswer:
    """Log an exception no handler took, once; return the answer to send.

    `outages` maps the backing services' own errors to the line that reports them
    (BackingServices collects them): an outage is not a bug.
    """
    if isinstance(error, DependencyUnavailableError):
        # Refused without trying: the breaker has logged the outage once already,
        # and the client is told when a retry may succeed.
        return ErrorAnswer(
            503, error_body(503), {"Retry-After": str(error.retry_after)}
        )
    for kind, message in outages.items():
        if isinstance(error, kind):
            # One line without a traceback, and a status that tells clients and
            # balancers to retry elsewhere or later.
            logger.warning(
                message,
                error=f"{type(error).__name__}: {error}",
                method=method,
                path=path,
            )
            return ErrorAnswer(
                503, error_body(503), {"Retry-After": str(OUTAGE_RETRY_AFTER_SECONDS)}
            )
    logger.error("unhandled exception", method=method, path=path, exc_info=error)
    return ErrorAnswer(500, error_body(500), {})


def log_access(
    *,
    method: str,
    path: str,
    status: int,
    duration_ms: float,
    request_id: str,
    client: str | None,
) -> None:
    # Probes and scrapes arrive every few seconds from every balancer, kubelet and
    # Prometheus: keep them out of INFO so they do not drown the traffic that matters.
    level = logging.DEBUG if is_quiet(path) else logging.INFO
    logger.log(
        level,
        "request",
        method=method,
        path=path,
        status=status,
        duration_ms=round(duration_ms, 2),
        request_id=request_id,
        client=client,
    )


def request_ended(
    *,
    method: str,
    path: str,
    route: str | None,
    status: int,
    started: float,
    request_id: str,
    client: str | None,
) -> None:
    """What every adapter records when a request ends: its access line and its
    metrics (`started` from `time.perf_counter()`); then the log context is cleared."""
    duration = time.perf_counter() - started
    log_access(
        method=method,
        path=path,
        status=status,
        duration_ms=duration * 1000,
        request_id=request_id,
        client=client,
    )
    metrics.request_finished(method, route, status, duration)
    unbind_request_id()
