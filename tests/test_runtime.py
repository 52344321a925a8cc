"""Generated services run as their production process, against a real Redis."""

import json
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2
import pytest
import yaml

from hooks.servers import RedisServer, ServerCertificate, Service, free_port

from .conftest import Projects
from .support import DEPENDENCY_SETS, Variant, by_variant, run, uv_environment

pytestmark = pytest.mark.slow

# The server's own behaviour, whatever its database: each generated suite runs the
# database's runtime tests against a PostgreSQL of its own.
SERVERS = [v for v in DEPENDENCY_SETS if v.database == "none"]
RUNTIME_VARIANTS = by_variant(SERVERS)
SESSION_VARIANTS = by_variant(v for v in SERVERS if v.redis_sessions)
REQUEST_ID = "runtime-test-0001"
# Default DRAIN_SECONDS + GRACEFUL_TIMEOUT, and a margin.
SHUTDOWN_BUDGET_SECONDS = 5 + 20 + 5
STRONG_SECRET = "x" * 48

ServiceFactory = Callable[..., Service]
RedisFactory = Callable[..., RedisServer]


@pytest.fixture
def service(
    projects: Projects, redis_server: RedisServer, tmp_path: Path
) -> Iterator[ServiceFactory]:
    started: list[Service] = []

    def start(variant: Variant, **settings: str) -> Service:
        project = projects.synced(variant)
        env = {"REDIS_URL": redis_server.url, "WEB_CONCURRENCY": "2"} | settings
        started.append(Service(project, tmp_path, free_port(), **env).start())
        return started[-1]

    yield start
    for running in started:
        running.kill()


@pytest.mark.parametrize("variant", RUNTIME_VARIANTS)
def test_serves_health_and_visits_then_stops_cleanly_on_sigterm(
    service: ServiceFactory, variant: Variant
) -> None:
    running = service(variant, LOG_LEVEL="INFO")

    with httpx2.Client(base_url=running.url, timeout=5) as client:
        live = client.get("/health/live")
        ready = client.get("/health/ready", headers={"X-Request-ID": REQUEST_ID})
        visits = [client.get("/visits") for _ in range(2)]

    exit_code, seconds = running.stop(signal.SIGTERM, timeout=SHUTDOWN_BUDGET_SECONDS)

    assert live.status_code == 200
    assert live.headers["content-type"].startswith("application/health+json")
    assert ready.status_code == 200
    assert ready.headers["X-Request-ID"] == REQUEST_ID
    assert ready.json()["status"] == "pass"
    if variant.redis_sessions:
        assert ready.json()["checks"]["redis:responseTime"][0]["status"] == "pass"
        assert [response.json() for response in visits] == [
            {"visits": 1},
            {"visits": 2},
        ]
    else:
        assert [response.status_code for response in visits] == [404, 404]
    assert exit_code == 0, running.output()
    assert seconds < SHUTDOWN_BUDGET_SECONDS


@pytest.mark.parametrize("variant", RUNTIME_VARIANTS)
def test_everything_on_stdout_is_json_with_one_access_line_per_request(
    service: ServiceFactory, variant: Variant
) -> None:
    running = service(variant, LOG_LEVEL="INFO")
    path = "/visits" if variant.redis_sessions else "/no-such-page"

    with httpx2.Client(base_url=running.url, timeout=5) as client:
        response = client.get(path, headers={"X-Request-ID": REQUEST_ID})
        client.get("/health/ready")
    running.stop(signal.SIGTERM, timeout=SHUTDOWN_BUDGET_SECONDS)

    lines = running.log_lines()
    assert running.stderr_path.read_text() == ""
    for line in lines:
        assert {"timestamp", "level", "logger", "message"} <= line.keys(), line
    access = [line for line in lines if line["message"] == "request"]
    assert len(access) == 1, "health probes must not be logged at INFO"
    [line] = access
    assert line["path"] == path
    assert line["method"] == "GET"
    assert line["status"] == response.status_code
    assert line["request_id"] == REQUEST_ID == response.headers["X-Request-ID"]
    assert line["duration_ms"] >= 0
    server_logger = (
        "gunicorn.error" if variant.framework == "flask" else "uvicorn.error"
    )
    assert any(line["logger"] == server_logger for line in lines)


