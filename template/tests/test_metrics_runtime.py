"""GET /metrics from the production server with two workers: every scrape, whichever
worker answers it, reports each request exactly once, also after a worker died."""

import os
import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2
import psutil
import pytest

from .conftest import StartService
from .metrics_support import (
    OPENMETRICS,
    RequestKey,
    added,
    processes_that_counted,
    scrape,
    serve_until_every_worker_has_answered,
)
from .processes import (
    MARGIN_SECONDS,
    ServiceProcess,
    log_lines,
    wait_until,
)

CLIENTS = 8
REQUESTS = 200
SCRAPES = 10
# The requests each test counts: no probe of the test harness asks for this path.
MISSING_PAGE = "/no-such-page"
PROCESS_METRICS = (
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "process_open_fds",
)
# Each process's CPU time is read in whole clock ticks.
CPU_TICK_SLACK = 0.05


def two_workers_settings(metrics_folder: Path) -> dict[str, str]:
    return {
        "WEB_CONCURRENCY": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_folder),
        "DRAIN_SECONDS": "0",
    }


@pytest.fixture(scope="module")
def shared_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("metrics")


@pytest.fixture(scope="module")
def two_workers(
    tmp_path_factory: pytest.TempPathFactory, shared_folder: Path
) -> Iterator[ServiceProcess]:
    """One server for the tests that only read it: each counts what it adds. They
    count requests that match no route, so no backing service is needed."""
    service = ServiceProcess(
        tmp_path_factory.mktemp("service"), **two_workers_settings(shared_folder)
    )
    try:
        service.start()
        with httpx2.Client(timeout=5) as client:
            serve_until_every_worker_has_answered(client, service.url, shared_folder, 2)
        yield service
    finally:
        service.kill()


def send_concurrently(
    client: httpx2.Client, url: str, count: int, path: str = MISSING_PAGE
) -> list[int]:
    """`count` GETs from concurrent clients; their statuses."""
    with ThreadPoolExecutor(CLIENTS) as pool:
        responses = pool.map(lambda _: client.get(f"{url}{path}"), range(count))
        return [response.status_code for response in responses]


def missing_count(client: httpx2.Client, url: str) -> float:
    return scrape(client, url).count("GET", "unmatched", 404)


def wait_for_missing_count(client: httpx2.Client, url: str, count: float) -> None:
    # The last answers may reach the client a moment before their worker counts them.
    wait_until(lambda: missing_count(client, url) >= count, 5)


def without_scrapes(counts: dict[RequestKey, float]) -> dict[RequestKey, float]:
    return {key: count for key, count in counts.items() if key[1] != "/metrics"}


def test_every_scrape_reports_each_request_exactly_once_whichever_worker_answers(
    two_workers: ServiceProcess, fresh_connections: httpx2.Client
) -> None:
    url = two_workers.url
    before = missing_count(fresh_connections, url)

    # Both workers are up, and take these connections as they come.
    statuses = send_concurrently(fresh_connections, url, REQUESTS)
    wait_for_missing_count(fresh_connections, url, before + REQUESTS)
    counts = [missing_count(fresh_connections, url) for _ in range(SCRAPES)]

    assert statuses == [404] * REQUESTS
    assert counts == [before + REQUESTS] * SCRAPES


def test_a_killed_workers_requests_stay_counted_and_its_replacement_counts_on(
    start_service: StartService,
    metrics_folder: Path,
    fresh_connections: httpx2.Client,
) -> None:
    service = start_service(**two_workers_settings(metrics_folder))
    url = service.url
    serve_until_every_worker_has_answered(fresh_connections, url, metrics_folder, 2)
    before = missing_count(fresh_connections, url)
    send_concurrently(fresh_connections, url, REQUESTS)
    wait_for_missing_count(fresh_connections, url, before + REQUESTS)
    workers = service.child_pids()
    victim = min(processes_that_counted(metrics_folder))

    os.kill(victim, signal.SIGKILL)
    # Every scrape while the server replaces it, answered by the other worker.
    during = []

    def replaced() -> bool:
        during.append(missing_count(fresh_connections, url))
        children = service.child_pids()
        return victim not in children and len(children) == len(workers)

    wait_until(replaced, timeout=10)
    # Until the replacement has booted, the other worker takes every request.
    sent_since = 0

    def replacement_counted() -> bool:
        nonlocal sent_since
        assert fresh_connections.get(f"{url}{MISSING_PAGE}").status_code == 404
        sent_since += 1
        return bool(processes_that_counted(metrics_folder) - workers)

    wait_until(replacement_counted, timeout=30)
    send_concurrently(fresh_connections, url, REQUESTS)
    expected = before + REQUESTS + sent_since + REQUESTS
    wait_for_missing_count(fresh_connections, url, expected)
    counts = [missing_count(fresh_connections, url) for _ in range(SCRAPES)]

    assert during == [before + REQUESTS] * len(during)
    assert counts == [expected] * SCRAPES


