"""Traces (OpenTelemetry), exported over OTLP/HTTP to the configured endpoint.

Imported only when tracing is on (`Settings.tracing_enabled`): without an endpoint,
the SDK is never loaded, and no exporter, thread or connection exists. The SDK reads
its standard variables itself: the endpoint, headers and timeouts
(OTEL_EXPORTER_OTLP_*), the sampler (OTEL_TRACES_SAMPLER, parent-based by default),
the resource's attributes (OTEL_RESOURCE_ATTRIBUTES) and the batching (OTEL_BSP_*).
Incoming W3C `traceparent` headers continue the caller's trace, and outbound calls
carry it on (OpenTelemetry's default propagators).
"""

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from ..settings import Settings


def start_tracing(settings: Settings) -> TracerProvider:
    """The process's tracer provider, made global; shut it down when the process
    stops, so the spans still in its batch are exported."""
    provider = TracerProvider(
        resource=Resource.create({SERVICE_NAME: settings.otel_service_name})
    )
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider
