"""Every combination of options generates a clean project whose own checks pass, and
every offered Python runs some of them for real."""

import dataclasses
import re
from pathlib import Path

import pytest
import yaml

from hooks.pythons import interpreter
from hooks.servers import RedisServer

from .conftest import Projects
from .support import (
    DEPENDENCY_SETS,
    DEPLOY_TARGETS,
    OTHER_PYTHON_RUNS,
    PACKAGE,
    PYTHON_VERSIONS,
    RUNTIME_PYTHON,
    VARIANTS,
    Variant,
    by_variant,
    project_files,
    run,
)

# Jinja delimiters; GitHub Actions expressions (`${{ ... }}`) are not Jinja.
JINJA_LEFTOVER = re.compile(r"(?<!\$)\{\{|\{%|%\}|\{#|#\}")

FRAMEWORK_WORDS = {
    "flask": ("flask", "gunicorn", "werkzeug"),
    "fastapi": ("fastapi", "uvicorn", "starlette", "starsessions"),
}
SESSION_WORDS = ("redis", "session", "visits")
DATABASE_WORDS = ("postgres", "database", "migrat", "alembic", "sqlalchemy", "psycopg")
SESSION_FILES = (
    f"src/{PACKAGE}/cache.py",
    f"src/{PACKAGE}/cache_policy.py",
    f"src/{PACKAGE}/sessions/__init__.py",
    f"src/{PACKAGE}/sessions/adapter.py",
    f"src/{PACKAGE}/sessions/client.py",
    f"src/{PACKAGE}/sessions/store.py",
    f"src/{PACKAGE}/routes/visits.py",
    "tests/redis_support.py",
    "tests/sessions_support.py",
    "tests/test_cache.py",
    "tests/test_redis_faults.py",
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
        # A database's SQLAlchemy sessions (one transaction's unit of work) are no
        # server-side sessions: there, Redis and the visits tell the capability apart.
        foreign_words.extend(
            word
            for word in SESSION_WORDS
            if word != "session" or variant.database == "none"
        )
    if variant.database == "none":
        foreign_words.extend(DATABASE_WORDS)

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


# What the deploy target changes: what the pipeline deploys, and the docs that say so.
# None of it is read by the checks, so they run on one deploy target's variants, and
# the test below proves that the others hold the same files for them.
DEPLOYMENT_FILES = re.compile(
    r"(deploy/|\.github/workflows/).*|README\.md|\.copier-answers\.yml"
)


@pytest.mark.parametrize(
    "variant", by_variant(v for v in VARIANTS if v.deploy_target != DEPLOY_TARGETS[0])
)
def test_another_deploy_target_changes_no_file_the_checks_read(
    projects: Projects, variant: Variant
) -> None:
    checked = dataclasses.replace(variant, deploy_target=DEPLOY_TARGETS[0])
    texts, checked_texts = (text_of(projects.rendered(v)) for v in (variant, checked))

    differing = {
        name
        for name in texts.keys() | checked_texts.keys()
        if texts.get(name) != checked_texts.get(name)
    }

    assert differing, "the deploy target changed nothing: the test compares nothing"
    assert {name for name in differing if not DEPLOYMENT_FILES.fullmatch(name)} == set()


@pytest.mark.slow
@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("variant", by_variant(DEPENDENCY_SETS + OTHER_PYTHON_RUNS))
def test_passes_its_own_checks_on_its_python(
    projects: Projects, redis_server: RedisServer, variant: Variant, check: str
) -> None:
    # Installed and run on its own Python version: this machine's interpreter, or a
    # Debian root's (hooks/pythons.py).
    python = interpreter(variant.python_version)
    project = projects.synced(variant)
    # A real Redis makes the generated integration tests run instead of skipping.
    env = python.environment(REDIS_URL=redis_server.url)

    result = python.run(CHECKS[check], project, env)

    if check == "pytest":
        assert " passed" in result.stdout
        assert "skipped" not in result.stdout
    ran = python.run(["uv", "run", "--no-sync", "python", "-V"], project).stdout
    assert ran.startswith(f"Python {variant.python_version}."), ran


STATIC_ONLY = [
    variant.with_python(version)
    for variant in DEPENDENCY_SETS
    for version in PYTHON_VERSIONS
    if version != RUNTIME_PYTHON
    and variant.with_python(version) not in OTHER_PYTHON_RUNS
]


@pytest.mark.slow
@pytest.mark.parametrize(
    "variant",
    # In the group of the variant whose installed tools check them.
    by_variant(STATIC_ONLY, group=lambda v: v.with_python(RUNTIME_PYTHON).id),
)
def test_variants_not_run_on_a_python_pass_static_checks_targeting_it(
    projects: Projects, variant: Variant
) -> None:
    # Every Python runs some variants for real (above); the other variants' code is
    # checked for it with the tools of the same variant installed for the suite's own.
    project = projects.rendered(variant)
    installed = projects.synced(variant.with_python(RUNTIME_PYTHON))
    tools = installed / ".venv" / "bin"
    assert (project / ".python-version").read_text().strip() == variant.python_version
    # One universal lock serves every Python version.
    assert (project / "uv.lock").read_text() == (installed / "uv.lock").read_text()

    run([tools / "ruff", "check", "."], cwd=project)
    run([tools / "ruff", "format", "--check", "."], cwd=project)
    run([tools / "mypy"], cwd=project)
