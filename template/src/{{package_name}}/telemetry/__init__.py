"""Telemetry: Prometheus metrics on `GET /metrics`, OpenTelemetry traces over OTLP.

- `multiprocess`: the folder where every worker process keeps its metrics, prepared
  by the server before any worker starts;
- `metrics`: what is measured, and the exposition any worker answers a scrape with;
- `tracing`: the tracer provider, set up in each worker only when an OTLP endpoint is
  configured, so that a service without a collector pays nothing for traces.
"""

# Where Prometheus scrapes every worker process's metrics, on the service's own port.
METRICS_PATH = "/metrics"
