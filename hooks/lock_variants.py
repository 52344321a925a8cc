"""Regenerate the uv.lock that each generated service ships with.

A service's lock depends only on its framework and on whether it has Redis sessions;
the service's own name is filled in when Copier renders `template/uv.lock.jinja`. Run
this after changing dependencies in `template/pyproject.toml.jinja`:

    uv run python hooks/lock_variants.py

It renders each combination under a placeholder name, locks it with uv against PyPI,
and stores the lock in `template/.locks/`, which Copier never copies as such.
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import copier

ROOT = Path(__file__).resolve().parents[1]
LOCKS = ROOT / "template" / ".locks"
PLACEHOLDER_SLUG = "lock-placeholder-service"


def lock_name(framework: str, redis_sessions: bool) -> str:
    return f"{framework}-{'sessions' if redis_sessions else 'no-sessions'}.lock"


def lock_variant(framework: str, redis_sessions: bool, workdir: Path) -> str:
    project = workdir / lock_name(framework, redis_sessions).removesuffix(".lock")
    copier.run_copy(
        str(ROOT),
        project,
        data={
            "project_name": "Lock Placeholder Service",
            "service_slug": PLACEHOLDER_SLUG,
            "framework": framework,
            "redis_sessions": redis_sessions,
            "python_version": f"{sys.version_info.major}.{sys.version_info.minor}",
        },
        defaults=True,
        vcs_ref="HEAD",
        quiet=True,
    )
    (project / "uv.lock").unlink()
    env = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
    env |= {"UV_PYTHON": sys.executable, "UV_PYTHON_DOWNLOADS": "never"}
    subprocess.run(["uv", "lock", "--quiet"], cwd=project, env=env, check=True)
    text = (project / "uv.lock").read_text()
    assert f'name = "{PLACEHOLDER_SLUG}"' in text, "the project's own entry is missing"
    return text.replace(f'"{PLACEHOLDER_SLUG}"', '"{{ service_slug }}"')


def main() -> None:
    LOCKS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        for framework in ("flask", "fastapi"):
            for redis_sessions in (True, False):
                text = lock_variant(framework, redis_sessions, Path(scratch))
                (LOCKS / lock_name(framework, redis_sessions)).write_text(text)
                print(f"locked {lock_name(framework, redis_sessions)}")


if __name__ == "__main__":
    main()
