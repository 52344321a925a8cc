"""The trace exporter, opened and closed like a backing service (factor IV: the
collector is an attached resource)."""

from collections.abc import Callable, Mapping
from typing import Self

from ..health import Check
from ..settings import Settings


class TelemetryBackend:
    """Opened first, so the other backends' clients find the tracer provider, and
    closed last: shutting the provider down exports the spans still batched, those of
    every request answered before the process was asked to stop."""

    checks: Mapping[str, Check] = {}
    outages: Mapping[type[Exception], str] = {}

    def __init__(self, shutdown: Callable[[], None] | None) -> None:
        self.shutdown = shutdown

    @classmethod
    def open(cls, settings: Settings) -> Self:
        if not settings.tracing_enabled:
            return cls(None)
        from .tracing import start_tracing

        return cls(start_tracing(settings).shutdown)

    def close(self) -> None:
        if self.shutdown is not None:
            self.shutdown()
