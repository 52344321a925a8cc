"""Hostile or malformed requests all get the same JSON error shape, and no more."""

import httpx2
import pytest

REQUEST_ID = "hostile-0001"
ONE_MEBIBYTE = 1_048_576


def error(status: int, phrase: str) -> dict[str, object]:
    return {"error": phrase, "status": status, "request_id": REQUEST_ID}


def test_an_unknown_path_is_a_json_404_with_the_request_id(
    client: httpx2.Client,
) -> None:
    response = client.get("/no-such-page", headers={"X-Request-ID": REQUEST_ID})

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json() == error(404, "Not Found")


def test_a_wrong_method_is_a_json_405_that_keeps_its_allow_header(
    client: httpx2.Client,
) -> None:
    response = client.post("/health/live", headers={"X-Request-ID": REQUEST_ID})

    assert response.status_code == 405
    assert response.json() == error(405, "Method Not Allowed")
    assert "GET" in response.headers["allow"]


def test_options_answers_204_with_the_allowed_methods(client: httpx2.Client) -> None:
    response = client.options("/health/live")

    assert response.status_code == 204
    assert response.content == b""
    assert "GET" in response.headers["allow"]


def test_head_answers_like_get_without_a_body(client: httpx2.Client) -> None:
    response = client.head("/health/live")

    assert response.status_code == 200
    assert response.content == b""


def test_a_body_over_the_limit_is_a_json_413(client: httpx2.Client) -> None:
    within = client.post("/test/echo", content=b"x" * ONE_MEBIBYTE)
    over = client.post(
        "/test/echo",
        content=b"x" * (ONE_MEBIBYTE + 1),
        headers={"X-Request-ID": REQUEST_ID},
    )

    assert within.json() == {"received": ONE_MEBIBYTE}
    assert over.status_code == 413
    assert over.json()["status"] == 413
    assert over.json()["request_id"] == REQUEST_ID


@pytest.mark.parametrize("path", ["/health/live", "/no-such-page", "/test/fail"])
def test_every_answer_tells_browsers_not_to_guess_its_type(
    client: httpx2.Client, path: str
) -> None:
    response = client.get(path)

    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("path", ["/health/live/", "/health/"])
def test_a_trailing_slash_is_never_redirected_to_the_clients_host(
    client: httpx2.Client, path: str
) -> None:
    response = client.get(path, headers={"Host": "evil.example"})

    assert response.status_code == 404
    assert "location" not in response.headers
