"""The production server, run as a real process, facing hostile or careless clients."""

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import pytest

from .conftest import StartService
from .processes import ServiceProcess, log_lines

BUSY_CLIENTS = 8
BUSY_SECONDS = 3
SLOW_CLIENTS = 50
TRICKLE_SECONDS = 6
PROBE_INTERVAL_SECONDS = 0.5
# The manifests' livenessProbe.timeoutSeconds.
PROBE_TIMEOUT_SECONDS = 1.0


def wait_for_lines(
    service: ServiceProcess, predicate: Callable[[dict[str, Any]], bool]
) -> list[dict[str, Any]]:
    """The log lines matching the predicate, once at least one has been written."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        matching = [line for line in log_lines(service) if predicate(line)]
        if matching:
            return matching
        time.sleep(0.05)
    raise AssertionError(f"no matching log line:\n{service.output()}")


@pytest.fixture
def slow_clients() -> Iterator[list[socket.socket]]:
    connections: list[socket.socket] = []
    yield connections
    for connection in connections:
        connection.close()


def test_fifty_slow_clients_leave_liveness_answering_within_a_second(
    start_service: StartService, slow_clients: list[socket.socket]
) -> None:
    service = start_service(WEB_CONCURRENCY="2")
    for _ in range(SLOW_CLIENTS):
        connection = socket.create_connection(("127.0.0.1", service.port), timeout=5)
        # A request whose headers never end: one more byte now and then.
        connection.sendall(b"GET /health/live HTTP/1.1\r\nHost: test\r\nX-Slow: ")
        slow_clients.append(connection)
    stop = threading.Event()

    def trickle() -> None:
        while not stop.wait(1):
            for connection in slow_clients:
                connection.sendall(b"x")

    trickler = threading.Thread(target=trickle, daemon=True)
    trickler.start()
    probes: list[tuple[int, float]] = []
    deadline = time.monotonic() + TRICKLE_SECONDS
    while time.monotonic() < deadline:
        started = time.monotonic()
        try:
            code = httpx2.get(
                f"{service.url}/health/live", timeout=PROBE_TIMEOUT_SECONDS
            ).status_code
        except httpx2.TransportError:
            code = 0
        probes.append((code, time.monotonic() - started))
        time.sleep(PROBE_INTERVAL_SECONDS)
    stop.set()
    trickler.join()

    assert len(probes) >= 8
    assert [code for code, _ in probes] == [200] * len(probes)
    assert max(seconds for _, seconds in probes) < PROBE_TIMEOUT_SECONDS


def count_requests(port: int, until: float) -> int:
    """Requests one kept-alive client gets answered, each sent as soon as it can."""
    answered = 0
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        replies = connection.makefile("rb")
        while time.monotonic() < until:
            connection.sendall(b"GET /health/live HTTP/1.1\r\nHost: test\r\n\r\n")
            length = 0
            while (line := replies.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
            replies.read(length)
            answered += 1
    return answered


def test_busy_kept_alive_clients_share_a_worker_fairly(
    start_service: StartService,
) -> None:
    service = start_service(WEB_CONCURRENCY="1")
    until = time.monotonic() + BUSY_SECONDS
    counts = [0] * BUSY_CLIENTS

    def client(index: int) -> None:
        counts[index] = count_requests(service.port, until)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(BUSY_CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # A client that always has its next request ready must not keep the worker to
    # itself: every client gets a comparable share.
    assert min(counts) > 0
    assert min(counts) / max(counts) > 0.7, counts


def test_the_servers_own_lines_never_carry_a_finished_requests_id(
    start_service: StartService,
) -> None:
    service = start_service(WEB_CONCURRENCY="1")
    with socket.create_connection(("127.0.0.1", service.port), timeout=5) as kept:
        kept.sendall(
            b"GET /no-such-page HTTP/1.1\r\nHost: test\r\n"
            b"X-Request-ID: finished-request\r\n\r\n"
        )
        assert kept.recv(65536).startswith(b"HTTP/1.1 404")
        # The same connection, then fresh ones: the server must log each as invalid.
        kept.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        kept.recv(65536)
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", service.port), timeout=5) as fresh:
            fresh.sendall(b"NOT HTTP AT ALL\r\n\r\n")
            fresh.recv(65536)

    invalid = wait_for_lines(
        service,
        lambda line: line["level"] == "warning" and "nvalid" in line["message"],
    )

    assert [line.get("request_id") for line in invalid] == [None] * len(invalid)


@pytest.mark.parametrize("path", ["/health/live/", "/health/", "/no-such-page/"])
def test_no_answer_is_built_from_the_clients_host_header(
    start_service: StartService, path: str
) -> None:
    service = start_service()

    response = httpx2.get(
        f"{service.url}{path}", headers={"Host": "evil.example"}, timeout=5
    )

    assert response.status_code == 404
    assert "location" not in response.headers
    assert "evil.example" not in response.text


@pytest.mark.parametrize(
    ("trusted", "expected"),
    [("", "127.0.0.1"), ("127.0.0.1", "203.0.113.7"), ("10.0.0.0/8", "127.0.0.1")],
    ids=["nobody", "loopback", "elsewhere"],
)
def test_forwarded_for_names_the_client_only_through_a_trusted_proxy(
    start_service: StartService, trusted: str, expected: str
) -> None:
    service = start_service(FORWARDED_ALLOW_IPS=trusted)

    httpx2.get(
        f"{service.url}/no-such-page",
        headers={"X-Forwarded-For": "203.0.113.7"},
        timeout=5,
    )

    [line] = wait_for_lines(service, lambda line: line["message"] == "request")
    assert line["client"] == expected


@pytest.mark.parametrize(
    "headers",
    [
        {f"X-Header-{number}": "x" for number in range(101)},
        {"Cookie": "c=" + "x" * 9000},
    ],
    ids=["101-headers", "9000-byte-header"],
)
def test_the_server_refuses_headers_beyond_its_limits(
    start_service: StartService, headers: dict[str, str]
) -> None:
    service = start_service()

    response = httpx2.get(f"{service.url}/health/live", headers=headers, timeout=5)

    assert response.status_code == 431
    assert httpx2.get(f"{service.url}/health/live", timeout=5).status_code == 200


def test_the_server_refuses_a_request_line_beyond_its_limit(
    start_service: StartService,
) -> None:
    service = start_service()

    response = httpx2.get(f"{service.url}/health/live?q={'x' * 5000}", timeout=5)

    assert response.status_code == 414
