"""The questionnaire: the rulebook, derived defaults, and every invalid answer refused
cleanly by Copier itself."""

import keyword
import re
import sys
from pathlib import Path
from typing import Any

import copier
import pytest

from hooks.questions import copier_refusal, reserved_names
from hooks.reserved_names import import_names

from .answers import (
    ACCEPTED_EDGES,
    DERIVED,
    DESTINATION_CASES,
    REJECTED,
    REJECTED_LINE_BREAKS,
    rejected_cases,
)
from .conftest import Projects
from .support import (
    DEPENDENCY_SETS,
    PROJECT_NAME,
    QUESTIONS,
    ROOT,
    RULES,
    VARIANTS,
    Variant,
    by_variant,
    generate,
    run,
)

# A character each rule accepts in every position: strings of it probe the lengths.
FILLERS = {
    "project_name": "P",
    "service_slug": "s",
    "package_name": "p",
    "description": "d",
    "owner": "o",
}
# For a rule without a maximum, a long answer of its shape.
UNLIMITED = {"owner": "k" * 1000 + ":team-orders"}


def test_every_question_has_a_type_help_a_default_and_a_rule() -> None:
    for name, question in QUESTIONS.items():
        assert question.get("type"), name
        assert question.get("help"), name
        # A default for every question: portals and `copier update --defaults` never
        # stop at a prompt.
        assert "default" in question, name
        has_rule = {"validator", "choices"} & question.keys()
        assert has_rule or question["type"] == "bool", name
        # A validator applies the rulebook, and every rule is applied.
        assert ("validator" in question) == (name in RULES), name
        if "validator" in question:
            assert f"rules.{name}." in question["validator"], name


@pytest.mark.parametrize("question", list(FILLERS))
def test_the_rulebook_patterns_and_length_limits_agree(question: str) -> None:
    assert set(FILLERS) == set(RULES), "a rule without a filler here"
    rule = RULES[question]
    pattern = re.compile(rule["pattern"])
    filler = FILLERS[question]
    shortest, longest = rule["min_length"], rule["max_length"]

    assert pattern.search(filler * shortest)
    assert not pattern.search(filler * (shortest - 1))
    if longest is None:
        assert pattern.search(UNLIMITED[question])
    else:
        assert pattern.search(filler * longest)
        assert not pattern.search(filler * (longest + 1))


def test_reserved_lists_do_not_overlap_and_a_suffix_frees_every_name() -> None:
    lists = reserved_names()
    every = [name for names in lists.values() for name in names]
    package = re.compile(RULES["package_name"]["pattern"])

    assert len(every) == len(set(every)), "a name is in two lists"
    # What a derived package_name becomes when it is reserved: always valid.
    for name in every:
        freed = f"{name}_service"
        assert package.search(freed), freed
        assert freed not in every, freed


def test_copier_reads_the_questions_as_hooks_questions_does(tmp_path: Path) -> None:
    # The answers file records every question Copier asked; the rulebook, a computed
    # value, is not among them.
    recorded = generate(tmp_path / "service", {})

    assert {key for key in recorded if not key.startswith("_")} == set(QUESTIONS)


def test_slug_and_package_name_derive_from_the_project_name(tmp_path: Path) -> None:
    answers = generate(tmp_path / "service", {"project_name": "Order Service 2"})

    assert answers["service_slug"] == "order-service-2"
    assert answers["package_name"] == "order_service_2"


@pytest.mark.parametrize(("name", "given", "expected"), DESTINATION_CASES)
def test_copier_derives_valid_answers_from_any_destination_folder(
    tmp_path: Path, name: str, given: dict[str, str], expected: tuple[str, ...] | str
) -> None:
    destination = tmp_path / name

    if isinstance(expected, str):
        with pytest.raises(ValueError, match=expected) as raised:
            generate(destination, given)
        assert copier_refusal(raised.value, [expected]) is not None
        assert not destination.exists()
    else:
        answers = generate(destination, given)
        assert tuple(answers[question] for question in DERIVED) == expected


@pytest.mark.parametrize(
    ("answers", "question"), rejected_cases(REJECTED + REJECTED_LINE_BREAKS)
)
def test_invalid_answer_names_the_question_and_writes_nothing(
    tmp_path: Path, answers: dict[str, Any], question: str
) -> None:
    destination = tmp_path / "service"

    with pytest.raises(ValueError, match=question) as raised:
        generate(destination, {"project_name": PROJECT_NAME, **answers})

    refused = copier_refusal(raised.value, QUESTIONS)
    assert refused is not None, raised.value
    assert refused[0] == question
    assert refused[1], "a refusal without its reason"
    assert not destination.exists()


def test_copier_refusals_are_worded_as_hooks_questions_reads_them(
    tmp_path: Path,
) -> None:
    # hooks/questions.py reads Copier's wording, the one thing it cannot get otherwise:
    # when Copier words its refusals differently, this fails first.
    refusals = []
    for question, answer in (("package_name", "json"), ("framework", "django")):
        with pytest.raises(ValueError, match=question) as raised:
            copier.run_copy(
                str(ROOT),
                tmp_path / "service",
                data={question: answer},
                defaults=True,
                vcs_ref="HEAD",
                pretend=True,
                quiet=True,
            )
        refusals.append(copier_refusal(raised.value, QUESTIONS))

    assert refusals == [
        (
            "package_name",
            '"json" is reserved: '
            + RULES["package_name"]["reserved"]["standard_library"]["reason"],
        ),
        ("framework", "'django' is not in ['flask', 'fastapi']"),
    ]


@pytest.mark.parametrize("answers", ACCEPTED_EDGES, ids=lambda a: ",".join(a))
def test_answers_at_the_limits_render_formatted_lint_clean_code(
    projects: Projects, tmp_path: Path, answers: dict[str, Any]
) -> None:
    project = tmp_path / "service"
    generate(project, {"project_name": PROJECT_NAME, **answers})
    tools = projects.synced(VARIANTS[0]) / ".venv" / "bin"

    run([tools / "ruff", "format", "--check", "."], cwd=project)
    run([tools / "ruff", "check", "."], cwd=project)


def test_reserved_names_cover_keywords_and_the_standard_library() -> None:
    lists = reserved_names()
    keywords = {name for name in keyword.kwlist if name.islower()}
    standard_library = {
        name.lower()
        for name in sys.stdlib_module_names
        if name.isidentifier() and not name.startswith("_")
    }

    assert keywords - set(lists["keywords"]) == set()
    assert standard_library - set(lists["standard_library"]) - keywords == set()


@pytest.mark.slow
@pytest.mark.parametrize("variant", by_variant(VARIANTS))
def test_reserved_names_cover_every_import_name_installed_in_the_service(
    projects: Projects, variant: Variant
) -> None:
    installed = import_names(projects.synced(variant))
    reserved = {name for names in reserved_names().values() for name in names}

    assert installed - reserved == set(), (
        "run `uv run python hooks/reserved_names.py` and commit rules.yml"
    )


def test_every_dependency_set_is_one_variant_of_each_lock() -> None:
    locks = {path.stem for path in (ROOT / "template" / ".locks").glob("*.lock")}

    assert {variant.dependency_set for variant in DEPENDENCY_SETS} == locks
    assert len(DEPENDENCY_SETS) == len(locks)
