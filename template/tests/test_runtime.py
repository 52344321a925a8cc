"""The production server, run as a real process: graceful shutdown."""

import json
import socket
import time

import httpx2

from .conftest import StartService
from .processes import MARGIN_SECONDS, status, wait_until

DRAIN_SECONDS = 2
GRACEFUL_TIMEOUT = 5
# A stop that waited for its graceful timeout (20 s below) would take at least that;
# half of it leaves room for a busy machine.
PROMPT_STOP_SECONDS = 10


def send_partial_request(port: int) -> socket.socket:
    """A request whose client is still sending it: its final line break is held back."""
    connection = socket.create_connection(("127.0.0.1", port), timeout=10)
    connection.sendall(b"GET /health/live HTTP/1.1\r\nHost: test\r\n")
    return connection


def finish_request(connection: socket.socket) -> bytes:
    with connection:
        connection.sendall(b"Connection: close\r\n\r\n")
        return connection.recv(65536)


def test_sigterm_fails_readiness_keeps_serving_then_exits_zero(
    start_service: StartService,
) -> None:
    service = start_service(
        WEB_CONCURRENCY="2",
        DRAIN_SECONDS=str(DRAIN_SECONDS),
        GRACEFUL_TIMEOUT=str(GRACEFUL_TIMEOUT),
    )
    assert status(f"{service.url}/health/ready") == 200
    in_flight = send_partial_request(service.port)

    service.terminate()
    started = time.monotonic()

    # "At once": well inside the few seconds between a balancer's readiness polls.
    wait_until(lambda: status(f"{service.url}/health/ready") == 503, timeout=1.5)
    assert status(f"{service.url}/health/live") == 200
    assert finish_request(in_flight).startswith(b"HTTP/1.1 200")
    exit_code = service.wait(timeout=DRAIN_SECONDS + GRACEFUL_TIMEOUT + MARGIN_SECONDS)
    elapsed = time.monotonic() - started
    assert exit_code == 0, service.output()
    assert elapsed >= DRAIN_SECONDS
    lines = [json.loads(line) for line in service.output().splitlines()]
    assert [line["message"] for line in lines].count("shutdown complete") == 1


def test_an_idle_kept_alive_connection_does_not_hold_up_the_stop(
    start_service: StartService,
) -> None:
    service = start_service(DRAIN_SECONDS="0", GRACEFUL_TIMEOUT="20")

    with httpx2.Client(timeout=5) as client:
        # The client keeps its connection open, as a load balancer does.
        assert client.get(f"{service.url}/health/live").status_code == 200
        service.terminate()
        started = time.monotonic()
        exit_code = service.wait(timeout=20 + MARGIN_SECONDS)
        elapsed = time.monotonic() - started

    assert exit_code == 0, service.output()
    assert elapsed < PROMPT_STOP_SECONDS


def test_a_stop_that_arrives_while_workers_boot_is_not_lost(
    start_service: StartService,
) -> None:
    # The first worker answers while the others may still be starting.
    service = start_service(
        WEB_CONCURRENCY="4", DRAIN_SECONDS="0", GRACEFUL_TIMEOUT="20"
    )

    service.terminate()
    started = time.monotonic()
    exit_code = service.wait(timeout=20 + MARGIN_SECONDS)

    assert exit_code == 0, service.output()
    assert time.monotonic() - started < PROMPT_STOP_SECONDS
