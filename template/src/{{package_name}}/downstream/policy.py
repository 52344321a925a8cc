"""What both frameworks' downstream clients share: their options, their errors, and
the bookkeeping of one call across its attempts (deadline, retries, give-up line).

A call is retried only where a second attempt cannot do harm: a connection that was
never made, whatever the method; for idempotent methods, also a broken or timed-out
exchange and a 502, 503 or 504. Waits between attempts follow exponential backoff with
full jitter, or the downstream's Retry-After. No wait may end past the call's
deadline, and each attempt's timeouts are cut to what is left of it (they bound each
wait for bytes, so a server trickling its answer can still stretch one attempt).
Nothing is logged per attempt: one warning when a call fails for good, and the
breaker's own line when its state changes.
"""

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import ClassVar

import httpx2
import structlog
import tenacity
from opentelemetry import propagate

from ..access import REQUEST_ID_HEADER, current_request_id
from ..health import Check
from ..resilience import Guard

# RFC 9110 §9.2.2: repeating one of these has the effect of sending it once.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
# A gateway's or an overloaded server's answers: worth another try, if idempotent.
RETRYABLE_STATUSES = frozenset({502, 503, 504})
# Raised before a byte of the request left: safe to retry even for a POST.
NOT_SENT_ERRORS = (httpx2.ConnectError, httpx2.ConnectTimeout)

# httpx2's own line per attempt stays off: `QUIET_LOGGERS` in `..logging`.
logger = structlog.get_logger(__name__)


@dataclass(frozen=True)
class DownstreamOptions:
    """How patient one downstream's calls are, and when its breaker gives up on it."""

    # A reachable host accepts within milliseconds: a second already means it is not.
    connect_seconds: float = 1.0
    # The longest wait for the next bytes of an answer.
    read_seconds: float = 3.0
    write_seconds: float = 3.0
    # Waiting for a pooled connection: the bulkhead keeps the pool from running dry.
    pool_seconds: float = 1.0
    # The whole call, retries and waits included: well inside the 30 s that clients
    # and balancers commonly give this service's own answer.
    deadline_seconds: float = 5.0
    # Three attempts ride out a restarting instance; more only prolong an outage.
    attempts: int = 3
    # Full jitter: each wait is random in [0, min(max, initial * 2^retry)], so that
    # many callers retrying at once spread out instead of arriving in waves.
    backoff_initial_seconds: float = 0.1
    backoff_max_seconds: float = 1.0
    # Consecutive failed attempts that open the breaker, and how long it stays open
    # before one trial call may close it.
    failure_threshold: int = 5
    reset_seconds: float = 10.0
    # Calls in flight at once per process (and the size of the connection pool):
    # past it, calls are refused at once rather than queued behind a slow downstream.
    max_concurrency: int = 32


DEFAULT_OPTIONS = DownstreamOptions()


class DownstreamError(Exception):
    """A call to a downstream that failed for good: tried, retried where safe, and
    logged once."""

    def __init__(self, downstream: str, reason: str) -> None:
        self.downstream = downstream
        self.reason = reason
        super().__init__(f"{downstream}: {reason}")


