"""Fuzzing: a generated service answers hostile and malformed requests with 4xx JSON.

For each framework, with Redis sessions, the real production process
(`python -m order_service`, one worker, `APP_ENV=development`) runs against a real
redis-server and is sent:

- schemathesis' cases for every documented operation, positive and negative (header
  and cookie values outside their schema), from FastAPI's own `/openapi.json` or, for
  Flask, from the hand-written `tests/openapi/flask.yaml`; its coverage phase adds
  methods the operations do not declare. schemathesis checks each answer against the
  description: `not_a_server_error`, `status_code_conformance`,
  `content_type_conformance`, `response_headers_conformance` and
  `response_schema_conformance`;
- requests no description generates: every documented path with methods it does not
  serve (bodies of malformed JSON included), `OPTIONS` and `HEAD`, a table of junk
  paths, paths and query strings made by Hypothesis from arbitrary bytes, and hostile
  headers (an 8,000-byte cookie, forged or malformed session cookies, bogus
  `X-Request-ID`s, junk `Host`, `X-Forwarded-For`, `Content-Type` and `Range`, bodies
  on GET, chunked and over the 1 MiB limit).

Every answer, to every one of those requests, is held to one contract
(`contract_violations`):

- no status of 500 or more: Redis is up, so even a 503 is a failure;
- an answer of 400 or more is `application/json`, and its body is
  `{"error": <the status' reason phrase>, "status": <the HTTP status>,
  "request_id": <the X-Request-ID header>}`, plus at most an `errors` list (FastAPI's
  422): a traceback or an HTML page cannot pass;
- `HEAD` answers have no body; `OPTIONS` answers 204 with an `Allow` header and no body;
- every answer carries `X-Request-ID` (a short plain token: a bogus inbound one is
  replaced, never echoed) and `X-Content-Type-Options: nosniff`, and any session
  cookie it sets holds an id the service issued, never a value the client sent.

What it does not prove:

- Answers from the server before the application sees a request are outside it:
  gunicorn's HTML 400 for an unparseable request line or a control character in a
  header, its 414 for a request line over 4094 bytes, its 431 for more than 100 header
  fields or one over 8190 bytes (uvicorn answers plain-text 400s of its own). The
  requests here stay within those limits.
- Nothing here covers Redis failing, load, slow clients or shutdown: the generated
  project's own tests and tests/test_runtime.py do.
- It samples a bounded, derandomized number of cases: it is no exhaustive search, and
  routes a service's owners add later are not in either description.
- Only the variants with sessions run: without them the service is the same minus
  `/visits`.
"""

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.cookies import CookieError, Morsel, SimpleCookie
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote_from_bytes, urlencode

import httpx2
import hypothesis
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from hooks.servers import RedisServer, Service, free_port

from .conftest import Projects
from .support import DEPENDENCY_SETS, Variant, by_variant

FUZZ_VARIANTS = by_variant(
    v for v in DEPENDENCY_SETS if v.redis_sessions and v.database == "none"
)
FLASK_DESCRIPTION = Path(__file__).parent / "openapi" / "flask.yaml"
# Bounded for CI: the same cases on every run, none cut short by a deadline.
FUZZ_SETTINGS = hypothesis.settings(
    max_examples=100, derandomize=True, deadline=None, database=None
)
DOCUMENTED_PATHS = ("/health/live", "/health/ready", "/health", "/visits")
UNSERVED_METHODS = ("POST", "PUT", "DELETE", "PATCH", "TRACE")
MALFORMED_JSON = b'{"visits": 10**9'
# The development name, for `project_name: Order Service` (`__Host-` in production).
SESSION_COOKIE = "order-service-session"
SESSION_ID = re.compile(r"[A-Za-z0-9_-]{43}")
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
ERROR_KEYS = {"error", "status", "request_id"}
# FastAPI's 422 lists the invalid fields; no other key may join an error body.
OPTIONAL_ERROR_KEYS = {"errors"}
ONE_MEBIBYTE = 1_048_576


