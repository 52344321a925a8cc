"""The trace exporter, opened and closed like a backing service (factor IV: the
collector is an attached resource)."""

from collections.abc import Mapping
from typing import TYPE_CHECKING, Self

from ..health import Check
from ..settings import Settings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider


class TelemetryBackend:
    """Opened first, so the other backends' clients find the tracer provider, and
    closed last: shutting the provider down exports the spans still batched, those of
    every request answered before the process was asked to stop."""

    checks: Mapping[str, Check] = {}
    outages: Mapping[type[Exception], str] = {}

    def __init__(self, provider: "TracerProvider | None") -> None:
        self.provider = provider

    @classmethod
    def open(cls, settings: Settings) -> Self:
        if not settings.tracing_enabled:
            return cls(None)
        from .tracing import start_tracing

        return cls(start_tracing(settings))

    def close(self) -> None:
        if self.provider is not None:
            self.provider.shutdown()
