"""Every configuration and health rule is guarded: breaking it fails a generated test.

A test that cannot fail is a defect. For each rule, one edit to a scratch copy of a
generated service's source undoes the rule, and the service's own tests must then
fail (pytest's exit code 1: failed tests, not a collection error).
"""

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import Projects
from .support import (
    PACKAGE,
    VARIANTS,
    Variant,
    by_variant,
    scratch_copy,
    uv_environment,
)

pytestmark = pytest.mark.slow

SETTINGS = "settings.py"
HEALTH = "health.py"
SETTINGS_TESTS = ("tests/test_settings.py",)
SESSION_TESTS = ("tests/test_sessions_backing.py",)
HEALTH_TESTS = ("tests/test_health.py",)


@dataclass(frozen=True)
class Mutation:
    rule: str
    file: str
    old: str
    new: str
    tests: tuple[str, ...]


MUTATIONS = [
    Mutation(
        "production refuses the development key",
        SETTINGS,
        "if secret == DEVELOPMENT_SECRET_KEY:",
        "if False:",
        SETTINGS_TESTS,
    ),
    Mutation(
        "production refuses a short key",
        SETTINGS,
        "elif len(secret) < MIN_SECRET_KEY_LENGTH:",
        "elif False:",
        SETTINGS_TESTS,
    ),
    Mutation(
        "an empty variable counts as unset",
        SETTINGS,
        "env_ignore_empty=True",
        "env_ignore_empty=False",
        SETTINGS_TESTS,
    ),
    Mutation(
        "production requires each capability's required settings",
        SETTINGS,
        "if name not in self.model_fields_set:",
        "if False:",
        SESSION_TESTS,
    ),
    Mutation(
        "sessions require REDIS_URL in production",
        SETTINGS,
        'REQUIRED_IN_PRODUCTION: ClassVar[tuple[str, ...]] = ("redis_url",)',
        "REQUIRED_IN_PRODUCTION: ClassVar[tuple[str, ...]] = ()",
        SESSION_TESTS,
    ),
    Mutation(
        "APP_ENV is one of three",
        SETTINGS,
        'app_env: Literal["development", "test", "production"] = "development"',
        'app_env: str = "development"',
        SETTINGS_TESTS,
    ),
    Mutation(
        "PORT is a port",
        SETTINGS,
        "port: int = Field(default=8000, ge=1, le=65535)",
        "port: int = 8000",
        SETTINGS_TESTS,
    ),
    Mutation(
        "LOG_LEVEL is a level",
        SETTINGS,
        'log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"',
        'log_level: str = "INFO"',
        SETTINGS_TESTS,
    ),
    Mutation(
        "WEB_CONCURRENCY is at least 1",
        SETTINGS,
        "web_concurrency: int = Field(default=2, ge=1)",
        "web_concurrency: int = 2",
        SETTINGS_TESTS,
    ),
    Mutation(
        "KEEP_ALIVE_SECONDS is positive",
        SETTINGS,
        "keep_alive_seconds: PositiveInt = 75",
        "keep_alive_seconds: int = 75",
        SETTINGS_TESTS,
    ),
    Mutation(
        "DRAIN_SECONDS is not negative",
        SETTINGS,
        "drain_seconds: float = Field(default=5, ge=0)",
        "drain_seconds: float = 5",
        SETTINGS_TESTS,
    ),
    Mutation(
        "GRACEFUL_TIMEOUT is positive",
        SETTINGS,
        "graceful_timeout: PositiveInt = 20",
        "graceful_timeout: int = 20",
        SETTINGS_TESTS,
    ),
    Mutation(
        "FORWARDED_ALLOW_IPS holds addresses or networks",
        SETTINGS,
        'if entry != "*":',
        "if False:",
        SETTINGS_TESTS,
    ),
    Mutation(
        "MAX_REQUEST_BODY_BYTES is at least 1",
        SETTINGS,
        "max_request_body_bytes: int = Field(default=1_048_576, ge=1)",
        "max_request_body_bytes: int = 1_048_576",
        SETTINGS_TESTS,
    ),
    Mutation(
        "MAX_REQUEST_HEADERS is at least 1",
        SETTINGS,
        "max_request_headers: int = Field(default=100, ge=1, le=32_768)",
        "max_request_headers: int = 100",
        SETTINGS_TESTS,
    ),
    Mutation(
        "MAX_REQUEST_HEADER_BYTES is at least 256",
        SETTINGS,
        "max_request_header_bytes: int = Field(default=8190, ge=256)",
        "max_request_header_bytes: int = 8190",
        SETTINGS_TESTS,
    ),
    Mutation(
        "SESSION_TTL_SECONDS is at least a minute",
        SETTINGS,
        "session_ttl_seconds: int = Field(default=86_400, ge=60)",
        "session_ttl_seconds: int = 86_400",
        SESSION_TESTS,
    ),
    Mutation(
        "readiness fails while draining",
        HEALTH,
        "if lifecycle.is_draining():",
        "if False:",
        HEALTH_TESTS,
    ),
    Mutation(
        "a failed check fails the report",
        HEALTH,
        'return "fail" if any(r["status"] == "fail" for r in results) else "pass"',
        'return "pass"',
        HEALTH_TESTS,
    ),
    Mutation(
        "a failed report answers 503",
        HEALTH,
        'return 200 if self.status == "pass" else 503',
        "return 200",
        HEALTH_TESTS,
    ),
    Mutation(
        "readiness runs every backing service's check",
        HEALTH,
        "results.update({name: [check()] for name, check in checks.items()})",
        "results.update({})",
        HEALTH_TESTS,
    ),
    Mutation(
        "liveness touches no backing service",
        "app.py",
        "return _health_response(health.liveness())",
        "return _health_response(health.readiness(checks))",
        HEALTH_TESTS,
    ),
    Mutation(
        "a Redis that does not answer fails its check",
        "sessions/client.py",
        '"datastore",\n            "fail",',
        '"datastore",\n            "pass",',
        SESSION_TESTS,
    ),
]
# Both frameworks, with sessions: every rule above exists in them.
MUTATED = [
    v
    for v in VARIANTS
    if v.redis_sessions and v.deploy_target == "none" and v.database == "none"
]