# --- The contract every answer is held to -------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One response, whichever client received it, with the request it answers."""

    method: str
    url: str
    status: int
    headers: Mapping[str, list[str]]  # lower-case names
    body: bytes

    @classmethod
    def from_httpx(cls, response: httpx2.Response) -> "Answer":
        names = {name.lower() for name in response.headers}
        return cls(
            method=response.request.method,
            url=str(response.request.url),
            status=response.status_code,
            headers={name: response.headers.get_list(name) for name in names},
            body=response.content,
        )

    @classmethod
    def from_schemathesis(cls, response: schemathesis.Response) -> "Answer":
        return cls(
            method=str(response.request.method),
            url=str(response.request.url),
            status=response.status_code,
            headers={name.lower(): values for name, values in response.headers.items()},
            body=response.content,
        )

    def header(self, name: str) -> str | None:
        values = self.headers.get(name)
        return values[0] if values else None

    @property
    def allowed_methods(self) -> set[str]:
        return {method.strip() for method in (self.header("allow") or "").split(",")}

    def describe(self) -> str:
        return f"{self.method} {self.url} -> {self.status} {self.body[:300]!r}"


def contract_violations(answer: Answer) -> list[str]:
    """What in this answer breaks the module docstring's contract; [] if nothing."""
    problems: list[str] = []
    if answer.status >= 500:
        problems.append("a server error")
    request_id = answer.header("x-request-id")
    if request_id is None or not REQUEST_ID.fullmatch(request_id):
        problems.append(f"X-Request-ID {request_id!r} is not a short plain token")
    if answer.header("x-content-type-options") != "nosniff":
        problems.append("no X-Content-Type-Options: nosniff")
    problems.extend(session_cookie_violations(answer))
    if answer.method == "HEAD" and answer.body:
        problems.append("HEAD answered with a body")
    if answer.method == "OPTIONS" and answer.status == 204:
        if "GET" not in answer.allowed_methods:
            problems.append(f"OPTIONS 204 with Allow {answer.header('allow')!r}")
        if answer.body:
            problems.append("OPTIONS 204 with a body")
    if answer.status >= 400:
        problems.extend(error_violations(answer))
    return [f"{answer.describe()}: {problem}" for problem in problems]


def error_violations(answer: Answer) -> list[str]:
    content_type = (answer.header("content-type") or "").split(";")[0].strip()
    if content_type != "application/json":
        return [f"an error in {answer.header('content-type')!r}, not JSON"]
    if answer.method == "HEAD":
        return []
    try:
        body = json.loads(answer.body)
    except ValueError:
        return ["an error body that is not JSON"]
    if not isinstance(body, dict):
        return ["an error body that is not a JSON object"]
    problems = []
    if not ERROR_KEYS <= body.keys() <= ERROR_KEYS | OPTIONAL_ERROR_KEYS:
        problems.append(f"error keys {sorted(body)}")
    # The service runs on this interpreter (UV_PYTHON): its phrases are these.
    if body.get("error") != HTTPStatus(answer.status).phrase:
        problems.append(f"error {body.get('error')!r}, not the status' phrase")
    if type(body.get("status")) is not int or body["status"] != answer.status:
        problems.append(f"status {body.get('status')!r} in the body")
    if body.get("request_id") != answer.header("x-request-id"):
        problems.append(f"request_id {body.get('request_id')!r} is not the header's")
    if "errors" in body and not isinstance(body["errors"], list):
        problems.append("errors is not a list")
    return problems


def cookie_morsels(set_cookie: str) -> list[Morsel[str]]:
    """The cookies one Set-Cookie header sets; [] when it does not parse."""
    cookies: SimpleCookie = SimpleCookie()
    try:
        cookies.load(set_cookie)
    except CookieError:
        return []
    return list(cookies.values())


def session_cookie_violations(answer: Answer) -> list[str]:
    """A session cookie may only carry an id the service made (or be expired empty)."""
    problems = []
    for header in answer.headers.get("set-cookie", []):
        morsels = cookie_morsels(header)
        if not morsels:
            problems.append(f"Set-Cookie {header!r} does not parse")
        for morsel in morsels:
            if not morsel.key.endswith(SESSION_COOKIE):
                problems.append(f"Set-Cookie of an unexpected cookie {morsel.key!r}")
            elif morsel.value and not SESSION_ID.fullmatch(morsel.value):
                problems.append(f"session cookie {morsel.value[:80]!r}: not an id")
    return problems


