"""Generated services' GET /metrics: Prometheus's text format, as prometheus_client's
parser reads it and a real Prometheus scrapes it, from a production server with
several workers."""

from collections.abc import Iterable, Iterator
from pathlib import Path

import httpx2
import pytest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from hooks.servers import (
    PrometheusServer,
    RedisServer,
    Service,
    free_port,
    http_status,
    wait_until,
)

from .conftest import Projects
from .support import DEPENDENCY_SETS, Variant, by_variant

pytestmark = pytest.mark.slow

# Sessions on: the variant that serves /visits, the most code.
TELEMETRY_VARIANTS = by_variant(
    v for v in DEPENDENCY_SETS if v.redis_sessions and v.database == "none"
)
STRONG_SECRET = "x" * 48
WORKERS = 2
REQUESTS = 40
DURATION = "http_server_request_duration_seconds"
REQUEST_LABELS = {"http_request_method", "http_route", "http_response_status_code"}
LIVE_COUNT = f'sum({DURATION}_count{{http_route="/health/live"}})'
PROCESS_METRICS = (
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "process_open_fds",
)


@pytest.fixture
def production_service(
    projects: Projects, redis_server: RedisServer, tmp_path: Path, variant: Variant
) -> Iterator[Service]:
    """The variant's production server, with two workers: every scrape reaches one
    of them, and must report the requests of both. Their metrics folder is named, as
    the Kubernetes manifests name it."""
    running = Service(
        projects.synced(variant),
        tmp_path,
        free_port(),
        APP_ENV="production",
        SECRET_KEY=STRONG_SECRET,
        REDIS_URL=redis_server.url,
        WEB_CONCURRENCY=str(WORKERS),
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
    )
    try:
        yield running.start()
    finally:
        running.kill()


@pytest.fixture
def prometheus(
    production_service: Service, tmp_path: Path
) -> Iterator[PrometheusServer]:
    workdir = tmp_path / "prometheus"
    workdir.mkdir()
    server = PrometheusServer(workdir, production_service.port)
    try:
        yield server.start()
    finally:
        server.stop()


def wait_until_every_worker_serves(running: Service) -> None:
    """Probe readiness on fresh connections until each worker has served a probe, as
    its own file in the metrics folder shows: Service.start() returns as soon as one
    worker answers, and a worker still booting takes no connection."""
    folder = Path(running.env["PROMETHEUS_MULTIPROC_DIR"])

    def every_worker_served() -> bool:
        http_status(running.port, "/health/ready")
        return len(list(folder.glob("histogram_*.db"))) >= WORKERS

    wait_until(every_worker_served, 30, running.output, running.process)


@pytest.mark.parametrize("variant", TELEMETRY_VARIANTS)
def test_prometheus_scrapes_every_request_exactly_once_across_workers(
    production_service: Service, prometheus: PrometheusServer
) -> None:
    wait_until_every_worker_serves(production_service)
    prometheus.wait_until_up()
    # Service.start()'s own liveness probe is counted too.
    before = prometheus.value(LIVE_COUNT) or 0

    # A fresh connection each, so that both workers serve some: they share the
    # listening socket.
    statuses = [
        http_status(production_service.port, "/health/live") for _ in range(REQUESTS)
    ]
    prometheus.wait_for_value(LIVE_COUNT, before + REQUESTS)
    # Scrapes hit /metrics, not /health/live: more of them change nothing.
    prometheus.wait_for_scrapes(2)

    assert statuses == [200] * REQUESTS
    assert prometheus.value(LIVE_COUNT) == before + REQUESTS
    assert prometheus.value(prometheus.up) == 1
    [target] = prometheus.targets()
    assert target["health"] == "up", target
    assert target["lastError"] == "", target


def samples_named(families: Iterable[Metric], name: str) -> list[Sample]:
    return [
        sample
        for family in families
        for sample in family.samples
        if sample.name == name
    ]


@pytest.mark.parametrize("variant", TELEMETRY_VARIANTS)
def test_metrics_parse_with_request_and_process_families(
    production_service: Service,
) -> None:
    with httpx2.Client(base_url=production_service.url, timeout=5) as client:
        live = client.get("/health/live")
        missing = client.get("/no-such-page")
        metrics = client.get("/metrics")

    assert (live.status_code, missing.status_code) == (200, 404)
    assert metrics.status_code == 200, metrics.text
    assert metrics.headers["content-type"].startswith("text/plain")
    families = {
        family.name: family for family in text_string_to_metric_families(metrics.text)
    }
    duration = families[DURATION]
    assert duration.type == "histogram"
    assert duration.samples
    for sample in duration.samples:
        assert sample.labels.keys() >= REQUEST_LABELS, sample
    counts = {
        (
            sample.labels["http_request_method"],
            sample.labels["http_route"],
            sample.labels["http_response_status_code"],
        ): sample.value
        for sample in duration.samples
        if sample.name == f"{DURATION}_count"
    }
    assert counts[("GET", "/health/live", "200")] >= 1, counts
    assert counts[("GET", "unmatched", "404")] == 1, counts
    active = families["http_server_active_requests"]
    assert active.type == "gauge"
    assert active.samples
    for sample in active.samples:
        assert "http_request_method" in sample.labels, sample
    for name in PROCESS_METRICS:
        [sample] = samples_named(families.values(), name)
        assert sample.value > 0, sample
