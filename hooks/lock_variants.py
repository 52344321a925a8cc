"""Regenerate the uv.lock that each generated service ships with.

A service's lock depends only on its framework and on whether it has Redis sessions;
the service's own name is filled in when Copier renders `template/uv.lock.jinja`. Run
this after changing dependencies in `template/pyproject.toml.jinja`, then
`hooks/reserved_names.py`, which reads the locked environments:

    uv run python hooks/lock_variants.py

It renders each dependency set under a placeholder name, locks it with uv against
PyPI, and stores the lock in `template/.locks/`, which Copier never copies as such.
"""

import sys
import tempfile
from pathlib import Path

from hooks.projects import DEPENDENCY_SETS, Variant, generate, run
from hooks.questions import ROOT

LOCKS = ROOT / "template" / ".locks"
PLACEHOLDER_SLUG = "lock-placeholder-service"


def lock_variant(variant: Variant, workdir: Path) -> str:
    project = workdir / variant.dependency_set
    answers = variant.answers | {
        "project_name": "Lock Placeholder Service",
        "service_slug": PLACEHOLDER_SLUG,
    }
    generate(project, answers)
    (project / "uv.lock").unlink()
    run(["uv", "lock", "--quiet"], cwd=project)
    text = (project / "uv.lock").read_text()
    assert f'name = "{PLACEHOLDER_SLUG}"' in text, "the project's own entry is missing"
    return text.replace(f'"{PLACEHOLDER_SLUG}"', '"{{ service_slug }}"')


def main() -> int:
    LOCKS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        for variant in DEPENDENCY_SETS:
            lock = LOCKS / f"{variant.dependency_set}.lock"
            lock.write_text(lock_variant(variant, Path(scratch)))
            print(f"locked {lock.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