def assert_contract(answers: list[Answer]) -> None:
    problems = [
        problem for answer in answers for problem in contract_violations(answer)
    ]
    assert not problems, "\n".join(problems)


def fabricated(status: int, body: bytes, method: str = "GET", **headers: str) -> Answer:
    """An answer made up to check the contract itself; an empty header is left out."""
    defaults = {
        "x-request-id": "abc",
        "x-content-type-options": "nosniff",
        "content-type": "application/json",
    }
    merged = defaults | {
        name.replace("_", "-"): value for name, value in headers.items()
    }
    return Answer(
        method,
        "http://service/",
        status,
        {name: [value] for name, value in merged.items() if value},
        body,
    )


GOOD_404 = b'{"error": "Not Found", "status": 404, "request_id": "abc"}'
GOOD_422 = json.dumps(
    {
        "error": HTTPStatus(422).phrase,
        "status": 422,
        "request_id": "abc",
        "errors": [],
    }
).encode()


# Answers the contract must pass or refuse, with a word of the problem it must name.
CONTRACT_CASES: dict[str, tuple[Answer, str | None]] = {
    "a JSON 404": (fabricated(404, GOOD_404), None),
    "a JSON 422 with its errors": (fabricated(422, GOOD_422), None),
    "errors that are not a list": (
        fabricated(422, GOOD_422.replace(b"[]", b'"x"')),
        "errors is not a list",
    ),
    "an error that is not the phrase": (
        fabricated(404, GOOD_404.replace(b"Not Found", b"Oops")),
        "phrase",
    ),
    "a JSON 500": (fabricated(500, GOOD_404.replace(b"404", b"500")), "server error"),
    "a 503 while Redis is up": (fabricated(503, b"{}"), "server error"),
    "gunicorn's HTML 400": (
        fabricated(400, b"<html>Bad Request</html>", content_type="text/html"),
        "not JSON",
    ),
    "a traceback": (fabricated(404, b"Traceback (most recent call last):"), "not JSON"),
    "an extra key": (fabricated(404, GOOD_404[:-1] + b', "trace": "x"}'), "error keys"),
    "another status in the body": (
        fabricated(404, GOOD_404.replace(b": 404", b": 400")),
        "status 400",
    ),
    "another request id in the body": (
        fabricated(404, GOOD_404.replace(b'"abc"', b'"xyz"')),
        "request_id",
    ),
    "an echoed bogus request id": (
        fabricated(404, GOOD_404, x_request_id="<script>"),
        "X-Request-ID",
    ),
    "no nosniff": (fabricated(200, b"{}", x_content_type_options=""), "nosniff"),
    "a HEAD with a body": (fabricated(200, b"{}", method="HEAD"), "HEAD"),
    "an OPTIONS without Allow": (fabricated(204, b"", method="OPTIONS"), "Allow"),
    "a session cookie the client chose": (
        fabricated(200, b"{}", set_cookie=f"{SESSION_COOKIE}=../etc; Path=/"),
        "not an id",
    ),
}


@pytest.mark.parametrize(
    ("answer", "problem"), CONTRACT_CASES.values(), ids=CONTRACT_CASES.keys()
)
def test_the_contract_catches_what_the_docstring_says(
    answer: Answer, problem: str | None
) -> None:
    problems = contract_violations(answer)

    if problem is None:
        assert problems == []
    else:
        assert any(problem in found for found in problems), problems


# --- The service under test -----------------------------------------------------------


@pytest.fixture(scope="module", params=FUZZ_VARIANTS)
def variant(request: pytest.FixtureRequest) -> Variant:
    return cast("Variant", request.param)


@pytest.fixture(scope="module")
def service(
    variant: Variant,
    projects: Projects,
    redis_server: RedisServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Service]:
    running = Service(
        projects.synced(variant),
        tmp_path_factory.mktemp("fuzz"),
        free_port(),
        REDIS_URL=redis_server.url,
        WEB_CONCURRENCY="1",
        # FastAPI serves /openapi.json outside production only.
        APP_ENV="development",
    ).start()
    yield running
    running.kill()