class DownstreamStatusError(DownstreamError):
    """The downstream answered with a server error (5xx)."""

    def __init__(self, downstream: str, response: httpx2.Response) -> None:
        self.response = response
        self.status = response.status_code
        self.retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        super().__init__(downstream, f"answered {self.status}")


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After in seconds, from either of its forms (RFC 9110 §10.2.3)."""
    if value is None:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except ValueError:
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def downstream_guard(name: str, options: DownstreamOptions) -> Guard:
    return Guard(
        name,
        # A 4xx is the caller's mistake, not a sign that the downstream is down.
        failures=(httpx2.TransportError, DownstreamStatusError),
        failure_threshold=options.failure_threshold,
        reset_seconds=options.reset_seconds,
        max_concurrency=options.max_concurrency,
    )


def client_timeout(options: DownstreamOptions) -> httpx2.Timeout:
    return httpx2.Timeout(
        connect=options.connect_seconds,
        read=options.read_seconds,
        write=options.write_seconds,
        pool=options.pool_seconds,
    )


class Call:
    """One call to a downstream, across its attempts."""

    def __init__(
        self, downstream: str, method: str, url: str, options: DownstreamOptions
    ) -> None:
        self.downstream = downstream
        self.method = method.upper()
        # Queries may carry identifiers or tokens: the log names the path alone.
        self.path = httpx2.URL(url).path
        self.options = options
        self.attempts = 0
        self.started = time.monotonic()
        self._backoff = tenacity.wait_random_exponential(
            multiplier=options.backoff_initial_seconds,
            max=options.backoff_max_seconds,
        )
        # Tenacity's policy, the same for its synchronous and its asynchronous loop.
        self.stop = tenacity.stop_after_attempt(options.attempts) | (
            # Gives up rather than sleep past the deadline (a long Retry-After too).
            tenacity.stop_before_delay(options.deadline_seconds)
        )
        self.retry = tenacity.retry_if_exception(self.retryable)

    def retryable(self, error: BaseException) -> bool:
        if isinstance(error, NOT_SENT_ERRORS):
            return True
        if self.method not in IDEMPOTENT_METHODS:
            return False
        if isinstance(error, DownstreamStatusError):
            return error.status in RETRYABLE_STATUSES
        return isinstance(error, httpx2.TransportError)

    def wait(self, state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, DownstreamStatusError) and error.retry_after is not None:
            return error.retry_after
        return float(self._backoff(state))

    def next_attempt(self) -> httpx2.Timeout:
        """Count an attempt; its timeouts, none of which may outlast the deadline."""
        self.attempts += 1
        left = max(0.0, self.options.deadline_seconds - self.elapsed())
        return httpx2.Timeout(
            connect=min(self.options.connect_seconds, left),
            read=min(self.options.read_seconds, left),
            write=min(self.options.write_seconds, left),
            pool=min(self.options.pool_seconds, left),
        )

    def headers(self, headers: httpx2.Headers) -> httpx2.Headers:
        """The caller's headers, with the inbound request's id, so that the
        downstream's log lines join this service's, and with the current trace's
        `traceparent` (none outside a traced request), so that its spans do too."""
        request_id = current_request_id()
        if request_id is not None:
            headers[REQUEST_ID_HEADER] = request_id
        propagate.inject(headers)
        return headers

    def check(self, response: httpx2.Response) -> httpx2.Response:
        """The response, unless it is a server error: that counts against the
        downstream, and may be retried."""
        if response.status_code >= 500:
            raise DownstreamStatusError(self.downstream, response)
        return response

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def failed(
        self, error: httpx2.TransportError | DownstreamStatusError
    ) -> DownstreamError:
        """Log the call's failure once; the error its caller gets."""
        status = error.status if isinstance(error, DownstreamStatusError) else None
        logger.warning(
            "downstream call failed",
            downstream=self.downstream,
            method=self.method,
            path=self.path,
            attempts=self.attempts,
            elapsed_ms=round(self.elapsed() * 1000, 2),
            status=status,
            error=f"{type(error).__name__}: {error}" if status is None else None,
        )
        if isinstance(error, DownstreamStatusError):
            return error
        return DownstreamError(self.downstream, type(error).__name__)


class DownstreamBase:
    """A downstream as a backing service, whichever its client: a name, options, and a
    guard (a breaker and a bulkhead of its own)."""

    outages: ClassVar[Mapping[type[Exception], str]] = {
        DownstreamError: "downstream unavailable"
    }

    def __init__(self, name: str, options: DownstreamOptions) -> None:
        self.name = name
        self.options = options
        self.guard = downstream_guard(name, options)

    @property
    def checks(self) -> Mapping[str, Check]:
        # Readiness never waits on a downstream: its outage would take every replica
        # of this service out of the balancer as well, turning one outage into two.
        return {}

    def pool_limits(self) -> httpx2.Limits:
        # The bulkhead never lets more calls through than the pool holds.
        return httpx2.Limits(max_connections=self.options.max_concurrency)
