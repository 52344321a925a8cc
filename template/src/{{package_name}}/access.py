"""Request ids and the one access line per request, for every framework adapter."""

import logging
import re
import uuid

import structlog

REQUEST_ID_HEADER = "X-Request-ID"
# Inbound ids are echoed into headers and logs: accept only short, plain tokens.
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

logger = structlog.get_logger(__name__)


def request_id_from(header_value: str | None) -> str:
    """Keep a valid inbound request id, otherwise make a new one."""
    if header_value is not None and _VALID_REQUEST_ID.fullmatch(header_value):
        return header_value
    return uuid.uuid4().hex


def bind_request_id(request_id: str) -> None:
    # Threads and tasks are reused between requests: start from an empty context,
    # or one request's fields leak into the next one's log lines.
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id)


def is_health_probe(path: str) -> bool:
    return path == "/health" or path.startswith("/health/")


def log_access(
    *, method: str, path: str, status: int, duration_ms: float, request_id: str
) -> None:
    # Probes arrive every few seconds from every balancer and kubelet: keep them out
    # of INFO so they do not drown the traffic that matters.
    level = logging.DEBUG if is_health_probe(path) else logging.INFO
    logger.log(
        level,
        "request",
        method=method,
        path=path,
        status=status,
        duration_ms=round(duration_ms, 2),
        request_id=request_id,
    )