@pytest.fixture(scope="module")
def client(service: Service) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=service.url, timeout=10) as http:
        yield http


@pytest.fixture(scope="module")
def api_schema(variant: Variant, service: Service) -> schemathesis.BaseSchema:
    if variant.framework == "fastapi":
        schema = schemathesis.openapi.from_url(f"{service.url}/openapi.json")
    else:
        schema = schemathesis.openapi.from_path(FLASK_DESCRIPTION)
    schema.config.update(base_url=service.url)
    return schema


def test_the_flask_description_is_valid_openapi_3_1() -> None:
    schema = schemathesis.openapi.from_path(FLASK_DESCRIPTION)

    schema.validate()

    assert {
        (path, method) for path, methods in schema.items() for method in methods
    } == {(path, "get") for path in DOCUMENTED_PATHS}


# --- Documented operations, fuzzed by schemathesis ------------------------------------

documented = schemathesis.pytest.from_fixture("api_schema")
SCHEMA_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.mark.slow
@FUZZ_SETTINGS
@documented.parametrize()
def test_documented_operations_answer_as_described(
    case: schemathesis.Case[Any],
) -> None:
    response = case.call_and_validate(checks=SCHEMA_CHECKS)

    assert_contract([Answer.from_schemathesis(response)])


# --- Requests outside the descriptions ------------------------------------------------


@pytest.mark.slow
def test_methods_a_path_does_not_serve_are_json_405s_with_allow(
    client: httpx2.Client,
) -> None:
    answers = [
        Answer.from_httpx(
            client.request(
                method,
                path,
                content=MALFORMED_JSON if method in {"POST", "PUT", "PATCH"} else None,
                headers={"Content-Type": "application/json"},
            )
        )
        for path in DOCUMENTED_PATHS
        for method in UNSERVED_METHODS
    ]

    assert_contract(answers)
    assert [a.describe() for a in answers if a.status != 405] == []
    assert [a.describe() for a in answers if "GET" not in a.allowed_methods] == []


@pytest.mark.slow
def test_options_answers_204_with_allow_and_head_answers_like_get(
    client: httpx2.Client,
) -> None:
    options = [Answer.from_httpx(client.options(path)) for path in DOCUMENTED_PATHS]
    pairs = [
        (Answer.from_httpx(client.get(path)), Answer.from_httpx(client.head(path)))
        for path in DOCUMENTED_PATHS
    ]

    assert_contract(options + [answer for pair in pairs for answer in pair])
    assert [a.describe() for a in options if a.status != 204] == []
    for get, head in pairs:
        assert (head.status, head.header("content-type")) == (
            get.status,
            get.header("content-type"),
        ), (get.describe(), head.describe())


JUNK_PATHS = [
    "/",
    "/admin",
    "/.env",
    "/.git/config",
    "/wp-login.php",
    "/health/live/",
    "/health/",
    "/visits/",
    "/health/ready/extra",
    "/health/live.json",
    "/health/live;jsessionid=0",
    "/VISITS",
    "/Health/Live",
    "/visits%20",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/..%2f..%2fetc%2fpasswd",
    "/%00",
    "/visits%00",
    "/%ff%fe",
    "/%zz",
    "/<script>alert(1)</script>",
    "/h\u00e9alth",
    # Long, but within gunicorn's 4094-byte request line.
    "/" + "a" * 3000,
]


@pytest.mark.slow
def test_junk_paths_are_json_404s_and_never_redirected(client: httpx2.Client) -> None:
    answers = [
        Answer.from_httpx(client.request(method, path))
        for path in JUNK_PATHS
        for method in ("GET", "POST", "HEAD")
    ]

    assert_contract(answers)
    assert [a.describe() for a in answers if a.status != 404] == []
    assert [a.describe() for a in answers if "location" in a.headers] == []


METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")
# Any bytes, percent-encoded, so the request line stays one a server can parse.
path_segments = st.lists(
    st.binary(max_size=24).map(lambda raw: quote_from_bytes(raw, safe="!$&'()*+,;=:@")),
    max_size=5,
)
queries = st.lists(
    st.tuples(st.text(max_size=12), st.text(max_size=24)), max_size=4
).map(urlencode)


@pytest.mark.slow
@FUZZ_SETTINGS
@hypothesis.given(
    method=st.sampled_from(METHODS),
    segments=st.one_of(
        path_segments,
        # Below a documented path, where a prefix match would route it.
        st.tuples(st.sampled_from(DOCUMENTED_PATHS), path_segments).map(
            lambda pair: [pair[0].strip("/"), *pair[1]]
        ),
    ),
    query=queries,
)
def test_fuzzed_paths_and_query_strings_get_contract_answers(
    client: httpx2.Client, method: str, segments: list[str], query: str
) -> None:
    target = "/" + "/".join(segments) + (f"?{query}" if query else "")

    # Absolute, so an empty segment's `//` is sent as it is, not read as a host.
    response = client.request(method, f"{client.base_url}".rstrip("/") + target)

    assert_contract([Answer.from_httpx(response)])


@dataclass(frozen=True)
class Hostile:
    """A GET carrying what schemathesis would not generate: headers, a body, or both."""

    headers: list[tuple[str, str | bytes]]
    body: bytes | None = None
    chunked_bytes: int = 0

    def send(self, client: httpx2.Client, path: str) -> Answer:
        content: bytes | Iterator[bytes] | None = self.body
        if self.chunked_bytes:
            # Without a length, the server must count the body as it arrives.
            content = iter([b"x" * 65_536] * (self.chunked_bytes // 65_536))
        headers = [
            (name.encode(), value if isinstance(value, bytes) else value.encode())
            for name, value in self.headers
        ]
        return Answer.from_httpx(
            client.request("GET", path, headers=headers, content=content)
        )

    def sent_cookie_values(self) -> set[str]:
        cookies = [value for name, value in self.headers if name == "Cookie"]
        values = {
            pair.split("=", 1)[-1].strip()
            for cookie in cookies
            if isinstance(cookie, str)
            for pair in cookie.split(";")
        }
        return values - {""}


HOSTILE = {
    "an 8000-byte session cookie": Hostile(
        [("Cookie", f"{SESSION_COOKIE}={'A' * 8000}")]
    ),
    "8000 bytes of cookies": Hostile(
        [("Cookie", "; ".join(f"c{i}={'v' * 95}" for i in range(80)))]
    ),
    "a session id of the right shape that was never issued": Hostile(
        [("Cookie", f"{SESSION_COOKIE}={'A' * 43}")]
    ),
    "two session cookies": Hostile(
        [("Cookie", f"{SESSION_COOKIE}={'B' * 43}; {SESSION_COOKIE}={'C' * 43}")]
    ),
    "a session cookie of path traversal": Hostile(
        [("Cookie", f"{SESSION_COOKIE}=../../../../etc/passwd")]
    ),
    "cookie syntax junk": Hostile(
        [("Cookie", f';;; =; {SESSION_COOKIE}="\\"; =x=; $Version=1; a')]
    ),
    "an X-Request-ID of 129 characters": Hostile([("X-Request-ID", "r" * 129)]),
    "an X-Request-ID of markup": Hostile(
        [("X-Request-ID", "<script>alert(1)</script>")]
    ),
    "an X-Request-ID with spaces and quotes": Hostile(
        [("X-Request-ID", "\"a b\" 'c'; d=e, f")]
    ),
    "an X-Request-ID of UTF-8 bytes": Hostile([("X-Request-ID", "été".encode())]),
    "an empty X-Request-ID": Hostile([("X-Request-ID", "")]),
    "two X-Request-IDs": Hostile(
        [("X-Request-ID", "first"), ("X-Request-ID", "second")]
    ),
    "a junk Host": Hostile([("Host", "evil.example:99999")]),
    "a junk X-Forwarded-For": Hostile(
        [("X-Forwarded-For", "not-an-ip, ::::, 999.1.1.1, , 127.0.0.1")]
    ),
    "a junk Accept": Hostile([("Accept", "text/html;q=abc, */*;q=-1, ;;")]),
    "a junk Range": Hostile([("Range", "bytes=-0-, 99999999999999999999-")]),
    "junk conditionals": Hostile(
        [("If-None-Match", '"'), ("If-Modified-Since", "yesterday")]
    ),
    "a junk Authorization": Hostile([("Authorization", "Basic !!!not-base64!!!")]),
    "a malformed JSON body": Hostile(
        [("Content-Type", "application/json")], body=b'{"visits": ['
    ),
    "a multipart body without a boundary": Hostile(
        [("Content-Type", "multipart/form-data; boundary=")], body=b"--\r\n\r\n--"
    ),
    "a body in a charset that does not exist": Hostile(
        [("Content-Type", "text/plain; charset=no-such-codec")], body=b"\xff\xfe\x00"
    ),
    "a chunked body": Hostile([], chunked_bytes=4 * 65_536),
    "a body over the 1 MiB limit": Hostile([], body=b"x" * (ONE_MEBIBYTE + 1)),
    "a chunked body over the 1 MiB limit": Hostile([], chunked_bytes=2 * ONE_MEBIBYTE),
}


@pytest.mark.slow
@pytest.mark.parametrize("hostile", list(HOSTILE))
def test_hostile_headers_and_bodies_get_contract_answers_and_are_never_adopted(
    client: httpx2.Client, hostile: str
) -> None:
    request = HOSTILE[hostile]

    answers = [request.send(client, path) for path in DOCUMENTED_PATHS]

    assert_contract(answers)
    issued = {
        morsel.value
        for answer in answers
        for header in answer.headers.get("set-cookie", [])
        for morsel in cookie_morsels(header)
    }
    # A client never chooses the id its session is stored under.
    assert issued.isdisjoint(request.sent_cookie_values()), issued


# Visible ASCII and obs-text: what a server lets through to the application (it
# refuses control characters itself, before the application sees the request).
HEADER_BYTES = [*range(0x21, 0x7F), *range(0x80, 0x100)]
junk_header_values = st.lists(
    st.sampled_from(HEADER_BYTES), min_size=1, max_size=160
).map(bytes)


def shaped_or_junk(shape: re.Pattern[str]) -> st.SearchStrategy[bytes]:
    """Values of the shape the service accepts, and values of any other."""
    return st.one_of(
        st.from_regex(shape, fullmatch=True).map(str.encode), junk_header_values
    )


@pytest.mark.slow
@FUZZ_SETTINGS
@hypothesis.given(
    path=st.sampled_from(DOCUMENTED_PATHS),
    request_id=shaped_or_junk(REQUEST_ID),
    session_id=shaped_or_junk(SESSION_ID),
)
def test_fuzzed_request_ids_and_session_cookies_are_never_echoed_or_adopted(
    client: httpx2.Client, path: str, request_id: bytes, session_id: bytes
) -> None:
    headers = [
        (b"X-Request-ID", request_id),
        (b"Cookie", SESSION_COOKIE.encode() + b"=" + session_id),
    ]

    answer = Answer.from_httpx(client.get(path, headers=headers))

    assert_contract([answer])
    echoed = answer.header("x-request-id") == request_id.decode("latin-1")
    assert echoed == bool(REQUEST_ID.fullmatch(request_id.decode("latin-1"))), (
        answer.describe()
    )
    issued = {
        morsel.value
        for header in answer.headers.get("set-cookie", [])
        for morsel in cookie_morsels(header)
    }
    assert session_id.decode("latin-1") not in issued, answer.describe()


@pytest.mark.slow
def test_a_valid_request_id_is_echoed_on_answers_and_errors(
    client: httpx2.Client,
) -> None:
    request_id = "fuzz-0001.trace:span_2"

    answers = [
        Answer.from_httpx(client.get(path, headers={"X-Request-ID": request_id}))
        for path in (*DOCUMENTED_PATHS, "/no-such-page")
    ]

    assert_contract(answers)
    assert {answer.header("x-request-id") for answer in answers} == {request_id}
