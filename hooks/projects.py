"""Generated projects: the table of variants, generating one, installing it with uv."""

import dataclasses
import itertools
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import copier
import yaml

from hooks.questions import CONFIG, ROOT, choices

RUNTIME_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
PYTHON_VERSIONS = choices("python_version")
DEFAULT_PYTHON: str = CONFIG["python_version"]["default"]
FRAMEWORKS = choices("framework")
DEPLOY_TARGETS = choices("deploy_target")
DATABASES = choices("database")
# Every variant is generated under this name, so its package is PACKAGE.
PROJECT_NAME = "Order Service"
PACKAGE = "order_service"


@dataclass(frozen=True)
class Variant:
    framework: str
    redis_sessions: bool
    deploy_target: str
    database: str = "none"
    python_version: str = RUNTIME_PYTHON

    @property
    def dependency_set(self) -> str:
        """What its dependencies (pyproject.toml, uv.lock) depend on."""
        sessions = "sessions" if self.redis_sessions else "no-sessions"
        database = "" if self.database == "none" else f"-{self.database}"
        return f"{self.framework}-{sessions}{database}"

    @property
    def id(self) -> str:
        return f"{self.dependency_set}-{self.deploy_target}-py{self.python_version}"

    @property
    def answers(self) -> dict[str, Any]:
        return {
            "project_name": PROJECT_NAME,
            "framework": self.framework,
            "redis_sessions": self.redis_sessions,
            "deploy_target": self.deploy_target,
            "database": self.database,
            "python_version": self.python_version,
        }

    def with_python(self, version: str) -> "Variant":
        return dataclasses.replace(self, python_version=version)


# Every combination of the options that change what is generated.
VARIANTS = [
    Variant(framework, sessions, target, database)
    for framework, sessions, target, database in itertools.product(
        FRAMEWORKS, (True, False), DEPLOY_TARGETS, DATABASES
    )
]
# One variant of each dependency set (framework and sessions): one lock, one
# environment each; the deploy target changes no dependency.
DEPENDENCY_SETS = [v for v in VARIANTS if v.deploy_target == DEPLOY_TARGETS[0]]
# What runs on each offered Python besides the suite's own (which runs every variant):
# the default, what new services get, runs every dependency set; each other version
# one dependency set with sessions (the most code), taking turns.
_WITH_SESSIONS = [v for v in DEPENDENCY_SETS if v.redis_sessions]
_OTHERS = [v for v in PYTHON_VERSIONS if v not in {RUNTIME_PYTHON, DEFAULT_PYTHON}]
OTHER_PYTHON_RUNS = [
    *(
        v.with_python(DEFAULT_PYTHON)
        for v in DEPENDENCY_SETS
        if DEFAULT_PYTHON != RUNTIME_PYTHON
    ),
    *(
        _WITH_SESSIONS[turn % len(_WITH_SESSIONS)].with_python(version)
        for turn, version in enumerate(_OTHERS)
    ),
]


def uv_environment(**overrides: str) -> dict[str, str]:
    """Environment for uv and the projects: this interpreter, nothing downloaded."""
    env = {
        key: value
        for key, value in os.environ.items()
        # The caller's virtualenv and service settings must not leak into projects.
        if key
        not in {
            "VIRTUAL_ENV",
            "REDIS_URL",
            "DATABASE_URL",
            "APP_ENV",
            "PORT",
            "SECRET_KEY",
        }
    }
    env.update(
        UV_PYTHON=sys.executable,
        UV_PYTHON_DOWNLOADS="never",
        UV_NO_PROGRESS="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env | overrides


class CommandFailedError(AssertionError):
    """A command exited non-zero; the message carries all it printed.

    An AssertionError: where a command is a check (a linter, a project's own tests),
    its failing is a failed check, and the tests expect it as one.
    """


def run(
    command: Sequence[str | os.PathLike[str]],
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """Run a command (with `uv_environment()` unless told otherwise) and capture its
    output; raise CommandFailedError with that output when it exits non-zero."""
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=dict(env) if env is not None else uv_environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise CommandFailedError(
            f"{' '.join(map(str, command))} exited {result.returncode} in {cwd}\n"
            f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
        )
    return result


def generate(
    destination: Path,
    answers: Mapping[str, Any],
    template: Path | str = ROOT,
    vcs_ref: str = "HEAD",
) -> dict[str, Any]:
    """Generate a project with Copier's API, nobody at a prompt; its recorded answers.

    From this checkout by default, uncommitted changes included (Copier renders a local
    template's working tree when the ref is HEAD).
    """
    copier.run_copy(
        str(template),
        destination,
        data=dict(answers),
        defaults=True,
        vcs_ref=vcs_ref,
        unsafe=False,
        quiet=True,
    )
    return recorded_answers(destination)


def recorded_answers(project: Path) -> dict[str, Any]:
    """The answers Copier recorded for `copier update`, derived ones included."""
    loaded: dict[str, Any] = yaml.safe_load(
        (project / ".copier-answers.yml").read_text()
    )
    return loaded


# Installs a generated project exactly as its shipped uv.lock says (--locked: the lock
# must already match pyproject.toml).
SYNC = ("uv", "sync", "--locked", "--quiet")


def sync(project: Path) -> Path:
    """Install a generated project with uv on this interpreter."""
    run(SYNC, cwd=project)
    return project


def variant_project(variant: Variant, workdir: Path) -> Path:
    """A variant generated and installed under `workdir`, named after its id."""
    project = workdir / variant.id
    generate(project, variant.answers)
    return sync(project)
