"""What the template's tests share beyond hooks/: parameters, git, and file listings.

The variant table, generating and installing projects, and running commands live in
hooks/projects.py, shared with the benchmarks and hooks; they are re-exported here so
that a test module imports its support from one place.
"""

import json
import re
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from hooks.projects import (
    DEFAULT_PYTHON,
    DEPENDENCY_SETS,
    DEPLOY_TARGETS,
    FRAMEWORKS,
    OTHER_PYTHON_RUNS,
    PACKAGE,
    PROJECT_NAME,
    PYTHON_VERSIONS,
    RUNTIME_PYTHON,
    VARIANTS,
    Variant,
    generate,
    recorded_answers,
    run,
    uv_environment,
)
from hooks.questions import CONFIG, QUESTIONS, ROOT, RULES

__all__ = [
    "CONFIG",
    "DEFAULT_PYTHON",
    "DEPENDENCY_SETS",
    "DEPLOY_TARGETS",
    "FRAMEWORKS",
    "OTHER_PYTHON_RUNS",
    "PACKAGE",
    "PROJECT_NAME",
    "PYTHON_VERSIONS",
    "QUESTIONS",
    "RELEASES",
    "ROOT",
    "RULES",
    "RUNTIME_PYTHON",
    "VARIANTS",
    "Variant",
    "assert_valid_answers",
    "by_variant",
    "generate",
    "git",
    "project_files",
    "questions_schema",
    "recorded_answers",
    "run",
    "scratch_copy",
    "uv_environment",
]


# The releases recorded in CHANGELOG.md, newest first: (tag, commit).
RELEASES: list[tuple[str, str]] = re.findall(
    r"^## (v\d+\.\d+\.\d+) — commit ([0-9a-f]{40})$",
    (ROOT / "CHANGELOG.md").read_text(),
    re.MULTILINE,
)


def by_variant(
    variants: Iterable[Variant], group: Callable[[Variant], str] | str | None = None
) -> list[Any]:
    """Variants as test parameters, named by their id, each in an xdist group: the
    variant's own by default, so that its project is installed once per session."""

    def group_of(variant: Variant) -> str:
        if group is None:
            return variant.id
        return group if isinstance(group, str) else group(variant)

    return [
        pytest.param(v, id=v.id, marks=pytest.mark.xdist_group(group_of(v)))
        for v in variants
    ]


def questions_schema() -> dict[str, Any]:
    """portal/questions.schema.json, as committed."""
    loaded: dict[str, Any] = json.loads(
        (ROOT / "portal" / "questions.schema.json").read_text()
    )
    return loaded


def assert_valid_answers(recorded: dict[str, Any]) -> None:
    """The questions' answers in a service's answers file pass the questions' schema:
    the derived ones too."""
    schema = questions_schema()
    asked = {key: recorded[key] for key in schema["properties"]}
    jsonschema.Draft202012Validator(schema).validate(asked)


# A fixed identity: commits in the tests must not depend on the machine's git config.
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Template Tests",
    "GIT_AUTHOR_EMAIL": "template-tests@localhost",
    "GIT_COMMITTER_NAME": "Template Tests",
    "GIT_COMMITTER_EMAIL": "template-tests@localhost",
}


def git(cwd: Path, *arguments: str) -> str:
    """Run git with the tests' identity; its stdout."""
    return run(["git", *arguments], cwd=cwd, env=uv_environment(**GIT_IDENTITY)).stdout


def scratch_copy(project: Path, destination: Path) -> Path:
    """A copy of an installed project without its virtualenv: run it with the
    original's tools, and its own source first on PYTHONPATH."""
    shutil.copytree(project, destination, ignore=shutil.ignore_patterns(".venv"))
    return destination


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
