"""What the template's tests share: the option table, rendering, and running tools."""

import itertools
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COPIER_YML: dict[str, Any] = yaml.safe_load((ROOT / "copier.yml").read_text())


def choices(question: str) -> list[str]:
    """The values a question accepts, read from copier.yml so the table cannot drift."""
    raw = COPIER_YML[question]["choices"]
    return list(raw.values()) if isinstance(raw, dict) else list(raw)


RUNTIME_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
PYTHON_VERSIONS = choices("python_version")
FRAMEWORKS = choices("framework")
DEPLOY_TARGETS = choices("deploy_target")


@dataclass(frozen=True)
class Variant:
    framework: str
    redis_sessions: bool
    deploy_target: str
    python_version: str = RUNTIME_PYTHON

    @property
    def id(self) -> str:
        sessions = "sessions" if self.redis_sessions else "no-sessions"
        return (
            f"{self.framework}-{sessions}-{self.deploy_target}-py{self.python_version}"
        )

    @property
    def answers(self) -> dict[str, Any]:
        return {
            "project_name": "Order Service",
            "framework": self.framework,
            "redis_sessions": self.redis_sessions,
            "deploy_target": self.deploy_target,
            "python_version": self.python_version,
        }

    def with_python(self, version: str) -> "Variant":
        return Variant(self.framework, self.redis_sessions, self.deploy_target, version)


# Every combination of the options that change what is generated.
VARIANTS = [
    Variant(framework, sessions, target)
    for framework, sessions, target in itertools.product(
        FRAMEWORKS, (True, False), DEPLOY_TARGETS
    )
]
PACKAGE = "order_service"


def by_variant(variants: list[Variant]) -> list[Any]:
    """Parameters with one xdist group per variant: its project is installed once."""
    return [
        pytest.param(v, id=v.id, marks=pytest.mark.xdist_group(v.id)) for v in variants
    ]


def uv_environment() -> dict[str, str]:
    """Environment for uv and the projects: this interpreter, nothing downloaded."""
    env = {
        key: value
        for key, value in os.environ.items()
        # The suite's own virtualenv and service settings must not leak into projects.
        if key not in {"VIRTUAL_ENV", "REDIS_URL", "APP_ENV", "PORT", "SECRET_KEY"}
    }
    env.update(
        UV_PYTHON=sys.executable,
        UV_PYTHON_DOWNLOADS="never",
        UV_NO_PROGRESS="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def run(
    command: Sequence[str | os.PathLike[str]],
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """Run a command; fail the test with its whole output when it exits non-zero."""
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=dict(env) if env is not None else uv_environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, (
        f"{' '.join(map(str, command))} exited {result.returncode} in {cwd}\n"
        f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
    )
    return result


def project_files(project: Path) -> list[Path]:
    ignored = {
        ".venv",
        ".git",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        "__pycache__",
    }
    return sorted(
        path
        for path in project.rglob("*")
        if path.is_file() and not ignored.intersection(path.relative_to(project).parts)
    )
