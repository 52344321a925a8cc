"""Each option lives in its own files: in the files every variant shares, it costs at
most a line or two per integration point."""

import re
from pathlib import Path

import pytest

from .support import QUESTIONS, ROOT

TEMPLATE = ROOT / "template"
# Lines of Jinja that may name one option across all shared template files: the
# widest, Redis, brings sessions and a cache (29 lines in v0.5.0, 31 with the cache).
SEAM_BUDGET = 32
# The questions that choose what is generated, rather than fill in a name.
OPTIONS = [
    name
    for name, question in QUESTIONS.items()
    if "choices" in question or question.get("type") == "bool"
]


def shared_files(option: str) -> list[Path]:
    """Template files whose path does not carry the option's condition (READMEs aside:
    prose may explain each variant)."""
    return [
        path
        for path in sorted(TEMPLATE.rglob("*"))
        if path.is_file()
        and ".locks" not in path.parts
        and option not in str(path.relative_to(TEMPLATE))
        and not path.name.startswith("README")
    ]


def seams(option: str) -> dict[str, int]:
    """How many Jinja lines name the option, per shared file."""
    named = re.compile(rf"\b{option}\b")
    counts = {}
    for path in shared_files(option):
        lines = [
            line
            for line in path.read_text().splitlines()
            if named.search(line) and ("{%" in line or "{{" in line)
        ]
        if lines:
            counts[str(path.relative_to(TEMPLATE))] = len(lines)
    return counts


@pytest.mark.parametrize("option", OPTIONS)
def test_no_option_costs_the_shared_files_more_than_its_budget(option: str) -> None:
    counts = seams(option)

    assert sum(counts.values()) <= SEAM_BUDGET, counts


def test_the_budget_counts_what_it_should() -> None:
    # The sessions are the widest option today: if nothing named them, the count
    # would be measuring nothing.
    assert sum(seams("redis_sessions").values()) > 0
    assert "pyproject.toml.jinja" in seams("redis_sessions")