def test_paths_and_methods_no_route_knows_add_one_label_set_each(
    two_workers: ServiceProcess, fresh_connections: httpx2.Client
) -> None:
    url = two_workers.url
    before = scrape(fresh_connections, url)

    with ThreadPoolExecutor(CLIENTS) as pool:
        responses = pool.map(
            lambda n: fresh_connections.get(f"{url}/scanner/probe-{n}"), range(50)
        )
        statuses = [response.status_code for response in responses]
    # Methods both servers parse, but OpenTelemetry's list of methods does not name.
    for method in ("PROPFIND", "MKCOL", "LOCK", "PURGE", "SEARCH"):
        response = fresh_connections.request(method, f"{url}{MISSING_PAGE}")
        statuses.append(response.status_code)

    def counted() -> dict[RequestKey, float]:
        return without_scrapes(added(before, scrape(fresh_connections, url)))

    wait_until(lambda: sum(counted().values()) >= 55, 5)
    counts = counted()
    assert statuses == [404] * 55
    assert counts == {
        ("GET", "unmatched", "404"): 50,
        ("_OTHER", "unmatched", "404"): 5,
    }


def test_openmetrics_and_text_scrapes_report_the_same_counts(
    two_workers: ServiceProcess, fresh_connections: httpx2.Client
) -> None:
    url = two_workers.url
    before = missing_count(fresh_connections, url)
    send_concurrently(fresh_connections, url, 20)
    send_concurrently(fresh_connections, url, 10, path="/health/live")
    wait_for_missing_count(fresh_connections, url, before + 20)

    text = scrape(fresh_connections, url)
    openmetrics = scrape(fresh_connections, url, accept=OPENMETRICS)

    assert without_scrapes(openmetrics.request_counts()) == without_scrapes(
        text.request_counts()
    )
    assert openmetrics.value("process_start_time_seconds") == text.value(
        "process_start_time_seconds"
    )


def test_scrapes_are_not_logged_at_info(two_workers: ServiceProcess) -> None:
    marker = f"{MISSING_PAGE}/after-the-scrapes"
    # One connection, so one worker: it writes the scrapes' lines, if any, first.
    with httpx2.Client(timeout=5) as client:
        for _ in range(3):
            scrape(client, two_workers.url)
        assert client.get(f"{two_workers.url}{marker}").status_code == 404
    wait_until(
        lambda: any(line.get("path") == marker for line in log_lines(two_workers)),
        timeout=5,
    )

    assert "/metrics" not in {line.get("path") for line in log_lines(two_workers)}


def tree_usage(pid: int) -> dict[str, float]:
    """What the process metrics measure, added up over the server and its workers."""
    usage = dict.fromkeys(PROCESS_METRICS, 0.0)
    root = psutil.Process(pid)
    for process in [root, *root.children(recursive=True)]:
        with process.oneshot():
            times = process.cpu_times()
            usage["process_cpu_seconds_total"] += times.user + times.system
            usage["process_resident_memory_bytes"] += process.memory_info().rss
            usage["process_open_fds"] += process.num_fds()
    return usage


def test_process_metrics_add_up_the_server_and_all_its_workers(
    two_workers: ServiceProcess, fresh_connections: httpx2.Client
) -> None:
    before = tree_usage(two_workers.pid)
    metrics = scrape(fresh_connections, two_workers.url)
    after = tree_usage(two_workers.pid)

    assert metrics.value("process_start_time_seconds") == pytest.approx(
        psutil.Process(two_workers.pid).create_time(), abs=0.01
    )
    reported = {name: metrics.value(name) or 0 for name in PROCESS_METRICS}
    # CPU time only grows: what was read during the scrape lies between.
    assert (
        before["process_cpu_seconds_total"] - CPU_TICK_SLACK
        <= reported["process_cpu_seconds_total"]
        <= after["process_cpu_seconds_total"] + CPU_TICK_SLACK
    ), (before, reported, after)
    # Memory and descriptors move a little while a scrape runs; no process alone
    # comes near the sum.
    for name in ("process_resident_memory_bytes", "process_open_fds"):
        low, high = sorted((before[name], after[name]))
        assert 0.9 * low <= reported[name] <= 1.1 * high, (before, reported, after)


def test_a_restarted_server_counts_from_zero_in_a_configured_folder(
    start_service: StartService,
    metrics_folder: Path,
    fresh_connections: httpx2.Client,
) -> None:
    settings = {
        "WEB_CONCURRENCY": "1",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_folder),
        "DRAIN_SECONDS": "0",
    }
    first = start_service(**settings)
    send_concurrently(fresh_connections, first.url, 5)
    wait_for_missing_count(fresh_connections, first.url, 5)
    assert first.stop(timeout=5 + MARGIN_SECONDS) == 0

    restarted = start_service(**settings)

    assert missing_count(fresh_connections, restarted.url) == 0