def run_tests(project: Path, scratch: Path, tests: tuple[str, ...]) -> int:
    result = subprocess.run(
        [
            str(project / ".venv" / "bin" / "python"),
            *("-m", "pytest", "-q", "-x", "-p", "no:cacheprovider"),
            *tests,
        ],
        cwd=scratch,
        # The scratch copy's source comes first: the virtualenv's editable install
        # points at the original.
        env=uv_environment() | {"PYTHONPATH": str(scratch / "src")},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return result.returncode


@pytest.mark.parametrize("variant", by_variant(MUTATED))
def test_the_unbroken_copy_passes_the_tests_the_mutations_break(
    projects: Projects, variant: Variant, tmp_path: Path
) -> None:
    project = projects.synced(variant)
    scratch = scratch_copy(project, tmp_path / "service")
    tests = tuple(sorted({test for m in MUTATIONS for test in m.tests}))

    assert run_tests(project, scratch, tests) == 0


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.rule for m in MUTATIONS])
@pytest.mark.parametrize("variant", by_variant(MUTATED))
def test_breaking_a_rule_fails_a_generated_test(
    projects: Projects, variant: Variant, mutation: Mutation, tmp_path: Path
) -> None:
    project = projects.synced(variant)
    scratch = scratch_copy(project, tmp_path / "service")
    source = scratch / "src" / PACKAGE / mutation.file
    text = source.read_text()
    assert text.count(mutation.old) == 1, f"{mutation.old!r} in {mutation.file}"
    source.write_text(text.replace(mutation.old, mutation.new))

    assert run_tests(project, scratch, mutation.tests) == 1, mutation.rule
