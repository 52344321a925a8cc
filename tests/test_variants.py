"""Every combination of options generates a clean project whose own checks pass."""

import re
from pathlib import Path

import pytest
import yaml

from hooks.servers import RedisServer

from .conftest import Projects
from .support import (
    PACKAGE,
    PYTHON_VERSIONS,
    RUNTIME_PYTHON,
    VARIANTS,
    Variant,
    by_variant,
    project_files,
    run,
    uv_environment,
)

# Jinja delimiters; GitHub Actions expressions (`${{ ... }}`) are not Jinja.
JINJA_LEFTOVER = re.compile(r"(?<!\$)\{\{|\{%|%\}|\{#|#\}")

FRAMEWORK_WORDS = {
    "flask": ("flask", "gunicorn", "werkzeug"),
    "fastapi": ("fastapi", "uvicorn", "starlette", "starsessions"),
}
SESSION_WORDS = ("redis", "session", "visits")
SESSION_FILES = (
    f"src/{PACKAGE}/sessions/__init__.py",
    f"src/{PACKAGE}/sessions/adapter.py",
    f"src/{PACKAGE}/sessions/client.py",
    f"src/{PACKAGE}/sessions/store.py",
    f"src/{PACKAGE}/routes/visits.py",
    "tests/redis_support.py",
    "tests/sessions_support.py",
    "tests/test_redis_integration.py",
    "tests/test_sessions_backing.py",
    "tests/test_sessions_runtime.py",
    "tests/test_visits.py",
)


def text_of(project: Path) -> dict[str, str]:
    return {
        str(path.relative_to(project)): path.read_text()
        for path in project_files(project)
    }


@pytest.mark.parametrize("variant", by_variant(VARIANTS))
def test_renders_without_jinja_leftovers(projects: Projects, variant: Variant) -> None:
    leftovers = {
        name: match.group()
        for name, text in text_of(projects.rendered(variant)).items()
        if (match := JINJA_LEFTOVER.search(text))
    }

    assert leftovers == {}


@pytest.mark.parametrize("variant", by_variant(VARIANTS))
def test_contains_nothing_of_another_variant(
    projects: Projects, variant: Variant
) -> None:
    project = projects.rendered(variant)
    texts = text_of(project)
    foreign_words = [
        word
        for framework, words in FRAMEWORK_WORDS.items()
        if framework != variant.framework
        for word in words
    ]
    if not variant.redis_sessions:
        foreign_words.extend(SESSION_WORDS)

    # A word counts where one starts: `start_new_session` is not about sessions.
    found = {
        (name, word)
        for name, text in texts.items()
        if name != ".copier-answers.yml"
        for word in foreign_words
        if re.search(rf"\b{word}", text, re.IGNORECASE)
    }

    assert found == set()
    for name in SESSION_FILES:
        assert (project / name).is_file() == variant.redis_sessions, name


@pytest.mark.parametrize("variant", by_variant(VARIANTS))
def test_records_its_answers_for_copier_update(
    projects: Projects, variant: Variant
) -> None:
    answers = yaml.safe_load(
        (projects.rendered(variant) / ".copier-answers.yml").read_text()
    )

    assert {key: answers[key] for key in variant.answers} == variant.answers
    assert answers["service_slug"] == "order-service"
    assert answers["package_name"] == PACKAGE
    assert "_src_path" in answers
    assert "_commit" in answers


CHECKS = {
    "pytest": ["uv", "run", "--no-sync", "pytest", "-q", "-p", "no:cacheprovider"],
    "ruff-check": ["uv", "run", "--no-sync", "ruff", "check", "."],
    "ruff-format": ["uv", "run", "--no-sync", "ruff", "format", "--check", "."],
    "mypy": ["uv", "run", "--no-sync", "mypy"],
}


@pytest.mark.slow
@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("variant", by_variant(VARIANTS))
def test_passes_its_own_checks(
    projects: Projects, redis_server: RedisServer, variant: Variant, check: str
) -> None:
    project = projects.synced(variant)
    # A real Redis makes the generated integration tests run instead of skipping.
    env = uv_environment() | {"REDIS_URL": redis_server.url}

    result = run(CHECKS[check], cwd=project, env=env)

    if check == "pytest":
        assert " passed" in result.stdout
        assert "skipped" not in result.stdout


OTHER_VERSIONS = [
    variant.with_python(version)
    for variant in VARIANTS
    for version in PYTHON_VERSIONS
    if version != RUNTIME_PYTHON
]


@pytest.mark.slow
@pytest.mark.parametrize(
    "variant",
    # In the group of the variant whose installed tools check them.
    by_variant(OTHER_VERSIONS, group=lambda v: v.with_python(RUNTIME_PYTHON).id),
)
def test_other_python_versions_pass_static_checks(
    projects: Projects, variant: Variant
) -> None:
    # This machine cannot run every Python version, so these projects are checked
    # with the tools of the same variant installed for the running interpreter.
    project = projects.rendered(variant)
    installed = projects.synced(variant.with_python(RUNTIME_PYTHON))
    tools = installed / ".venv" / "bin"
    assert (project / ".python-version").read_text().strip() == variant.python_version
    # One universal lock serves every Python version; the installed project proved it.
    assert (project / "uv.lock").read_text() == (installed / "uv.lock").read_text()

    run([tools / "ruff", "check", "."], cwd=project)
    run([tools / "ruff", "format", "--check", "."], cwd=project)
    run([tools / "mypy"], cwd=project)
