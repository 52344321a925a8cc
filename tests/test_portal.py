"""The portal contract: the strict CLI, the questions' JSON Schema, Backstage files."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import copier
import jsonschema
import pytest
import yaml

from portal import schema as schema_script

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
    CONFIG,
    QUESTIONS,
    RELEASES,
    ROOT,
    VARIANTS,
    Variant,
    by_variant,
    generate,
    recorded_answers,
)

PORTAL = ROOT / "portal"
SCHEMA_FILE = PORTAL / "questions.schema.json"
BACKSTAGE_TEMPLATE = PORTAL / "backstage" / "template.yaml"
# Backstage's rules for entity names, tags and annotation keys (catalog-model).
ENTITY_NAME = re.compile(r"^[a-zA-Z0-9]+(?:[-_.][a-zA-Z0-9]+)*$")
TAG = re.compile(r"^[a-z0-9:+#]+(?:-[a-z0-9:+#]+)*$")
ANNOTATION_KEY = re.compile(
    r"^(?:[a-z0-9]([-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[a-zA-Z0-9]([-_.a-zA-Z0-9]*[a-zA-Z0-9])?$"
)
RELEASE_COMMITS = dict(RELEASES)


def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_FILE.read_text())
    return loaded


def generate_with_portal(
    tmp_path: Path,
    answers_text: str,
    filename: str = "answers.yaml",
    version: str = "HEAD",
    template: str | Path = ROOT,
    destination_name: str = "order-service",
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Run portal/generate.py as a portal would; returns its result and destination."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    answers = tmp_path / filename
    answers.write_text(answers_text)
    destination = tmp_path / destination_name
    result = subprocess.run(
        [
            sys.executable,
            PORTAL / "generate.py",
            "--answers",
            answers,
            "--version",
            version,
            "--template",
            template,
            destination,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return result, destination


def error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error: ")]


# What the portal refuses before any rule applies: the file itself, unknown keys and
# types. Each row: the answers file's name and text, then what each error line must
# start with. (The rules' table, REJECTED, runs through the portal below.)
BAD_ANSWERS: dict[str, tuple[str, str, list[str]]] = {
    "unknown key": ("answers.yaml", "servce_slug: orders\n", ["servce_slug: unknown"]),
    "a computed value": ("answers.yaml", "rules: {}\n", ["rules: unknown question"]),
    "bool as a string": (
        "answers.yaml",
        'redis_sessions: "no"\n',
        ["redis_sessions: must be true or false"],
    ),
    "number for a string": ("answers.yaml", "project_name: 42\n", ["project_name:"]),
    "unquoted version": (
        "answers.yaml",
        "python_version: 3.10\n",
        ["python_version: must be a string"],
    ),
    "date for a string": (
        "answers.yaml",
        "project_name: 2026-11-26\n",
        ["project_name: must be a string"],
    ),
    "trailing newline": (
        "answers.json",
        json.dumps({"service_slug": "order-service\n"}),
        ["service_slug: must be a single line"],
    ),
    "null answer": ("answers.yaml", "description:\n", ["description: must be"]),
    "list answer": ("answers.yaml", "framework: [flask]\n", ["framework: must be"]),
    "malformed YAML": ("answers.yaml", "framework: [flask\n", ["answers file"]),
    "malformed JSON": ("answers.json", '{"framework": "flask",}', ["answers file"]),
    "empty file": ("answers.yaml", "", ["answers file"]),
    "not a mapping": ("answers.yaml", "- framework\n", ["answers file"]),
    "non-string key": ("answers.yaml", "1: flask\n", ["answers file"]),
    "duplicate key": (
        "answers.yaml",
        "framework: flask\nframework: fastapi\n",
        ["answers file"],
    ),
    "duplicate JSON key": (
        "answers.json",
        '{"owner": "a", "owner": "b"}',
        ["answers file"],
    ),
    "every problem at once": (
        "answers.json",
        json.dumps(
            {
                "project_name": "Order Service",
                "servce_slug": "orders",
                "package_name": "json",
                "redis_sessions": "yes",
                "framework": "django",
            }
        ),
        [
            "servce_slug: unknown",
            'package_name: "json" is reserved',
            "redis_sessions: must be true or false",
            "framework: must be one of",
        ],
    ),
}


def assert_refused_naming(
    result: subprocess.CompletedProcess[str], destination: Path, errors: list[str]
) -> None:
    """Exit 1, one line per expected error (each starting as given), nothing written."""
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = error_lines(result)
    assert len(lines) == len(errors), result.stderr
    for expected in errors:
        assert any(line.startswith(f"error: {expected}") for line in lines), lines
    assert not destination.exists()


@pytest.mark.parametrize(
    ("filename", "text", "errors"), BAD_ANSWERS.values(), ids=list(BAD_ANSWERS)
)
def test_cli_refuses_bad_answers_naming_each_problem_and_writes_nothing(
    tmp_path: Path, filename: str, text: str, errors: list[str]
) -> None:
    result, destination = generate_with_portal(tmp_path, text, filename)

    assert_refused_naming(result, destination, errors)


@pytest.mark.parametrize(
    ("answers", "question"), rejected_cases(REJECTED + REJECTED_LINE_BREAKS)
)
def test_cli_refuses_every_invalid_answer_naming_its_question(
    tmp_path: Path, answers: dict[str, Any], question: str
) -> None:
    result, destination = generate_with_portal(
        tmp_path, json.dumps(answers), "answers.json"
    )

    assert_refused_naming(result, destination, [f"{question}: "])


@pytest.mark.parametrize(("name", "given", "expected"), DESTINATION_CASES)
def test_cli_derives_valid_answers_from_any_destination_folder(
    tmp_path: Path, name: str, given: dict[str, str], expected: tuple[str, ...] | str
) -> None:
    result, destination = generate_with_portal(
        tmp_path, json.dumps(given), "answers.json", destination_name=name
    )

    if isinstance(expected, str):
        assert_refused_naming(result, destination, [f"{expected}: "])
    else:
        assert result.returncode == 0, result.stderr
        answers = recorded_answers(destination)
        assert tuple(answers[question] for question in DERIVED) == expected
        asked = {key: answers[key] for key in schema()["properties"]}
        jsonschema.Draft202012Validator(schema()).validate(asked)


# Versions the portal cannot generate the answers from: the version, the answers, then
# the exit code and the error line.
REFUSED_VERSIONS: dict[str, tuple[str, str, int, str]] = {
    "an unknown version": (
        "v99.0.0",
        "framework: flask\n",
        3,
        f"error: template {ROOT}@v99.0.0: has no version 'v99.0.0'",
    ),
    "a version without a questions schema": (
        RELEASE_COMMITS["v0.1.0"],
        "framework: flask\n",
        3,
        f"error: template {ROOT}@{RELEASE_COMMITS['v0.1.0']}: has no "
        "portal/questions.schema.json, so its answers cannot be checked: generate "
        "from a release that has one (v0.3.0 or later)",
    ),
    # v0.4.0 derived package_name from the slug unchanged: "Json" gave "json", which
    # its own validator refused. Its schema accepts the answers; Copier refuses.
    "an older release deriving an invalid default": (
        RELEASE_COMMITS["v0.4.0"],
        "project_name: Json\n",
        1,
        'error: package_name: (derived from other answers) package_name "json" is '
        "reserved: it is a Python keyword or would shadow a standard-library module "
        "or a dependency of the service",
    ),
}


@pytest.mark.parametrize(
    ("version", "answers", "exit_code", "error"),
    REFUSED_VERSIONS.values(),
    ids=list(REFUSED_VERSIONS),
)
def test_cli_refuses_a_version_it_cannot_check_the_answers_of(
    tmp_path: Path, version: str, answers: str, exit_code: int, error: str
) -> None:
    result, destination = generate_with_portal(tmp_path, answers, version=version)

    assert result.returncode == exit_code, result.stderr
    assert "Traceback" not in result.stderr
    assert error_lines(result) == [error]
    assert not destination.exists()


@pytest.mark.slow
def test_cli_reads_the_schema_of_the_pinned_release_of_a_repository_url(
    template_repo: Path, tmp_path: Path
) -> None:
    # How Copier takes a local repository as a URL.
    url = f"git+{template_repo.as_uri()}"
    # v0.4.0's schema has no opentelemetry among its reserved names: the portal checks
    # against that version, not against this checkout.
    answers = "package_name: opentelemetry\nframework: flask\n"

    generated, destination = generate_with_portal(
        tmp_path, answers, version="v0.4.0", template=url
    )
    unknown, elsewhere = generate_with_portal(
        tmp_path / "unknown", "{}", version="v99.0.0", template=url
    )
    current, refused = generate_with_portal(
        tmp_path / "current", answers, version="HEAD", template=url
    )

    assert generated.returncode == 0, generated.stderr
    assert recorded_answers(destination)["package_name"] == "opentelemetry"
    assert recorded_answers(destination)["_src_path"] == url
    assert unknown.returncode == 3, unknown.stderr
    assert error_lines(unknown)[0].startswith(f"error: template {url}@v99.0.0: ")
    assert not elsewhere.exists()
    assert_refused_naming(current, refused, ['package_name: "opentelemetry"'])


def test_cli_refuses_a_destination_that_is_not_empty(tmp_path: Path) -> None:
    existing = tmp_path / "order-service" / "keep.txt"
    existing.parent.mkdir()
    existing.write_text("mine")

    result, _ = generate_with_portal(tmp_path, "framework: flask\n")

    assert result.returncode == 1
    assert error_lines(result)[0].startswith("error: destination ")
    assert [path.name for path in existing.parent.iterdir()] == ["keep.txt"]


@pytest.mark.parametrize("filename", ["answers.yaml", "answers.json"])
def test_cli_generates_from_good_answers(tmp_path: Path, filename: str) -> None:
    answers = {
        "project_name": "Billing API",
        "framework": "fastapi",
        "python_version": "3.12",
        "redis_sessions": False,
        "owner": "group:default/team-billing",
    }
    text = json.dumps(answers) if filename.endswith(".json") else yaml.dump(answers)

    result, destination = generate_with_portal(tmp_path, text, filename)

    assert result.returncode == 0, result.stderr
    assert error_lines(result) == []
    recorded = recorded_answers(destination)
    assert {key: recorded[key] for key in answers} == answers
    assert recorded["service_slug"] == "billing-api"
    assert recorded["_src_path"] == str(ROOT)
    catalog = yaml.safe_load((destination / "catalog-info.yaml").read_text())
    assert catalog["spec"]["owner"] == "group:default/team-billing"


def test_python_entry_point_a_portal_backend_calls(tmp_path: Path) -> None:
    destination = tmp_path / "order-service"
    data = {"project_name": "Order Service", "framework": "flask"}

    # Validation alone: the questionnaire is rendered, nothing is written.
    copier.run_copy(
        str(ROOT), destination, data=data, defaults=True, vcs_ref="HEAD", pretend=True
    )
    assert not destination.exists()

    # Generation: the same call without `pretend` (hooks/projects.py's `generate`).
    with pytest.raises(ValueError, match="package_name"):
        generate(destination, {**data, "package_name": "json"})
    assert not destination.exists()

    # Copier ignores unknown keys: the reason portal/generate.py checks them itself.
    recorded = generate(destination, {**data, "servce_slug": "typo"})
    assert recorded["service_slug"] == "order-service"
    assert "servce_slug" not in recorded
    assert (destination / "catalog-info.yaml").is_file()


def test_committed_schema_is_regenerated_from_the_rulebook() -> None:
    result = subprocess.run(
        [sys.executable, PORTAL / "schema.py"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )

    assert result.stdout == SCHEMA_FILE.read_text(), (
        "portal/questions.schema.json is stale: "
        "run `uv run python portal/schema.py > portal/questions.schema.json`"
    )


def rule_keywords(question: dict[str, Any]) -> dict[str, Any]:
    """A question's schema with its rules' subschemas merged in, their messages and
    reserved lists left out: what a flat form (Backstage's) can carry."""
    flat = {key: value for key, value in question.items() if key != "allOf"}
    for rule in question.get("allOf", []):
        flat |= {
            key: value
            for key, value in rule.items()
            if key not in {"description", "not"}
        }
    return flat


def test_schema_describes_every_question() -> None:
    questions = schema()

    jsonschema.Draft202012Validator.check_schema(questions)
    assert questions["additionalProperties"] is False
    assert list(questions["properties"]) == list(QUESTIONS)
    package = questions["properties"]["package_name"]
    reserved = [set(rule["not"]["enum"]) for rule in package["allOf"] if "not" in rule]
    assert len(reserved) == 4
    assert {"json", "class", "flask", "redis", "opentelemetry"} <= set.union(*reserved)
    # Derived defaults are not static values: described, never given as a default.
    assert "default" not in questions["properties"]["service_slug"]
    assert (
        "derived from project_name"
        in questions["properties"]["service_slug"]["description"]
    )


def test_schema_script_translates_python_anchors_for_javascript() -> None:
    rule = {"pattern": "\\A[a-z]{2,5}\\Z", "min_length": 2, "max_length": 5}

    translated = schema_script.rule_schemas("x", {**rule, "message": "is bad"})

    assert translated == [
        {
            "description": "is bad",
            "minLength": 2,
            "maxLength": 5,
            "pattern": "^[a-z]{2,5}$",
        }
    ]


@pytest.mark.parametrize(
    "rule",
    [
        {
            "pattern": "^a",
            "min_length": 1,
            "max_length": 2,
            "message": "m",
            "max_words": 1,
        },
        {"pattern": "^a", "min_length": 1, "message": "m"},
    ],
    ids=["an unknown key", "a missing key"],
)
def test_schema_script_refuses_a_rule_it_cannot_express(rule: dict[str, Any]) -> None:
    with pytest.raises(schema_script.UntranslatableRuleError):
        schema_script.rule_schemas("x", rule)


@pytest.mark.parametrize(("answers", "question"), rejected_cases(REJECTED))
def test_schema_rejects_what_copier_rejects(
    answers: dict[str, Any], question: str
) -> None:
    errors = list(jsonschema.Draft202012Validator(schema()).iter_errors(answers))

    assert errors, f"the schema accepts {answers}, which Copier rejects"
    assert all(list(error.path)[:1] == [question] for error in errors)


@pytest.mark.parametrize(
    "answers",
    [{}, *ACCEPTED_EDGES, *(variant.answers for variant in VARIANTS)],
    ids=lambda answers: ",".join(answers) or "defaults",
)
def test_schema_accepts_what_copier_accepts(answers: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator(schema()).validate(answers)


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node")
def test_schema_patterns_mean_the_same_in_javascript() -> None:
    # Backstage checks forms in the browser: each pattern must compile as an ECMA-262
    # regex with the `u` flag and decide the documented cases as Python does.
    cases = [
        (prop["pattern"], value, re.search(prop["pattern"], value) is not None)
        for answers in [*(a for a, _ in REJECTED), *ACCEPTED_EDGES]
        for name, value in answers.items()
        if isinstance(value, str)
        and "pattern" in (prop := rule_keywords(schema()["properties"][name]))
        # Python's `$` also matches before a final newline; JavaScript's does not.
        and not value.endswith("\n")
    ]
    script = (
        "const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "const matches = cases.map(([p, v]) => new RegExp(p, 'u').test(v));"
        "console.log(JSON.stringify(matches));"
    )

    result = subprocess.run(
        ["node", "-e", script],
        input=json.dumps([[pattern, value] for pattern, value, _ in cases]),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )

    assert json.loads(result.stdout) == [expected for _, _, expected in cases]


def backstage_template() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(BACKSTAGE_TEMPLATE.read_text())
    return loaded


# Parameters the Backstage form needs that are not questions of the template.
BACKSTAGE_ONLY = {"repoUrl"}
# Keys whose values must be the same in the form as in the schema.
COMPARED = ("type", "enum", "pattern", "minLength", "maxLength", "default")


def test_backstage_parameters_match_the_schema() -> None:
    template = backstage_template()
    properties: dict[str, dict[str, Any]] = {}
    for page in template["spec"]["parameters"]:
        properties |= page["properties"]
    expected = schema()["properties"]

    assert template["apiVersion"] == "scaffolder.backstage.io/v1beta3"
    assert template["kind"] == "Template"
    assert set(properties) - BACKSTAGE_ONLY == set(expected)
    for name, question in expected.items():
        form = {
            key: properties[name][key] for key in COMPARED if key in properties[name]
        }
        flat = rule_keywords(question)
        assert form == {key: flat[key] for key in COMPARED if key in flat}, name
        if "enumNames" in properties[name]:
            labels = list(QUESTIONS[name]["choices"])
            assert properties[name]["enumNames"] == labels, name


def test_backstage_steps_generate_a_pinned_version_then_publish_and_register() -> None:
    steps = backstage_template()["spec"]["steps"]

    assert [step["action"] for step in steps] == [
        "fetch:copier",
        "publish:github",
        "catalog:register",
    ]
    generate_step = steps[0]["input"]
    # Portals generate from the newest release recorded in CHANGELOG.md.
    [(latest_release, _), *_] = RELEASES
    assert generate_step["vcsRef"] == latest_release
    assert generate_step["answersFile"] == CONFIG["_answers_file"]
    assert generate_step["values"] == {
        name: f"${{{{ parameters.{name} }}}}" for name in QUESTIONS
    }
    assert steps[2]["input"]["catalogInfoPath"] == "/catalog-info.yaml"


def check_catalog_entity(entity: dict[str, Any], answers: dict[str, Any]) -> None:
    """Backstage's rules for a Component, and the answers it must carry."""
    metadata, spec = entity["metadata"], entity["spec"]
    assert entity["apiVersion"] == "backstage.io/v1alpha1"
    assert entity["kind"] == "Component"
    name = metadata["name"]
    assert isinstance(name, str)
    assert 1 <= len(name) <= 63
    assert ENTITY_NAME.match(name)
    assert name == answers["service_slug"]
    assert metadata["title"] == answers["project_name"]
    assert metadata["description"] == answers["description"]
    for key, value in metadata["annotations"].items():
        assert ANNOTATION_KEY.match(key), key
        assert isinstance(value, str), key
    for tag in metadata["tags"]:
        assert isinstance(tag, str)
        assert len(tag) <= 63
        assert TAG.match(tag), tag
    assert spec["type"] == "service"
    assert isinstance(spec["lifecycle"], str)
    assert spec["lifecycle"]
    assert spec["owner"] == answers["owner"]


@pytest.mark.parametrize("variant", by_variant(VARIANTS))
def test_catalog_info_is_a_valid_backstage_component(
    projects: Projects, variant: Variant
) -> None:
    project = projects.rendered(variant)
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())

    entity = yaml.safe_load((project / "catalog-info.yaml").read_text())

    check_catalog_entity(entity, answers)
    assert entity["metadata"]["annotations"] == {
        "twelve-factor-template/image-name": answers["service_slug"]
    }
    assert variant.framework in entity["metadata"]["tags"]


def test_catalog_info_keeps_answers_that_look_like_other_yaml_types(
    tmp_path: Path,
) -> None:
    # Unquoted, these would read back as a boolean, null, and a mapping.
    answers = {
        "project_name": "Yes",
        "service_slug": "no",
        "package_name": "null_service",
        "owner": "null",
        "description": "Orders: billing # and more, 100% 'quoted' & <safe>",
    }
    generate(tmp_path / "service", answers)

    entity = yaml.safe_load((tmp_path / "service" / "catalog-info.yaml").read_text())

    check_catalog_entity(entity, answers)
