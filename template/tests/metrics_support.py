"""Reading a scrape of GET /metrics the way Prometheus does: with prometheus_client's
own parsers, one for each exposition format."""

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Self

import httpx2
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

DURATION = "http_server_request_duration_seconds"
ACTIVE = "http_server_active_requests"
OPENMETRICS = "application/openmetrics-text"

# A request's labels: method, route and status.
RequestKey = tuple[str, str, str]


class Scrape:
    """One scrape's samples."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = {family.name: family for family in families}

    @classmethod
    def parse(cls, response: httpx2.Response) -> Self:
        assert response.status_code == 200, response.text
        if response.headers["Content-Type"].startswith(OPENMETRICS):
            # prometheus_client 0.26 leaves its OpenMetrics parser unannotated.
            return cls(openmetrics_families(response.text))  # type: ignore[no-untyped-call]
        return cls(text_string_to_metric_families(response.text))

    def value(self, name: str, **labels: str) -> float | None:
        """The value of the sample with exactly these labels, if there is one."""
        for family in self.families.values():
            for sample in family.samples:
                if sample.name == name and sample.labels == labels:
                    return sample.value
        return None

    def request_counts(self) -> dict[RequestKey, float]:
        """How many requests the duration histogram counted, by their labels."""
        return {
            (
                sample.labels["http_request_method"],
                sample.labels["http_route"],
                sample.labels["http_response_status_code"],
            ): sample.value
            for sample in self.families[DURATION].samples
            if sample.name == f"{DURATION}_count"
        }

    def count(self, method: str, route: str, status: int) -> float:
        return self.request_counts().get((method, route, str(status)), 0)

    def active(self, method: str) -> float:
        return self.value(ACTIVE, http_request_method=method) or 0


def added(before: Scrape, after: Scrape) -> dict[RequestKey, float]:
    """The requests counted between two scrapes, by their labels."""
    earlier = before.request_counts()
    return {
        key: count - earlier.get(key, 0)
        for key, count in after.request_counts().items()
        if count != earlier.get(key, 0)
    }


def scrape(client: httpx2.Client, url: str, accept: str | None = None) -> Scrape:
    """The scrape of the service at `url`."""
    headers = {} if accept is None else {"Accept": accept}
    return Scrape.parse(client.get(f"{url}/metrics", headers=headers))


def processes_that_counted(folder: Path) -> set[int]:
    """The processes that recorded a request in a server's PROMETHEUS_MULTIPROC_DIR:
    prometheus_client keeps a histogram file per process, made when it records its
    first one."""
    return {int(path.stem.rsplit("_", 1)[1]) for path in folder.glob("histogram_*.db")}


def serve_until_every_worker_has_answered(
    client: httpx2.Client, url: str, folder: Path, workers: int, timeout: float = 30
) -> None:
    """Probe liveness until each worker has answered once: a server answers as soon
    as its first worker is up, and the others may still be starting. Each probe on
    a connection of its own, which any worker may accept."""
    deadline = time.monotonic() + timeout
    while len(processes_that_counted(folder)) < workers:
        assert time.monotonic() < deadline, "a worker never answered"
        probe = client.get(f"{url}/health/live", headers={"Connection": "close"})
        assert probe.status_code == 200
