"""The questionnaire: derived defaults, and every invalid answer refused cleanly."""

import keyword
import sys
from pathlib import Path
from typing import Any

import copier
import pytest

from .conftest import Projects
from .support import COPIER_YML, ROOT, VARIANTS, Variant, run

QUESTIONS = [key for key in COPIER_YML if not key.startswith("_")]


def copy(destination: Path, **data: Any) -> Any:
    """Generate non-interactively, as a portal would."""
    return copier.run_copy(
        str(ROOT),
        destination,
        data={"project_name": "Order Service", **data},
        defaults=True,
        unsafe=True,
        vcs_ref="HEAD",
        quiet=True,
    )


def test_every_question_has_a_type_help_a_default_and_a_rule() -> None:
    for name in QUESTIONS:
        question = COPIER_YML[name]
        assert question.get("type"), name
        assert question.get("help"), name
        # A default for every question: portals and `copier update --defaults` never
        # stop at a prompt.
        assert "default" in question, name
        has_rule = {"validator", "choices"} & question.keys()
        assert has_rule or question["type"] == "bool", name


def test_slug_and_package_name_derive_from_the_project_name(tmp_path: Path) -> None:
    worker = copy(tmp_path / "service", project_name="Order Service 2")

    assert worker.answers.combined["service_slug"] == "order-service-2"
    assert worker.answers.combined["package_name"] == "order_service_2"


# Each row: the answers given, then the question the error must name.
REJECTED: list[tuple[dict[str, Any], str]] = [
    ({"project_name": ""}, "project_name"),
    ({"project_name": "9 Lives"}, "project_name"),
    ({"project_name": 'Order "Service"'}, "project_name"),
    ({"project_name": "x" * 64}, "project_name"),
    ({"service_slug": "o"}, "service_slug"),
    ({"service_slug": "Order-Service"}, "service_slug"),
    ({"service_slug": "order--service"}, "service_slug"),
    ({"service_slug": "order-service-"}, "service_slug"),
    ({"service_slug": "2-order-service"}, "service_slug"),
    ({"service_slug": "order_service"}, "service_slug"),
    ({"service_slug": "o" * 64}, "service_slug"),
    ({"package_name": "order-service"}, "package_name"),
    ({"package_name": "OrderService"}, "package_name"),
    ({"package_name": "_order"}, "package_name"),
    ({"package_name": "o" * 33}, "package_name"),
    ({"package_name": "class"}, "package_name"),
    ({"package_name": "json"}, "package_name"),
    ({"package_name": "logging"}, "package_name"),
    ({"package_name": "test"}, "package_name"),
    ({"package_name": "redis"}, "package_name"),
    ({"package_name": "flask"}, "package_name"),
    ({"package_name": "fastapi"}, "package_name"),
    ({"description": ""}, "description"),
    ({"description": 'Say "hi"'}, "description"),
    ({"description": "two\nlines"}, "description"),
    ({"description": "x" * 201}, "description"),
    ({"owner": ""}, "owner"),
    ({"owner": "Team Orders"}, "owner"),
    ({"framework": "django"}, "framework"),
    ({"python_version": "3.10"}, "python_version"),
    ({"python_version": "3.15"}, "python_version"),
    ({"deploy_target": "heroku"}, "deploy_target"),
]

# A trailing line break slips past a regex ending in `$`; the validators use `\Z`.
# (A JSON Schema `pattern` cannot say this in both Python and ECMA-262 regex dialects,
# so these rows stay out of the table the portal schema is checked against.)
REJECTED_LINE_BREAKS: list[tuple[dict[str, Any], str]] = [
    ({"project_name": "Order Service\n"}, "project_name"),
    ({"service_slug": "order-service\n"}, "service_slug"),
    ({"package_name": "order_service\n"}, "package_name"),
    ({"owner": "team-orders\n"}, "owner"),
]


@pytest.mark.parametrize(
    ("answers", "question"),
    REJECTED + REJECTED_LINE_BREAKS,
    ids=[
        f"{question}={answers[question]!r:.20}"
        for answers, question in REJECTED + REJECTED_LINE_BREAKS
    ],
)
def test_invalid_answer_names_the_question_and_writes_nothing(
    tmp_path: Path, answers: dict[str, Any], question: str
) -> None:
    destination = tmp_path / "service"

    with pytest.raises(ValueError, match=question) as raised:
        copy(destination, **answers)

    assert str(raised.value).strip() != f"Validation error for question '{question}':"
    assert not destination.exists()


ACCEPTED_EDGES: list[dict[str, Any]] = [
    {"service_slug": "ab", "package_name": "ab"},
    {"owner": "group:default/team-orders"},
    {
        "project_name": "P" * 63,
        "service_slug": "s" * 63,
        "package_name": "p" * 32,
        "description": "d" * 100 + " " + "e" * 99,
        "owner": "o" * 63,
    },
]


@pytest.mark.parametrize("answers", ACCEPTED_EDGES, ids=lambda a: ",".join(a))
def test_answers_at_the_limits_render_formatted_lint_clean_code(
    projects: Projects, tmp_path: Path, answers: dict[str, Any]
) -> None:
    project = tmp_path / "service"
    copy(project, **answers)
    tools = projects.synced(VARIANTS[0]) / ".venv" / "bin"

    run([tools / "ruff", "format", "--check", "."], cwd=project)
    run([tools / "ruff", "check", "."], cwd=project)


def reserved_package_names() -> set[str]:
    validator = COPIER_YML["package_name"]["validator"]
    listed = validator.split("package_name in [", 1)[1].split("]", 1)[0]
    return {name.strip().strip("'") for name in listed.split(",") if name.strip()}


def test_reserved_names_cover_keywords_and_the_standard_library() -> None:
    expected = {
        name.lower()
        for name in (*keyword.kwlist, *sys.stdlib_module_names)
        if name.isidentifier() and not name.startswith("_") and name.islower()
    }

    assert expected - reserved_package_names() == set()


@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANTS[::2], ids=lambda v: v.id)
def test_reserved_names_cover_every_installed_dependency(
    projects: Projects, variant: Variant
) -> None:
    site_packages = next(
        (projects.synced(variant) / ".venv" / "lib").glob("*/site-packages")
    )
    installed = {
        path.name.removesuffix(".py")
        for path in site_packages.iterdir()
        if (path.is_dir() and (path / "__init__.py").exists()) or path.suffix == ".py"
    }
    installed = {
        name for name in installed if name.isidentifier() and not name.startswith("_")
    }

    assert installed - reserved_package_names() == set()
