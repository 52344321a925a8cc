"""Recompute the package names a service may not take because a dependency has them.

A `package_name` that is also the import name of something installed in the service's
environment would shadow it. This renders every dependency set (each framework, with
and without sessions), installs it with uv from its shipped lock, asks each
environment for its top-level import names
(`importlib.metadata.packages_distributions()`, which also sees namespace packages such
as `opentelemetry` and `zope`, and single-module distributions such as `py`), and
writes their union into rules.yml's `dependencies` list:

    uv run python hooks/reserved_names.py

Run it after `hooks/lock_variants.py`, whenever the locks change:
tests/test_questions.py fails while the list misses a name installed in any variant.
"""

import json
import re
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

import yaml

from hooks.projects import DEPENDENCY_SETS, PACKAGE, run, variant_project
from hooks.questions import RULEBOOK, reserved_names

# Runs on the project's own interpreter.
LIST_IMPORT_NAMES = (
    "import importlib.metadata, json\n"
    "print(json.dumps(sorted(importlib.metadata.packages_distributions())))\n"
)
# rules.yml's `names: [...]` of the `dependencies` list, the part this script writes.
DEPENDENCY_NAMES = re.compile(
    r"^(?P<indent> +)dependencies:\n(?:(?P=indent) .*\n)*?(?P=indent)  names: "
    r"(?P<names>\[[^\]]*\])",
    re.MULTILINE,
)
LINE_WIDTH = 88


def import_names(project: Path) -> set[str]:
    """The top-level names a generated project's environment can import, its own
    package aside: lowercased identifiers, private (`_`) ones left out."""
    python = project / ".venv" / "bin" / "python"
    listed = json.loads(run([python, "-c", LIST_IMPORT_NAMES], cwd=project).stdout)
    names = {name.lower() for name in listed if name.isidentifier()}
    return {name for name in names if not name.startswith("_")} - {PACKAGE}


def yaml_list(names: Iterable[str], indent: int) -> str:
    """A YAML flow sequence of `names`, sorted, wrapped at LINE_WIDTH columns."""
    items = [
        # Quoted only where YAML would read the bare word as something else (`on`).
        name if yaml.safe_load(name) == name else json.dumps(name)
        for name in sorted(names)
    ]
    lines: list[str] = []
    line = " " * (indent + 2)
    for item in items:
        if len(line) + len(item) + 2 > LINE_WIDTH:
            lines.append(line.rstrip())
            line = " " * (indent + 2)
        line += f"{item}, "
    lines.append(line.rstrip().removesuffix(","))
    return "[\n" + "\n".join(lines) + "\n" + " " * indent + "]"


def write_dependencies(names: set[str], rulebook: Path = RULEBOOK) -> None:
    text = rulebook.read_text()
    found = DEPENDENCY_NAMES.search(text)
    assert found, f"no `dependencies:` list with `names:` in {rulebook}"
    indent = len(found["indent"]) + 2
    start, end = found.span("names")
    rulebook.write_text(text[:start] + yaml_list(names, indent) + text[end:])


def main() -> int:
    others = {
        name
        for listed, names in reserved_names().items()
        if listed != "dependencies"
        for name in names
    }
    found: set[str] = set()
    with tempfile.TemporaryDirectory() as scratch:
        for variant in DEPENDENCY_SETS:
            names = import_names(variant_project(variant, Path(scratch)))
            print(f"{variant.dependency_set}: {len(names)} import names")
            found |= names
    # Keywords, standard-library and project names are refused by their own lists.
    dependencies = found - others
    before = set(reserved_names()["dependencies"])
    write_dependencies(dependencies)
    print(f"wrote {len(dependencies)} names to {RULEBOOK.name}")
    for name in sorted(dependencies - before):
        print(f"  + {name}")
    for name in sorted(before - dependencies):
        print(f"  - {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
