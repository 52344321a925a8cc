"""Generated services run as their production process, against a real Redis."""

import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx2
import pytest

from .conftest import Projects, RedisServer, free_port
from .service import Service
from .support import DEPLOY_TARGETS, FRAMEWORKS, Variant, run, uv_environment

pytestmark = pytest.mark.slow

RUNTIME_VARIANTS = [
    pytest.param(variant, id=variant.id, marks=pytest.mark.xdist_group(variant.id))
    for framework in FRAMEWORKS
    for sessions in (True, False)
    for variant in [Variant(framework, sessions, DEPLOY_TARGETS[0])]
]
REQUEST_ID = "runtime-test-0001"
# Default DRAIN_SECONDS + GRACEFUL_TIMEOUT, and a margin.
SHUTDOWN_BUDGET_SECONDS = 5 + 20 + 5
STRONG_SECRET = "x" * 48

ServiceFactory = Callable[..., Service]


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
