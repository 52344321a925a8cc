"""Metrics, in Prometheus's text exposition format (OpenMetrics when asked).

- HTTP server metrics by OpenTelemetry's semantic conventions, named the Prometheus
  way: the histogram `http_server_request_duration_seconds`, by method, route template
  and status, and the gauge `http_server_active_requests`;
- the server's resources: CPU, resident memory and open files of its whole process
  tree (the master and every worker), as `process_*`;
- each dependency's errors, refused calls and circuit breaker state, as
  `dependency_*`.

With a metrics folder (see `multiprocess`), every worker writes its values there and
whichever worker answers a scrape adds up all of them: each request is counted once,
whoever served it, including the requests of workers that have since been replaced.
"""

import os
from collections.abc import Iterable
from pathlib import Path

import psutil
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from .multiprocess import server_pid

# Methods outside this set share one label value, as OpenTelemetry's conventions ask:
# a client inventing methods must not invent time series.
KNOWN_METHODS = frozenset(
    {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"}
)
OTHER_METHOD = "_OTHER"
# The route of a request that matched none: every unknown path shares it.
UNMATCHED_ROUTE = "unmatched"
# OpenTelemetry's advice for HTTP server durations, in seconds.
DURATION_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip

# What this process measures. Without a metrics folder it is also what a scrape reads.
REGISTRY = CollectorRegistry()

REQUEST_DURATION = Histogram(
    "http_server_request_duration_seconds",
    "Duration of HTTP server requests.",
    ["http_request_method", "http_route", "http_response_status_code"],
    buckets=DURATION_BUCKETS,
    registry=REGISTRY,
)
# Summed over the live workers only: a replaced worker's requests ended with it.
ACTIVE_REQUESTS = Gauge(
    "http_server_active_requests",
    "Number of HTTP server requests in flight.",
    ["http_request_method"],
    multiprocess_mode="livesum",
    registry=REGISTRY,
)
DEPENDENCY_ERRORS = Counter(
    "dependency_errors",
    "Calls to a dependency that failed with one of its own errors.",
    ["dependency", "error_type"],
    registry=REGISTRY,
)
DEPENDENCY_REJECTIONS = Counter(
    "dependency_rejections",
    "Calls to a dependency refused without trying (circuit open, bulkhead full).",
    ["dependency", "reason"],
    registry=REGISTRY,
)
BREAKER_STATE = Gauge(
    "dependency_breaker_state",
    "Worker processes whose circuit breaker for the dependency is in this state.",
    ["dependency", "state"],
    multiprocess_mode="livesum",
    registry=REGISTRY,
)


def method_label(method: str) -> str:
    return method if method in KNOWN_METHODS else OTHER_METHOD


def request_started(method: str) -> None:
    ACTIVE_REQUESTS.labels(method_label(method)).inc()


def request_finished(
    method: str, route: str | None, status: int, duration_seconds: float
) -> None:
    label = method_label(method)
    ACTIVE_REQUESTS.labels(label).dec()
    REQUEST_DURATION.labels(
        label, route if route is not None else UNMATCHED_ROUTE, str(status)
    ).observe(duration_seconds)


class ProcessTreeCollector(Collector):
    """`process_*` for one process and all its descendants, added up: the server's
    master and workers together, the same whichever worker is asked."""

    def __init__(self, root_pid: int) -> None:
        self.root_pid = root_pid

    def collect(self) -> Iterable[Metric]:
        cpu_seconds = resident_bytes = open_fds = 0.0
        root = psutil.Process(self.root_pid)
        for process in [root, *root.children(recursive=True)]:
            try:
                with process.oneshot():
                    times = process.cpu_times()
                    cpu_seconds += times.user + times.system
                    resident_bytes += process.memory_info().rss
                    open_fds += process.num_fds()
            except psutil.NoSuchProcess:
                # A worker that ended between the listing and the reading.
                continue
        yield CounterMetricFamily(
            "process_cpu_seconds",
            "User and system CPU time of the server's processes, in seconds.",
            value=cpu_seconds,
        )
        yield GaugeMetricFamily(
            "process_resident_memory_bytes",
            "Resident memory of the server's processes, in bytes.",
            value=resident_bytes,
        )
        yield GaugeMetricFamily(
            "process_open_fds",
            "Open file descriptors of the server's processes.",
            value=open_fds,
        )
        yield GaugeMetricFamily(
            "process_start_time_seconds",
            "Start time of the server, in seconds since the Unix epoch.",
            value=root.create_time(),
        )


# Without a metrics folder, the process is the whole server.
REGISTRY.register(ProcessTreeCollector(os.getpid()))


def forget_dead_workers(directory: Path) -> None:
    """Drop the gauges of workers that are gone (their in-flight requests ended with
    them); their counters and histograms stay, so totals never go back."""
    for path in directory.glob("gauge_live*_*.db"):
        pid = int(path.stem.rsplit("_", 1)[1])
        if not psutil.pid_exists(pid):
            # prometheus_client 0.26 leaves its multiprocess functions unannotated.
            multiprocess.mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]


def exposition(directory: Path | None, accept: str | None) -> tuple[bytes, str]:
    """The scrape's body and content type, for every process's metrics."""
    if directory is None:
        registry = REGISTRY
    else:
        forget_dead_workers(directory)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
        registry.register(ProcessTreeCollector(server_pid(directory)))
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type


def watch_breaker(dependency: str, state: str, previous_state: str | None) -> None:
    """Called by each dependency's guard when its breaker starts or changes state."""
    if previous_state is not None:
        BREAKER_STATE.labels(dependency, previous_state).dec()
    BREAKER_STATE.labels(dependency, state).inc()


def count_error(dependency: str, error: BaseException) -> None:
    DEPENDENCY_ERRORS.labels(dependency, type(error).__name__).inc()


def count_rejection(dependency: str, reason: str) -> None:
    DEPENDENCY_REJECTIONS.labels(dependency, reason).inc()
