"""A service team's first day: the README's first endpoint works, and pre-commit runs
the same checks as CI."""

import re
import subprocess
from pathlib import Path

import pytest

from .conftest import Projects
from .support import (
    PACKAGE,
    VARIANTS,
    Variant,
    by_variant,
    git,
    run,
    scratch_copy,
    uv_environment,
)

pytestmark = pytest.mark.slow

EXAMPLE = re.compile(r"```python\n(?P<code>.*?)```", re.DOTALL)


def tools_of(project: Path) -> dict[str, str]:
    """The project's own tools, for a scratch copy of it."""
    return {"PATH": f"{project / '.venv' / 'bin'}:{uv_environment()['PATH']}"}


@pytest.mark.parametrize("variant", by_variant(VARIANTS))
def test_the_readmes_first_endpoint_answers_and_passes_the_checks(
    projects: Projects, variant: Variant, tmp_path: Path
) -> None:
    project = projects.synced(variant)
    scratch = scratch_copy(project, tmp_path / "service")
    readme = (scratch / "README.md").read_text()
    section = readme.split("To add your first endpoint", 1)[1]
    example = EXAMPLE.search(section)
    assert example, "the README shows no first endpoint"
    routes = scratch / "src" / PACKAGE / "routes" / "__init__.py"
    routes.write_text(routes.read_text() + "\n\n" + example["code"])
    (scratch / "tests" / "test_hello.py").write_text(
        "import httpx2\n\n\n"
        "def test_hello(client: httpx2.Client) -> None:\n"
        '    assert client.get("/hello").json() == {"hello": "world"}\n'
    )
    env = uv_environment() | tools_of(project) | {"PYTHONPATH": str(scratch / "src")}

    run(["pytest", "-q", "-p", "no:cacheprovider", "tests/test_hello.py"], scratch, env)
    run(["ruff", "check", "."], scratch, env)
    run(["ruff", "format", "--check", "."], scratch, env)
    run(["mypy"], scratch, env)


@pytest.mark.parametrize(
    "variant", by_variant([v for v in VARIANTS if v.deploy_target == "none"])
)
def test_pre_commit_runs_the_checks_of_ci_and_refuses_a_bad_commit(
    projects: Projects, variant: Variant, tmp_path: Path
) -> None:
    project = projects.synced(variant)
    repository = scratch_copy(project, tmp_path / "service")
    (repository / ".venv").symlink_to(project / ".venv")
    git(repository, "init", "--quiet")
    git(repository, "add", "--all")
    env = uv_environment() | {"PRE_COMMIT_HOME": str(tmp_path / "pre-commit")}
    command = ["uv", "run", "--no-sync", "pre-commit", "run", "--all-files"]

    passed = run(command, repository, env)
    (repository / "src" / PACKAGE / "careless.py").write_text("import os\nx=1\n")
    git(repository, "add", "--all")
    refused = subprocess.run(
        command, cwd=repository, env=env, capture_output=True, text=True, check=False
    )

    for hook in ("ruff check", "ruff format --check", "mypy"):
        assert re.search(rf"^{re.escape(hook)}\.+Passed$", passed.stdout, re.M), hook
    assert refused.returncode == 1
    assert re.search(r"^ruff check\.+Failed$", refused.stdout, re.M)
    assert re.search(r"^ruff format --check\.+Failed$", refused.stdout, re.M)
