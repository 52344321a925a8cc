"""Resilience: a circuit breaker and a bulkhead around each backing service.

A dependency that hangs must not take the process with it. Each one gets a `Guard`
per process: the bulkhead bounds how many calls to it may be in flight at once, and
the breaker (pybreaker) opens after consecutive failures, so that later calls fail at
once instead of waiting out a timeout each. After a cool-down, one trial call goes
through: its success closes the breaker, its failure opens it again. Calls refused
either way raise `DependencyUnavailableError`, which every route answers with 503 and
`Retry-After`, and which is not logged per request: the breaker logs each change of
its state once.

The guard is a plain context manager, and entering or leaving it never waits, so it
works around a blocking call and around an awaited one alike:

    with guard.call():
        value = client.get(key)      # or: value = await client.get(key)
"""

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pybreaker
import structlog

from .telemetry import metrics

logger = structlog.get_logger(__name__)


class DependencyUnavailableError(Exception):
    """A call refused without trying: the dependency is down or saturated."""

    def __init__(self, dependency: str, reason: str, retry_after: int) -> None:
        self.dependency = dependency
        self.reason = reason
        # Whole seconds, as the Retry-After header carries them.
        self.retry_after = retry_after
        super().__init__(f"{dependency}: {reason}")


class _StateChangeLog(pybreaker.CircuitBreakerListener):
    """One JSON line per change of a breaker's state, naming its dependency."""

    def __init__(self, dependency: str) -> None:
        self.dependency = dependency

    def state_change(
        self,
        cb: pybreaker.CircuitBreaker,
        old_state: pybreaker.CircuitBreakerState | None,
        new_state: pybreaker.CircuitBreakerState,
    ) -> None:
        if old_state is not None and old_state.name == new_state.name:
            # Calls in flight when the breaker opened fail after it: pybreaker
            # opens it again, which is no change of state.
            return
        metrics.watch_breaker(
            self.dependency, new_state.name, old_state.name if old_state else None
        )
        opened = new_state.name == pybreaker.STATE_OPEN
        (logger.warning if opened else logger.info)(
            "circuit breaker state changed",
            dependency=self.dependency,
            state=new_state.name,
            previous_state=old_state.name if old_state else None,
        )


class Guard:
    """The breaker and the bulkhead of one dependency, in one process."""

    def __init__(
        self,
        dependency: str,
        *,
        failures: tuple[type[BaseException], ...],
        failure_threshold: int,
        reset_seconds: float,
        max_concurrency: int,
    ) -> None:
        self.dependency = dependency
        self.failures = failures
        self.reset_seconds = reset_seconds
        self.max_concurrency = max_concurrency
        self._storage = pybreaker.CircuitMemoryStorage(pybreaker.STATE_CLOSED)
        self._breaker = pybreaker.CircuitBreaker(
            fail_max=failure_threshold,
            reset_timeout=reset_seconds,
            # The dependency's own errors count, and so does a call abandoned half
            # way (cancelled, or its greenlet killed); a bug in the caller does not.
            exclude=[
                lambda error: (
                    isinstance(error, Exception) and not isinstance(error, failures)
                )
            ],
            listeners=[_StateChangeLog(dependency)],
            state_storage=self._storage,
            name=dependency,
            # The call that trips the breaker still fails with its own error.
            throw_new_error_on_trip=False,
        )
        self._in_flight = 0
        self._in_flight_lock = threading.Lock()
        self._trial_in_flight = False
        metrics.watch_breaker(dependency, self.state, None)

    @property
    def state(self) -> str:
        """`closed`, `open` or `half-open`."""
        return self._breaker.current_state

    def retry_after(self) -> int:
        """Whole seconds until the breaker lets a trial call through."""
        opened_at = self._storage.opened_at
        if opened_at is None:
            return 1
        elapsed = (datetime.now(UTC) - opened_at).total_seconds()
        return max(1, math.ceil(self.reset_seconds - elapsed))

    @contextmanager
    def call(self) -> Iterator[None]:
        """Run the block as one call to the dependency, or refuse it at once."""
        with self._in_flight_lock:
            if self._in_flight >= self.max_concurrency:
                metrics.count_rejection(self.dependency, "bulkhead_full")
                raise DependencyUnavailableError(
                    self.dependency, "too many calls in flight", 1
                )
            self._in_flight += 1
        try:
            if self._trial_in_flight:
                # While half-open, one trial at a time: the others are refused.
                metrics.count_rejection(self.dependency, "circuit_open")
                raise DependencyUnavailableError(
                    self.dependency, "circuit open", self.retry_after()
                )
            trial = self.state != pybreaker.STATE_CLOSED
            self._trial_in_flight = trial
            try:
                with self._breaker.calling():
                    yield
            except self.failures as error:
                metrics.count_error(self.dependency, error)
                raise
            except pybreaker.CircuitBreakerError:
                metrics.count_rejection(self.dependency, "circuit_open")
                raise DependencyUnavailableError(
                    self.dependency, "circuit open", self.retry_after()
                ) from None
            finally:
                if trial:
                    self._trial_in_flight = False
        finally:
            with self._in_flight_lock:
                self._in_flight -= 1
