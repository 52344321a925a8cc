"""The portal contract: the strict CLI, the questions' JSON Schema, Backstage files."""

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import copier
import jsonschema
import pytest
import yaml

from .conftest import Projects
from .support import COPIER_YML, ROOT, VARIANTS, Variant, by_variant
from .test_questions import ACCEPTED_EDGES, REJECTED

PORTAL = ROOT / "portal"
SCHEMA_FILE = PORTAL / "questions.schema.json"
BACKSTAGE_TEMPLATE = PORTAL / "backstage" / "template.yaml"
QUESTIONS = [key for key in COPIER_YML if not key.startswith("_")]
# Backstage's rules for entity names, tags and annotation keys (catalog-model).
ENTITY_NAME = re.compile(r"^[a-zA-Z0-9]+(?:[-_.][a-zA-Z0-9]+)*$")
TAG = re.compile(r"^[a-z0-9:+#]+(?:-[a-z0-9:+#]+)*$")
ANNOTATION_KEY = re.compile(
    r"^(?:[a-z0-9]([-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[a-zA-Z0-9]([-_.a-zA-Z0-9]*[a-zA-Z0-9])?$"
)


def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_FILE.read_text())
    return loaded


def generate(
    tmp_path: Path,
    answers_text: str,
    filename: str = "answers.yaml",
    version: str = "HEAD",
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Run portal/generate.py as a portal would; returns its result and destination."""
    answers = tmp_path / filename
    answers.write_text(answers_text)
    destination = tmp_path / "order-service"
    result = subprocess.run(
        [
            sys.executable,
            PORTAL / "generate.py",
            "--answers",
            answers,
            "--version",
            version,
            "--template",
            ROOT,
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


# Each row: the answers file's name and text, then what each error line must start with.
BAD_ANSWERS: dict[str, tuple[str, str, list[str]]] = {
    "unknown key": ("answers.yaml", "servce_slug: orders\n", ["servce_slug: unknown"]),
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
    "bad slug": ("answers.yaml", "service_slug: order--service\n", ["service_slug:"]),
    "reserved package name": (
        "answers.yaml",
        "package_name: json\n",
        ['package_name: package_name "json" is reserved'],
    ),
    "unknown framework": ("answers.yaml", "framework: django\n", ["framework:"]),
    "version not in the list": (
        "answers.yaml",
        'python_version: "3.10"\n',
        ["python_version:"],
    ),
    "bad owner": ("answers.yaml", "owner: Team Orders\n", ["owner:"]),
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
        ["servce_slug:", "redis_sessions:", "package_name:", "framework:"],
    ),
}


@pytest.mark.parametrize(
    ("filename", "text", "errors"), BAD_ANSWERS.values(), ids=list(BAD_ANSWERS)
)
def test_cli_refuses_bad_answers_naming_each_problem_and_writes_nothing(
    tmp_path: Path, filename: str, text: str, errors: list[str]
) -> None:
    result, destination = generate(tmp_path, text, filename)

    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = error_lines(result)
    assert len(lines) == len(errors), result.stderr
    for expected in errors:
        assert any(line.startswith(f"error: {expected}") for line in lines), lines
    assert not destination.exists()


def test_cli_refuses_a_default_that_fails_once_derived(tmp_path: Path) -> None:
    # A valid project name whose derived package name is reserved ("json").
    result, destination = generate(tmp_path, "project_name: Json\n")

    assert result.returncode == 1
    assert error_lines(result) == [
        'error: package_name: (derived from other answers) package_name "json" is '
        "reserved: it is a Python keyword or would shadow a standard-library module "
        "or a dependency of the service"
    ]
    assert not destination.exists()


def test_cli_refuses_an_unknown_template_version(tmp_path: Path) -> None:
    result, destination = generate(tmp_path, "framework: flask\n", version="v99.0.0")

    assert result.returncode == 3
    assert "Traceback" not in result.stderr
    assert error_lines(result) == [
        f"error: template {ROOT}@v99.0.0: Unknown revision: 'v99.0.0'"
    ]
    assert not destination.exists()


def test_cli_refuses_a_destination_that_is_not_empty(tmp_path: Path) -> None:
    existing = tmp_path / "order-service" / "keep.txt"
    existing.parent.mkdir()
    existing.write_text("mine")

    result, _ = generate(tmp_path, "framework: flask\n")

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

    result, destination = generate(tmp_path, text, filename)

    assert result.returncode == 0, result.stderr
    assert error_lines(result) == []
    recorded = yaml.safe_load((destination / ".copier-answers.yml").read_text())
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

    with pytest.raises(ValueError, match="package_name"):
        copier.run_copy(
            str(ROOT),
            destination,
            data={**data, "package_name": "json"},
            defaults=True,
            vcs_ref="HEAD",
            unsafe=False,
            quiet=True,
        )
    assert not destination.exists()

    # Copier ignores unknown keys: the reason portal/generate.py checks them itself.
    worker = copier.run_copy(
        str(ROOT),
        destination,
        data={**data, "servce_slug": "typo"},
        defaults=True,
        vcs_ref="HEAD",
        unsafe=False,
        quiet=True,
    )
    assert worker.answers.combined["service_slug"] == "order-service"
    recorded = yaml.safe_load((destination / ".copier-answers.yml").read_text())
    assert "servce_slug" not in recorded
    assert (destination / "catalog-info.yaml").is_file()


def test_committed_schema_is_regenerated_from_copier_yml() -> None:
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


def test_schema_describes_every_question() -> None:
    questions = schema()

    jsonschema.Draft202012Validator.check_schema(questions)
    assert questions["additionalProperties"] is False
    assert list(questions["properties"]) == QUESTIONS
    package = questions["properties"]["package_name"]
    assert {"json", "class", "flask", "redis"} <= set(package["not"]["enum"])
    # Derived defaults are not static values: described, never given as a default.
    assert "default" not in questions["properties"]["service_slug"]
    assert (
        "derived from project_name"
        in questions["properties"]["service_slug"]["description"]
    )


def schema_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("schema", PORTAL / "schema.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_schema_script_translates_python_anchors_for_javascript() -> None:
    translated = schema_script().validator_schema(
        "{% if not (x | regex_search('\\\\A[a-z]{2,5}\\\\Z')) %}bad{% endif %}", "x"
    )

    assert translated == {"minLength": 2, "maxLength": 5, "pattern": "^[a-z]{2,5}$"}


@pytest.mark.parametrize(
    "validator",
    [
        "{% if x | length > 5 %}too long{% endif %}",
        "{% if not (x | regex_search('^a')) %}{% if y %}bad{% endif %}{% endif %}",
        "{{ 'bad' if x == 'a' }}",
    ],
)
def test_schema_script_refuses_a_rule_it_cannot_express(validator: str) -> None:
    script = schema_script()

    with pytest.raises(script.UntranslatableValidatorError):
        script.validator_schema(validator, "x")


@pytest.mark.parametrize(
    ("answers", "question"),
    REJECTED,
    ids=[f"{question}={answers[question]!r:.20}" for answers, question in REJECTED],
)
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
        and "pattern" in (prop := schema()["properties"][name])
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
        assert form == {key: question[key] for key in COMPARED if key in question}, name
        if "enumNames" in properties[name]:
            labels = list(COPIER_YML[name]["choices"])
            assert properties[name]["enumNames"] == labels, name


CHANGELOG = (ROOT / "CHANGELOG.md").read_text()


def test_backstage_steps_generate_a_pinned_version_then_publish_and_register() -> None:
    steps = backstage_template()["spec"]["steps"]

    assert [step["action"] for step in steps] == [
        "fetch:copier",
        "publish:github",
        "catalog:register",
    ]
    generate_step = steps[0]["input"]
    # Portals generate from the newest release recorded in CHANGELOG.md.
    latest_release = re.search(r"^## (v\d+\.\d+\.\d+) — commit ", CHANGELOG, re.M)
    assert latest_release is not None
    assert generate_step["vcsRef"] == latest_release.group(1)
    assert generate_step["answersFile"] == COPIER_YML["_answers_file"]
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
    copier.run_copy(
        str(ROOT),
        tmp_path / "service",
        data=answers,
        defaults=True,
        vcs_ref="HEAD",
        quiet=True,
    )

    entity = yaml.safe_load((tmp_path / "service" / "catalog-info.yaml").read_text())

    check_catalog_entity(entity, answers)
