"""Every line is JSON; each request gets an id and one access line."""

import re
from datetime import datetime

import httpx2
import pytest

from .conftest import LogLines
from .failing import SECRET_IN_A_LOCAL_VARIABLE

REQUEST_ID = "abc-123_def.456:789"


def access_lines(lines: list[dict[str, object]]) -> list[dict[str, object]]:
    return [line for line in lines if line["message"] == "request"]


def test_every_line_has_the_standard_fields(
    client: httpx2.Client, log_lines: LogLines
) -> None:
    client.get("/health/live")

    lines = log_lines()
    assert lines
    for line in lines:
        assert {"timestamp", "level", "logger", "message"} <= line.keys()
        timestamp = datetime.fromisoformat(str(line["timestamp"]))
        assert timestamp.utcoffset() is not None
        assert timestamp.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


def test_one_access_line_per_request_with_its_fields(
    client: httpx2.Client, log_lines: LogLines
) -> None:
    client.get("/health/ready", headers={"X-Request-ID": REQUEST_ID})

    [line] = access_lines(log_lines())
    assert line["method"] == "GET"
    assert line["path"] == "/health/ready"
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], float)
    assert line["request_id"] == REQUEST_ID
    assert isinstance(line["client"], str)


def test_a_valid_inbound_request_id_is_kept_and_echoed(client: httpx2.Client) -> None:
    response = client.get("/health/live", headers={"X-Request-ID": REQUEST_ID})

    assert response.headers["X-Request-ID"] == REQUEST_ID


@pytest.mark.parametrize(
    "inbound", [None, "", "has spaces", "x" * 129, "<script>", "line\\nbreak"]
)
def test_a_missing_or_invalid_request_id_is_replaced(
    client: httpx2.Client, inbound: str | None
) -> None:
    headers = {} if inbound is None else {"X-Request-ID": inbound}

    response = client.get("/health/live", headers=headers)

    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])


def test_each_request_gets_its_own_id(client: httpx2.Client) -> None:
    first = client.get("/health/live").headers["X-Request-ID"]
    second = client.get("/health/live").headers["X-Request-ID"]

    assert first != second


def test_an_unhandled_exception_is_a_json_500_with_request_id_logged_once(
    client: httpx2.Client, log_lines: LogLines
) -> None:
    response = client.get("/test/fail", headers={"X-Request-ID": REQUEST_ID})

    assert response.status_code == 500
    assert response.headers["X-Request-ID"] == REQUEST_ID
    assert response.json()["status"] == 500
    lines = log_lines()
    errors = [line for line in lines if "exception" in line]
    assert len(errors) == 1
    [error] = errors
    assert error["level"] == "error"
    assert error["request_id"] == REQUEST_ID
    assert "RuntimeError: deliberate failure" in str(error["exception"])
    assert "Traceback (most recent call last)" in str(error["exception"])
    assert [line["status"] for line in access_lines(lines)] == [500]


def test_tracebacks_carry_no_local_variables(
    client: httpx2.Client, log_lines: LogLines
) -> None:
    client.get("/test/fail")

    output = "\n".join(str(line) for line in log_lines())
    assert "deliberate failure" in output
    assert SECRET_IN_A_LOCAL_VARIABLE not in output


def test_health_probes_are_not_logged_at_info(
    client: httpx2.Client, log_lines: LogLines
) -> None:
    for path in ("/health", "/health/live", "/health/ready"):
        client.get(path)
    # Only the probes' exact paths: a scanner must not hide under /health/.
    for path in ("/not-found", "/health/anything", "/healthz"):
        client.get(path)

    levels = {line["path"]: line["level"] for line in access_lines(log_lines())}
    assert levels == {
        "/health": "debug",
        "/health/live": "debug",
        "/health/ready": "debug",
        "/not-found": "info",
        "/health/anything": "info",
        "/healthz": "info",
    }


def test_http_client_libraries_write_no_line_per_request_even_at_debug(
    client: httpx2.Client, log_lines: LogLines
) -> None:
    # Their lines repeat each call's URL, query string included.
    client.get("/not-found?token=not-for-the-logs")

    lines = log_lines()
    assert access_lines(lines)
    assert not {line["logger"] for line in lines} & {"httpx2", "httpcore2"}
    assert "not-for-the-logs" not in "\n".join(str(line) for line in lines)