@pytest.mark.parametrize("variant", RUNTIME_VARIANTS)
def test_production_refuses_to_start_without_a_secret_key(
    projects: Projects, redis_server: RedisServer, variant: Variant
) -> None:
    project = projects.synced(variant)
    env = uv_environment() | {
        "APP_ENV": "production",
        "REDIS_URL": redis_server.url,
        "PORT": str(free_port()),
    }

    result = subprocess.run(
        Service(project, project, 0).command(),
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 78
    assert result.stderr == ""
    [line] = result.stdout.splitlines()
    assert '"variables": ["SECRET_KEY"]' in line
    assert '"level": "critical"' in line


@pytest.mark.parametrize("variant", RUNTIME_VARIANTS)
def test_check_command_verifies_the_backing_services(
    projects: Projects, redis_server: RedisServer, variant: Variant
) -> None:
    project = projects.synced(variant)
    command = Service(project, project, 0).command("check")
    base = uv_environment() | {"APP_ENV": "production", "SECRET_KEY": STRONG_SECRET}

    run(command, cwd=project, env=base | {"REDIS_URL": redis_server.url})

    if variant.redis_sessions:
        unreachable = base | {"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
        failed = subprocess.run(
            command, cwd=project, env=unreachable, capture_output=True, timeout=30
        )
        assert failed.returncode == 1


def visits_and_readiness(running: Service) -> tuple[list[Any], httpx2.Response]:
    """Two /visits calls by one client (its cookie jar carries the session), then
    readiness."""
    with httpx2.Client(base_url=running.url, timeout=5) as client:
        visits = [client.get("/visits").json() for _ in range(2)]
        ready = client.get("/health/ready")
    return visits, ready


# --- Redis with the compose file's ACL ----------------------------------------------


def acl_options(command: list[str]) -> list[str]:
    """The `--user` options of a redis-server command line, as written."""
    options: list[list[str]] = []
    for argument in command[1:]:
        if argument.startswith("--"):
            options.append([])
        options[-1].append(argument)
    return [
        argument for option in options if option[0] == "--user" for argument in option
    ]


# Runs on the service's own interpreter: the suite's has no redis-py.
ACL_PROBE = """
import json, sys
from redis import Redis
from redis.exceptions import RedisError

def outcome(url, *command):
    try:
        Redis.from_url(url).execute_command(*command)
    except RedisError as error:
        return type(error).__name__
    return "ok"

url, anonymous, own_key, other_key = sys.argv[1:]
print(json.dumps({
    "SET own key": outcome(url, "SET", own_key, "1", "EX", "60"),
    "SET other key": outcome(url, "SET", other_key, "1"),
    "KEYS": outcome(url, "KEYS", "*"),
    "FLUSHALL": outcome(url, "FLUSHALL"),
    "PING without a user": outcome(anonymous, "PING"),
}))
"""


@pytest.mark.parametrize("variant", SESSION_VARIANTS)
def test_sessions_work_within_the_redis_acl_of_the_compose_file(
    projects: Projects,
    service: ServiceFactory,
    start_redis: RedisFactory,
    variant: Variant,
) -> None:
    project = projects.synced(variant)
    compose = yaml.safe_load((project / "compose.yaml").read_text())["services"]
    redis = start_redis(acl_options(compose["redis"]["command"]))
    # The app's credentials from compose, for the local server instead of `redis`.
    compose_url = urlsplit(compose["app"]["environment"]["REDIS_URL"])
    user, password = compose_url.username, compose_url.password
    assert user, compose_url
    assert password, compose_url
    url = compose_url._replace(
        netloc=f"{user}:{password}@127.0.0.1:{redis.port}"
    ).geturl()
    running = service(variant, REDIS_URL=url)

    visits, ready = visits_and_readiness(running)
    # Exits 0 only when Redis answers the ping, as the admin Job's `check` does.
    run(
        running.command("check"),
        cwd=project,
        env=running.env | {"APP_ENV": "production", "SECRET_KEY": STRONG_SECRET},
    )
    probe = run(
        [
            project / ".venv" / "bin" / "python",
            *("-c", ACL_PROBE),
            *(url, redis.url, f"{user}:acl-probe", f"not-{user}:acl-probe"),
        ],
        cwd=project,
    )

    assert visits == [{"visits": 1}, {"visits": 2}], running.output()
    assert ready.status_code == 200, ready.text
    assert json.loads(probe.stdout) == {
        "SET own key": "ok",
        "SET other key": "NoPermissionError",
        "KEYS": "NoPermissionError",
        "FLUSHALL": "NoPermissionError",
        "PING without a user": "AuthenticationError",
    }


# --- Redis over TLS ---------------------------------------------------------------


def issue_certificate(directory: Path) -> ServerCertificate:
    """A throwaway CA, and a certificate it signs for 127.0.0.1, made with openssl.

    The extensions are the ones Python's strict verification (the default from 3.13)
    requires; clients check an address against an IP subject alternative name.
    """
    directory.mkdir(parents=True)
    (directory / "redis.ext").write_text(
        "subjectAltName = IP:127.0.0.1\n"
        "basicConstraints = critical, CA:FALSE\n"
        "keyUsage = critical, digitalSignature\n"
        "extendedKeyUsage = serverAuth\n"
        "subjectKeyIdentifier = hash\n"
        "authorityKeyIdentifier = keyid\n"
    )
    # `req` makes a new unencrypted P-256 key, and a certificate request for it, or
    # with -x509 a self-signed certificate.
    request = [
        *("openssl", "req", "-noenc"),
        *("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"),
    ]
    authority = [
        *(*request, "-x509", "-days", "1", "-subj", "/CN=Throwaway test CA"),
        *("-addext", "basicConstraints=critical,CA:TRUE"),
        *("-addext", "keyUsage=critical,keyCertSign,cRLSign"),
        *("-keyout", "ca.key", "-out", "ca.crt"),
    ]
    server = [
        *(*request, "-subj", "/CN=127.0.0.1"),
        *("-keyout", "redis.key", "-out", "redis.csr"),
    ]
    signed = [
        *("openssl", "x509", "-req", "-in", "redis.csr", "-days", "1"),
        *("-CA", "ca.crt", "-CAkey", "ca.key", "-extfile", "redis.ext"),
        *("-out", "redis.crt"),
    ]
    for command in (authority, server, signed):
        run(command, cwd=directory)
    return ServerCertificate(
        certificate=directory / "redis.crt",
        key=directory / "redis.key",
        authority=directory / "ca.crt",
    )


@pytest.fixture
def tls_redis(start_redis: RedisFactory, tmp_path: Path) -> RedisServer:
    """A redis-server that answers only TLS, with a certificate of a throwaway CA."""
    return start_redis(tls=issue_certificate(tmp_path / "tls"))


@pytest.mark.parametrize("variant", SESSION_VARIANTS)
def test_sessions_and_readiness_work_over_tls(
    service: ServiceFactory, tls_redis: RedisServer, variant: Variant
) -> None:
    running = service(variant, REDIS_URL=tls_redis.url)

    visits, ready = visits_and_readiness(running)

    assert visits == [{"visits": 1}, {"visits": 2}], running.output()
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["redis:responseTime"][0]["status"] == "pass"


@pytest.mark.parametrize("variant", SESSION_VARIANTS)
def test_a_redis_certificate_from_another_ca_fails_readiness_not_the_service(
    service: ServiceFactory, tls_redis: RedisServer, variant: Variant, tmp_path: Path
) -> None:
    stranger = issue_certificate(tmp_path / "another-ca").authority
    running = service(variant, REDIS_URL=tls_redis.url_trusting(stranger))

    with httpx2.Client(base_url=running.url, timeout=5) as client:
        ready = client.get("/health/ready")
        visits = client.get("/visits")
        live = client.get("/health/live")
    still_running = running.process is not None and running.process.poll() is None
    exit_code, _ = running.stop(signal.SIGTERM, timeout=SHUTDOWN_BUDGET_SECONDS)

    assert ready.status_code == 503
    [redis_check] = ready.json()["checks"]["redis:responseTime"]
    assert redis_check["status"] == "fail"
    # The reason is logged, not published in the health body.
    assert any(
        "CERTIFICATE_VERIFY_FAILED" in json.dumps(line) for line in running.log_lines()
    ), running.output()
    assert visits.status_code == 503
    assert visits.headers["content-type"].startswith("application/json")
    assert live.status_code == 200
    assert still_running
    assert exit_code == 0, running.output()
