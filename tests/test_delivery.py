"""Every variant's delivery files are valid and say what production needs.

The container image, compose file, pipeline and Kubernetes manifests cannot be run
here (no Docker engine, no registry, no cluster), so they are checked statically: by
the same validators a reviewer would run (hadolint, the compose, workflow and
dependabot JSON schemas, yamllint, zizmor, kustomize through `kubectl kustomize`, the
Kubernetes OpenAPI schemas) and by assertions on the properties that matter.
"""

import ast
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from .conftest import Projects
from .support import PACKAGE, VARIANTS, Variant, by_variant, run

# The validators are installed beside the interpreter running the suite.
TOOLS = Path(sys.executable).parent
KUBERNETES_VARIANTS = [v for v in VARIANTS if v.deploy_target == "kubernetes"]
DATABASE_VARIANTS = [v for v in VARIANTS if v.database != "none"]
KUBERNETES_DATABASE_VARIANTS = [v for v in KUBERNETES_VARIANTS if v.database != "none"]
OVERLAYS = ("staging", "production")
PINNED_USES = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")
# A YAML key or env literal that would carry a secret's value.
VALUE_OF_A_SECRET = re.compile(
    r"(?im)^\s*-?\s*(secret_key|redis_url|database_url|password|token)\s*[=:]"
)
# The slug Copier derives from Variant.answers' project name.
SERVICE_SLUG = "order-service"
# The release's migration Job, and DATABASE_URL's default (a laptop's, and compose's).
MIGRATION_JOB = f"{SERVICE_SLUG}-migrate"
DEFAULT_DATABASE_URL = f"postgresql://{PACKAGE}:{PACKAGE}@localhost:5432/{PACKAGE}"
DIGEST_IMAGE = "ghcr.io/example/order-service@sha256:" + "0" * 64
YAMLLINT_CONFIG = json.dumps(
    {
        "extends": "default",
        "rules": {
            # Kubernetes and GitHub files are single documents without `---`.
            "document-start": "disable",
            # GitHub's `on:` key is not a boolean.
            "truthy": {"check-keys": False},
            "line-length": {"max": 120},
            # `uses: owner/action@<sha> # vX.Y.Z` is how Dependabot writes pins.
            "comments": {"min-spaces-from-content": 1},
        },
    }
)


def tool(name: str) -> Path:
    path = TOOLS / name
    assert path.is_file(), f"{name} is not installed beside {sys.executable}"
    return path


# --- Dockerfile -------------------------------------------------------------------


def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in dockerfile.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    pairs = []
    for line in logical:
        keyword, _, arguments = line.strip().partition(" ")
        pairs.append((keyword.upper(), " ".join(arguments.split())))
    return pairs


def stages(dockerfile: str) -> tuple[dict[str, str], list[list[tuple[str, str]]]]:
    """Global ARG defaults, and the instructions of each stage from its FROM on."""
    global_args: dict[str, str] = {}
    found: list[list[tuple[str, str]]] = []
    for keyword, arguments in instructions(dockerfile):
        if keyword == "FROM":
            found.append([])
        if found:
            found[-1].append((keyword, arguments))
        elif keyword == "ARG":
            name, _, default = arguments.partition("=")
            global_args[name] = default
    return global_args, found


def dockerfile_of(projects: Projects, variant: Variant) -> str:
    return (projects.rendered(variant) / "Dockerfile").read_text()


@pytest.mark.parametrize("variant", by_variant(VARIANTS))
def test_dockerfile_passes_hadolint(projects: Projects, variant: Variant) -> None:
    project = projects.rendered(variant)

    run([tool("hadolint"), "--failure-threshold", "info", "Dockerfile"], cwd=project)


@pytest.mark.parametrize("variant", by_variant(VARIANTS))
def test_image_runs_the_package_as_pid_1_and_a_numeric_non_root_user(
    projects: Projects, variant: Variant
) -> None:
    dockerfile = dockerfile_of(projects, variant)
    _, all_stages = stages(dockerfile)
    runtime = dict(all_stages[-1])

    assert json.loads(runtime["CMD"]) == ["python", "-m", PACKAGE]
    assert re.fullmatch(r"[1-9]\d*(:\d+)?", runtime["USER"]), runtime["USER"]
    assert runtime["EXPOSE"] == "8000"
    # A trailing comment on USER or WORKDIR becomes part of its value.
    for line in dockerfile.splitlines():
        if line.startswith(("USER", "WORKDIR")):
            assert "#" not in line, line


@pytest.mark.parametrize("variant", by_variant(VARIANTS))
def test_every_base_image_is_a_pinned_build_argument(
    projects: Projects, variant: Variant
) -> None:
    global_args, all_stages = stages(dockerfile_of(projects, variant))

    for stage in all_stages:
        image = stage[0][1].split()[0]
        match = re.fullmatch(r"\$\{(\w+)\}", image)
        assert match, image
        default = global_args[match.group(1)]
        assert re.fullmatch(r"[\w./-]+:[\w.-]+", default), default
        assert not default.endswith(":latest"), default
    assert global_args["PYTHON_IMAGE"] == f"python:{variant.python_version}-slim"


@pytest.mark.parametrize("variant", by_variant(VARIANTS))
def test_dependencies_are_installed_before_the_code_and_uv_stays_behind(
    projects: Projects, variant: Variant
) -> None:
    _, all_stages = stages(dockerfile_of(projects, variant))
    build, runtime = all_stages[-2], all_stages[-1]
    build_text = [f"{keyword} {arguments}" for keyword, arguments in build]

    first_sync = next(i for i, line in enumerate(build_text) if "uv sync" in line)
    copy_src = next(i for i, line in enumerate(build_text) if line == "COPY src ./src")
    assert "--locked --no-dev --no-install-project" in build_text[first_sync]
    assert first_sync < copy_src
    assert any(line == "COPY pyproject.toml uv.lock ./" for line in build_text)
    assert "UV_COMPILE_BYTECODE=1" in dict(build)["ENV"]
    # The runtime stage copies the virtual environment and nothing from uv's image.
    runtime_copies = [arguments for keyword, arguments in runtime if keyword == "COPY"]
    assert runtime_copies == ["--from=build /app/.venv /app/.venv"]
    assert not any("uv" in arguments.split() for _, arguments in runtime)


@pytest.mark.parametrize("variant", by_variant(VARIANTS))
def test_runtime_environment_labels_and_healthcheck(
    projects: Projects, variant: Variant
) -> None:
    _, all_stages = stages(dockerfile_of(projects, variant))
    runtime = dict(all_stages[-1])

    environment = runtime["ENV"]
    assert "PYTHONUNBUFFERED=1" in environment
    assert "PORT=8000" in environment
    assert 'PATH="/app/.venv/bin:${PATH}"' in environment
    for label in ("source", "revision", "version", "created"):
        assert f"org.opencontainers.image.{label}=" in runtime["LABEL"], label
    healthcheck = runtime["HEALTHCHECK"]
    assert "/health/live" in healthcheck
    assert "urllib.request" in healthcheck
    assert "curl" not in healthcheck


def ignored_by(patterns: list[str], path: str) -> bool:
    """Docker's rule: the last pattern that matches the path or a parent decides."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        glob = pattern.removeprefix("!").rstrip("/")
        if any(fnmatch.fnmatchcase(prefix, glob) for prefix in prefixes):
            ignored = not negated
    return ignored


@pytest.mark.parametrize("variant", by_variant(VARIANTS))
def test_build_context_holds_only_the_build_inputs(
    projects: Projects, variant: Variant
) -> None:
    text = (projects.rendered(variant) / ".dockerignore").read_text()
    patterns = [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.startswith("#")
    ]

    sent = ["pyproject.toml", "uv.lock", "README.md", f"src/{PACKAGE}/__main__.py"]
    kept_out = [
        ".env",
        ".venv/bin/python",
        ".git/config",
        "tests/test_settings.py",
        f"src/{PACKAGE}/__pycache__/app.cpython-313.pyc",
    ]
    assert [path for path in sent if ignored_by(patterns, path)] == []
    assert [path for path in kept_out if not ignored_by(patterns, path)] == []


# --- configuration ----------------------------------------------------------------


# Still read, so that a deployment that sets it hears that it has no effect; never
# offered in .env.example.
RETIRED_SETTINGS = {"WEB_THREADS"}


def literal_default(value: ast.expr | None) -> object:
    """A setting's default as settings.py writes it, when it is a literal: `5`,
    `Field(default=5, ...)`, `SecretStr("...")`; `...` (Ellipsis) when it is not."""
    if isinstance(value, ast.Call):
        keywords = {k.arg: k.value for k in value.keywords}
        if "default" in keywords:
            return literal_default(keywords["default"])
        if len(value.args) == 1 and not keywords:
            return literal_default(value.args[0])
        return ...
    if isinstance(value, ast.Constant):
        return value.value
    return ...


def settings_defaults(project: Path) -> dict[str, object]:
    """Every setting of settings.py's settings classes, by environment variable."""
    tree = ast.parse((project / "src" / PACKAGE / "settings.py").read_text())
    defaults: dict[str, object] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name.endswith("Settings"):
            for item in node.body:
                if (
                    isinstance(item, ast.AnnAssign)
                    and isinstance(item.target, ast.Name)
                    and not ast.unparse(item.annotation).startswith("ClassVar")
                ):
                    defaults[item.target.id.upper()] = literal_default(item.value)
    return defaults


@pytest.mark.parametrize("variant", by_variant(VARIANTS))
def test_env_example_documents_every_setting_with_its_default(
    projects: Projects, variant: Variant
) -> None:
    project = projects.rendered(variant)
    lines = (project / ".env.example").read_text().splitlines()
    documented = {}
    for number, line in enumerate(lines):
        if match := re.fullmatch(r"([A-Z][A-Z0-9_]*)=(.*)", line):
            # Each with a comment saying why, above it or above its group.
            assert number > 0, line
            assert lines[number - 1].startswith("#") or re.fullmatch(
                r"[A-Z][A-Z0-9_]*=.*", lines[number - 1]
            ), line
            documented[match.group(1)] = match.group(2)
    defaults = settings_defaults(project)

    assert set(documented) == set(defaults) - RETIRED_SETTINGS
    for name, value in documented.items():
        default = defaults[name]
        if default is None:
            assert value == "", name
        elif isinstance(default, bool):
            assert value == str(default).lower(), name
        elif isinstance(default, int | float):
            assert float(value) == default, name
        elif isinstance(default, str) and name != "SECRET_KEY":
            assert value == default, name
    if variant.database != "none":
        assert documented["DATABASE_URL"] == DEFAULT_DATABASE_URL


# --- compose ----------------------------------------------------------------------


def compose_file(project: Path) -> dict[str, Any]:
    compose: dict[str, Any] = yaml.safe_load((project / "compose.yaml").read_text())
    return compose


def compose_services(project: Path) -> dict[str, Any]:
    services: dict[str, Any] = compose_file(project)["services"]
    return services


@pytest.mark.parametrize("variant", by_variant(VARIANTS))
def test_compose_file_is_valid_and_waits_for_its_backing_services(
    projects: Projects, variant: Variant
) -> None:
    project = projects.rendered(variant)
    run(
        [
            tool("check-jsonschema"),
            *("--builtin-schema", "vendor.compose-spec", "compose.yaml"),
        ],
        cwd=project,
    )
    text = (project / "compose.yaml").read_text()
    services = compose_services(project)
    app = services["app"]

    assert app["build"] == {"context": ".", "dockerfile": "Dockerfile"}
    assert app["env_file"] == ".env"
    assert "/health/live" in " ".join(app["healthcheck"]["test"])
    assert f"docker compose run --rm app python -m {PACKAGE} check" in text
    expected = {"app"}
    depends_on = {}
    if variant.redis_sessions:
        redis = services["redis"]
        assert re.fullmatch(r"redis:\d+\.\d+[\w.-]*", redis["image"]), redis["image"]
        assert "ports" not in redis
        expected.add("redis")
        depends_on["redis"] = {"condition": "service_healthy"}
    if variant.database == "postgresql":
        expected |= {"postgres", "migrate"}
        depends_on["postgres"] = {"condition": "service_healthy"}
        # The schema is the code's before the server starts, as in a release.
        depends_on["migrate"] = {"condition": "service_completed_successfully"}
    assert set(services) == expected
    assert app.get("depends_on", {}) == depends_on


def option_after(command: list[str], option: str) -> str:
    return command[command.index(option) + 1]


@pytest.mark.parametrize("variant", by_variant(DATABASE_VARIANTS))
def test_compose_postgres_is_the_default_database_and_migrates_before_the_app(
    projects: Projects, variant: Variant
) -> None:
    compose = compose_file(projects.rendered(variant))
    services = compose["services"]
    app, migrate, postgres = services["app"], services["migrate"], services["postgres"]
    default = urlsplit(DEFAULT_DATABASE_URL)

    assert re.fullmatch(r"postgres:\d+\.\d+-\w+", postgres["image"]), postgres
    # The credentials of DATABASE_URL's default, so `uv run` on the laptop works too.
    assert postgres["environment"] == {
        "POSTGRES_USER": default.username,
        "POSTGRES_PASSWORD": default.password,
        "POSTGRES_DB": default.path.lstrip("/"),
    }
    assert postgres["ports"] == ["127.0.0.1:5432:5432"]
    # A named volume, where PostgreSQL 18's image keeps its data.
    (volume,) = postgres["volumes"]
    name, _, path = volume.partition(":")
    assert name in compose["volumes"]
    assert path == "/var/lib/postgresql"
    # Healthy once it answers over TCP, as the app connects, for the app's database.
    healthcheck = postgres["healthcheck"]["test"]
    assert healthcheck[:2] == ["CMD", "pg_isready"]
    assert option_after(healthcheck, "--host") == "127.0.0.1"
    assert option_after(healthcheck, "--username") == default.username
    assert option_after(healthcheck, "--dbname") == default.path.lstrip("/")
    # The app and its migration reach the same database, at the postgres service.
    in_compose = DEFAULT_DATABASE_URL.replace("@localhost:", "@postgres:")
    assert app["environment"]["DATABASE_URL"] == in_compose
    assert migrate["environment"] == {"DATABASE_URL": in_compose}
    assert migrate["command"] == ["python", "-m", PACKAGE, "migrate"]
    for key in ("build", "image", "env_file", "read_only", "tmpfs"):
        assert migrate[key] == app[key], key
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert "ports" not in migrate


def acl_users(command: list[str]) -> dict[str, list[str]]:
    """The rules of each `--user <name> <rule>...` option of a redis-server command."""
    options: list[list[str]] = []
    for argument in command[1:]:
        if argument.startswith("--"):
            options.append([argument])
        else:
            options[-1].append(argument)
    return {name: rules for option, name, *rules in options if option == "--user"}


@pytest.mark.parametrize(
    "variant", by_variant([v for v in VARIANTS if v.redis_sessions])
)
def test_compose_redis_grants_the_app_only_its_keys_and_commands(
    projects: Projects, variant: Variant
) -> None:
    services = compose_services(projects.rendered(variant))
    redis = services["redis"]

    assert redis["command"][0] == "redis-server"
    users = acl_users(redis["command"])
    assert set(users) == {"default", SERVICE_SLUG}
    assert users["default"] == ["off"]
    rules = users[SERVICE_SLUG]
    assert rules[0] == "on"
    [password] = [rule[1:] for rule in rules if rule.startswith(">")]
    assert password == "local-development-only"
    assert [rule for rule in rules if rule.startswith("~")] == [f"~{SERVICE_SLUG}:*"]
    assert "resetchannels" in rules
    commands = [rule for rule in rules if rule.startswith(("+", "-"))]
    # Order matters: -@all first, then what is granted back.
    assert commands[0] == "-@all"
    assert sorted(commands[1:]) == ["+del", "+get", "+ping", "+set"]
    assert services["app"]["environment"]["REDIS_URL"] == (
        f"redis://{SERVICE_SLUG}:{password}@redis:6379/0"
    )
    # The healthcheck logs in as the app does, and fails on an error reply.
    healthcheck = redis["healthcheck"]["test"]
    assert healthcheck[:2] == ["CMD", "redis-cli"]
    assert "-e" in healthcheck
    assert f"--user {SERVICE_SLUG} --pass {password} " in " ".join(healthcheck)
    assert healthcheck[-1] == "ping"


# --- pipeline ---------------------------------------------------------------------


WORKFLOWS = ("pipeline.yaml", "template-update.yaml")
# The reusable release and run job, present when the pipeline deploys.
DEPLOY_WORKFLOW = "deploy.yaml"


def workflows_of(project: Path) -> list[str]:
    return sorted(path.name for path in (project / ".github/workflows").iterdir())


def workflow_of(project: Path, name: str = "pipeline.yaml") -> dict[Any, Any]:
    assert set(workflows_of(project)) - {DEPLOY_WORKFLOW} == set(WORKFLOWS)
    workflow: dict[Any, Any] = yaml.safe_load(
        (project / ".github" / "workflows" / name).read_text()
    )
    return workflow


def steps_of(job: dict[str, Any]) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = job["steps"]
    return steps


@pytest.mark.parametrize("variant", by_variant(VARIANTS))
def test_github_files_pass_their_schemas_yamllint_and_zizmor(
    projects: Projects, variant: Variant
) -> None:
    project = projects.rendered(variant)
    checks = [
        *(
            ("vendor.github-workflows", f".github/workflows/{name}")
            for name in workflows_of(project)
        ),
        ("vendor.dependabot", ".github/dependabot.yml"),
    ]
    for schema, path in checks:
        run([tool("check-jsonschema"), "--builtin-schema", schema, path], cwd=project)
    yaml_paths = ["compose.yaml", ".github"]
    if (project / "deploy").is_dir():
        yaml_paths.append("deploy")

    run([tool("yamllint"), "--strict", "-d", YAMLLINT_CONFIG, *yaml_paths], cwd=project)
    run([tool("zizmor"), "--offline", "--no-progress", ".github"], cwd=project)


@pytest.mark.parametrize("variant", by_variant(VARIANTS))
def test_pipeline_builds_releases_and_runs_one_digest(
    projects: Projects, variant: Variant
) -> None:
    workflow = workflow_of(projects.rendered(variant))
    jobs = workflow["jobs"]

    assert workflow["permissions"] == {}
    assert workflow["concurrency"]["group"]
    assert all(job.get("permissions") for job in jobs.values())
    build = jobs["build"]
    assert build["permissions"]["packages"] == "write"
    assert "steps.image.outputs.digest" in build["outputs"]["digest"]
    publish = next(
        s for s in steps_of(build) if "build-push-action" in s.get("uses", "")
    )
    assert publish["with"]["cache-from"] == "type=gha"
    assert publish["with"]["cache-to"].startswith("type=gha")
    assert publish["with"]["tags"].endswith(":${{ github.sha }}")
    summary = next(
        s for s in steps_of(build) if "GITHUB_STEP_SUMMARY" in s.get("run", "")
    )
    assert "steps.image.outputs.digest" in summary["env"]["DIGEST"]
    commands = " ".join(step.get("run", "") for step in steps_of(build))
    for command in ("ruff check", "ruff format --check", "mypy", "pytest"):
        assert command in commands, command
    if variant.deploy_target == "none":
        assert set(jobs) == {"build"}
        return

    assert set(jobs) == {"build", "release", "run"}
    assert set(jobs["run"]["needs"]) == {"build", "release"}
    # Both deployments are one reusable job, called with the digest build pushed.
    for name, environment in (("release", "staging"), ("run", "production")):
        assert jobs[name]["uses"] == f"$/.github/workflows/{DEPLOY_WORKFLOW}"
        assert jobs[name]["with"]["environment"] == environment
        assert "needs.build.outputs.digest" in jobs[name]["with"]["image"]
    deploy_workflow = workflow_of(projects.rendered(variant), DEPLOY_WORKFLOW)
    assert set(deploy_workflow[True]) == {"workflow_call"}
    [deploy_job] = deploy_workflow["jobs"].values()
    assert deploy_job["environment"] == "${{ inputs.environment }}"
    steps = steps_of(deploy_job)
    pin = next(s for s in steps if "kustomize edit set image" in s.get("run", ""))
    assert pin["working-directory"] == "deploy/overlays/${{ inputs.environment }}"
    assert pin["env"]["IMAGE"] == "${{ inputs.image }}"
    apply = next(s for s in steps if s.get("run") == "kubectl apply -k .")
    assert apply["working-directory"] == pin["working-directory"]
    rollout = next(s for s in steps if "kubectl rollout status" in s.get("run", ""))
    assert "--timeout=" in rollout["run"]
    assert steps.index(pin) < steps.index(apply) < steps.index(rollout)


@pytest.mark.parametrize("variant", by_variant(VARIANTS))
def test_pipeline_pins_actions_and_never_exposes_credentials(
    projects: Projects, variant: Variant
) -> None:
    project = projects.rendered(variant)
    texts = [
        (project / ".github/workflows" / name).read_text()
        for name in workflows_of(project)
    ]
    text = "\n".join(texts)
    jobs = [
        job
        for workflow in map(yaml.safe_load, texts)
        for job in workflow["jobs"].values()
    ]
    # A job either runs steps or calls this repository's own reusable workflow.
    steps = [step for job in jobs if "steps" in job for step in steps_of(job)]
    calls = [job["uses"] for job in jobs if "uses" in job]

    uses_lines = [
        line.strip().removeprefix("- ").removeprefix("uses: ")
        for line in text.splitlines()
        if "uses:" in line and not line.strip().startswith("uses: $/")
    ]
    assert uses_lines
    assert [line for line in uses_lines if not PINNED_USES.match(line)] == []
    assert all(call.startswith("$/.github/workflows/") for call in calls), calls
    assert bool(calls) == (variant.deploy_target == "kubernetes")
    for step in steps:
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False
        # Secrets reach scripts only through env, never interpolated into them.
        assert "secrets." not in step.get("run", ""), step


@pytest.mark.parametrize("variant", by_variant(VARIANTS))
def test_pipeline_tests_against_the_backing_services_compose_runs(
    projects: Projects, variant: Variant
) -> None:
    project = projects.rendered(variant)
    build = workflow_of(project)["jobs"]["build"]
    containers = build.get("services", {})
    compose = compose_services(project)

    assert set(containers) == {"redis", "postgres"} & set(compose)
    assert ("redis" in containers) == variant.redis_sessions
    assert ("postgres" in containers) == (variant.database == "postgresql")
    for name, container in containers.items():
        # One pinned image, the one the laptop runs.
        assert container["image"] == compose[name]["image"], name
        assert "--health-cmd" in container["options"], name
    if "postgres" in containers:
        postgres = containers["postgres"]
        assert postgres["env"] == compose["postgres"]["environment"]
        assert postgres["ports"] == ["5432:5432"]
        assert "pg_isready --host 127.0.0.1" in postgres["options"]
        # The integration tests run when DATABASE_URL is set: on this container.
        assert build["env"]["DATABASE_URL"] == DEFAULT_DATABASE_URL
    else:
        assert "DATABASE_URL" not in build.get("env", {})


def run_scripts(project: Path) -> dict[str, str]:
    """Every workflow step's `run` script, by workflow and step."""
    scripts = {}
    for name in workflows_of(project):
        for job_id, job in workflow_of(project, name)["jobs"].items():
            for number, step in enumerate(job.get("steps", [])):
                if "run" in step:
                    label = step.get("name", number)
                    scripts[f"{name}:{job_id}:{label}"] = step["run"]
    return scripts


@pytest.mark.parametrize("variant", by_variant(VARIANTS))
def test_workflow_scripts_pass_shellcheck(
    projects: Projects, variant: Variant, tmp_path: Path
) -> None:
    scripts = run_scripts(projects.rendered(variant))

    for number, (label, script) in enumerate(scripts.items()):
        # Expressions reach scripts only through env (zizmor checks it too).
        assert "${{" not in script, label
        path = tmp_path / f"step-{number}.sh"
        path.write_text(script)
        # GitHub runs each script with `bash -e`.
        run([tool("shellcheck"), "--shell=bash", "--severity=style", path], tmp_path)


@pytest.mark.parametrize("variant", by_variant(VARIANTS))
def test_template_update_workflow_updates_checks_and_opens_a_pull_request(
    projects: Projects, variant: Variant
) -> None:
    workflow = workflow_of(projects.rendered(variant), "template-update.yaml")
    # PyYAML reads the `on` key as the boolean True.
    triggers = workflow[True]
    [job] = workflow["jobs"].values()
    runs = [step.get("run", "") for step in steps_of(job)]
    script = "\n".join(runs)

    assert set(triggers) == {"schedule", "workflow_dispatch"}
    assert workflow["permissions"] == {}
    assert "copier check-update" in script
    assert "copier update --defaults" in script
    # Unresolved conflicts fail the job before anything is pushed.
    conflicts = next(i for i, run in enumerate(runs) if "<<<<<<<" in run)
    assert "*.rej" in runs[conflicts]
    assert "exit 1" in runs[conflicts]
    checks = next(i for i, run in enumerate(runs) if "uv run pytest" in run)
    pull_request = next(i for i, run in enumerate(runs) if "gh pr create" in run)
    assert conflicts < checks < pull_request
    token = steps_of(job)[pull_request]["env"]["GH_TOKEN"]
    assert token == "${{ secrets.TEMPLATE_UPDATE_TOKEN }}"


@pytest.mark.parametrize("variant", by_variant(VARIANTS))
def test_dependabot_updates_actions_python_and_images(
    projects: Projects, variant: Variant
) -> None:
    config = yaml.safe_load(
        (projects.rendered(variant) / ".github" / "dependabot.yml").read_text()
    )

    ecosystems = {update["package-ecosystem"] for update in config["updates"]}
    assert {"github-actions", "uv", "docker"} <= ecosystems
    # The images compose.yaml pulls (Redis, PostgreSQL) are pinned, so kept current.
    compose = compose_services(projects.rendered(variant))
    pulled = {s["image"] for s in compose.values() if "build" not in s}
    if pulled:
        assert "docker-compose" in ecosystems, pulled


# --- Kubernetes -------------------------------------------------------------------


@pytest.mark.parametrize("variant", by_variant(VARIANTS))
def test_kubernetes_files_exist_only_for_kubernetes(
    projects: Projects, variant: Variant
) -> None:
    project = projects.rendered(variant)

    assert (project / "deploy").is_dir() == (variant.deploy_target == "kubernetes")


def render_overlay(
    project: Path,
    overlay: str,
    workdir: Path,
    components: Sequence[str] = (),
    build: str = "overlays",
) -> list[dict[str, Any]]:
    """The objects the pipeline applies: the overlay with the image pinned by digest.

    The kustomization gets the `images` entry `kustomize edit set image` writes, and
    the `components` (folders of deploy/components) a team adds as deploy/README.md
    says, then kubectl's built-in kustomize renders it, offline: the overlay itself,
    or (`build="migration"`) the release's first step, which builds on it.
    """
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl (with its built-in kustomize) is not on PATH"
    deploy = workdir / "deploy"
    shutil.copytree(project / "deploy", deploy)
    kustomization = deploy / "overlays" / overlay / "kustomization.yaml"
    config = yaml.safe_load(kustomization.read_text())
    name, _, digest = DIGEST_IMAGE.partition("@")
    config["images"] = [{"name": "app", "newName": name, "digest": digest}]
    if components:
        config["components"] = [f"../../components/{c}" for c in components]
    kustomization.write_text(yaml.safe_dump(config))

    result = run([kubectl, "kustomize", deploy / build / overlay], cwd=workdir)
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def render_migration(
    project: Path, overlay: str, workdir: Path
) -> list[dict[str, Any]]:
    """What the pipeline applies before the overlay: deploy/migration/<overlay>."""
    return render_overlay(project, overlay, workdir, build="migration")


def by_kind(objects: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    kinds: dict[str, list[dict[str, Any]]] = {}
    for item in objects:
        kinds.setdefault(item["kind"], []).append(item)
    return kinds


def pod_templates(kinds: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The pods the objects run: the Deployment's, the admin CronJob's, and the
    migration Job's where the build holds it."""
    deployments = [d["spec"]["template"] for d in kinds.get("Deployment", [])]
    admin = [c["spec"]["jobTemplate"]["spec"]["template"] for c in kinds["CronJob"]]
    jobs = [j["spec"]["template"] for j in kinds.get("Job", [])]
    return deployments + admin + jobs


def pod_specs(kinds: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [pod["spec"] for pod in pod_templates(kinds)]


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("variant", by_variant(KUBERNETES_VARIANTS))
def test_overlay_renders_objects_valid_for_kubernetes(
    projects: Projects, variant: Variant, overlay: str, tmp_path: Path
) -> None:
    objects = render_overlay(projects.rendered(variant), overlay, tmp_path)
    version = kubernetes_validate.latest_version()

    for item in objects:
        kubernetes_validate.validate(item, version, strict=True)
    assert set(by_kind(objects)) == {
        "ConfigMap",
        "Service",
        "Deployment",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "CronJob",
        "NetworkPolicy",
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("variant", by_variant(KUBERNETES_VARIANTS))
def test_overlay_runs_the_pinned_digest_safely(
    projects: Projects, variant: Variant, overlay: str, tmp_path: Path
) -> None:
    kinds = by_kind(render_overlay(projects.rendered(variant), overlay, tmp_path))
    (deployment,) = kinds["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]

    for spec in pod_specs(kinds):
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] > 0
        for each in spec["containers"]:
            assert each["image"] == DIGEST_IMAGE
            assert each["securityContext"] == {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
            }
            assert set(each["resources"]["requests"]) == {"cpu", "memory"}
            assert set(each["resources"]["limits"]) == {"cpu", "memory"}
            (mount,) = each["volumeMounts"]
            assert mount["mountPath"] == "/tmp"
            volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
            assert "emptyDir" in volume
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    environment = {e["name"]: e["value"] for e in container["env"]}
    assert int(environment["WEB_CONCURRENCY"]) >= 1
    shutdown = float(environment["DRAIN_SECONDS"]) + int(
        environment["GRACEFUL_TIMEOUT"]
    )
    assert pod["terminationGracePeriodSeconds"] > shutdown


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether a Kubernetes label selector matches a set of labels."""
    matched: bool = selector.get("matchLabels", {}).items() <= labels.items()
    for expression in selector.get("matchExpressions", []):
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values", [])
        matched &= {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]
    return matched


def namespace_peer(name: str) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}


def assert_network_policy_confines(
    policy: dict[str, Any],
    kinds: dict[str, list[dict[str, Any]]],
    sessions: bool,
    database: bool,
) -> None:
    """The policy isolates every pod the service runs, in both directions, and opens
    only the service's port to the ingress and monitoring namespaces, DNS, OTLP over
    HTTP to the observability namespace, Redis when there are sessions, and PostgreSQL
    when there is a database."""
    spec = policy["spec"]
    (deployment,) = kinds["Deployment"]
    for pod in pod_templates(kinds):
        assert selects(spec["podSelector"], pod["metadata"]["labels"]), pod
    assert sorted(spec["policyTypes"]) == ["Egress", "Ingress"]

    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    (http,) = (port for port in container["ports"] if port["name"] == "http")
    (ingress,) = spec["ingress"]
    assert ingress.get("ports") == [{"protocol": "TCP", "port": http["containerPort"]}]
    assert ingress.get("from") == [
        namespace_peer("ingress-nginx"),
        namespace_peer("monitoring"),
    ]

    dns_peer = namespace_peer("kube-system") | {
        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}
    }
    allowed: dict[tuple[str, int], list[dict[str, Any]] | None] = {}
    for rule in spec["egress"]:
        # A rule without ports would open every port of its destinations.
        assert rule.get("ports"), rule
        for port in rule["ports"]:
            allowed[port.get("protocol", "TCP"), port["port"]] = rule.get("to")
    dns = {("UDP", 53): [dns_peer], ("TCP", 53): [dns_peer]}
    traces = {("TCP", 4318): [namespace_peer("observability")]}
    redis = {("TCP", 6379): None, ("TCP", 6380): None} if sessions else {}
    postgresql = {("TCP", 5432): None} if database else {}
    assert allowed == dns | traces | redis | postgresql


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("variant", by_variant(KUBERNETES_VARIANTS))
def test_network_policy_confines_the_pods_to_what_the_service_needs(
    projects: Projects, variant: Variant, overlay: str, tmp_path: Path
) -> None:
    kinds = by_kind(render_overlay(projects.rendered(variant), overlay, tmp_path))

    (policy,) = kinds["NetworkPolicy"]
    assert_network_policy_confines(
        policy, kinds, variant.redis_sessions, variant.database != "none"
    )


@pytest.mark.parametrize("variant", by_variant(KUBERNETES_VARIANTS))
def test_production_keeps_two_pods_and_scales_on_cpu(
    projects: Projects, variant: Variant, tmp_path: Path
) -> None:
    kinds = by_kind(render_overlay(projects.rendered(variant), "production", tmp_path))
    (deployment,) = kinds["Deployment"]
    (autoscaler,) = kinds["HorizontalPodAutoscaler"]
    (budget,) = kinds["PodDisruptionBudget"]
    (service,) = kinds["Service"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]

    # The autoscaler owns the replica count; a fixed one would undo it on every apply.
    assert deployment["spec"].get("replicas", 2) >= 2
    assert autoscaler["apiVersion"] == "autoscaling/v2"
    assert autoscaler["spec"]["minReplicas"] >= 2
    assert (
        autoscaler["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    )
    (metric,) = autoscaler["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"]["averageUtilization"] == 60
    assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert service["spec"]["selector"].items() <= pod_labels.items()


@pytest.mark.parametrize("variant", by_variant(KUBERNETES_VARIANTS))
def test_admin_job_runs_check_with_the_service_configuration(
    projects: Projects, variant: Variant, tmp_path: Path
) -> None:
    kinds = by_kind(render_overlay(projects.rendered(variant), "production", tmp_path))
    (cronjob,) = kinds["CronJob"]
    (deployment,) = kinds["Deployment"]
    job_pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (job_container,) = job_pod["containers"]
    (app_container,) = deployment["spec"]["template"]["spec"]["containers"]

    # Only ever run on demand, as `kubectl create job --from=cronjob/...`.
    assert cronjob["spec"]["suspend"] is True
    assert job_container["command"] == ["python", "-m", PACKAGE, "check"]
    assert job_container["envFrom"] == app_container["envFrom"]
    assert job_pod["restartPolicy"] == "Never"


@pytest.mark.parametrize("variant", by_variant(KUBERNETES_VARIANTS))
def test_manifests_reference_secrets_but_hold_no_secret_value(
    projects: Projects, variant: Variant, tmp_path: Path
) -> None:
    project = projects.rendered(variant)
    kinds = by_kind(render_overlay(project, "production", tmp_path))
    (config_map,) = kinds["ConfigMap"]
    (deployment,) = kinds["Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    sources = {
        kind: source[kind]["name"]
        for source in container["envFrom"]
        for kind in ("configMapRef", "secretRef")
        if kind in source
    }

    assert "Secret" not in kinds
    assert sources["configMapRef"] == config_map["metadata"]["name"]
    assert sources["secretRef"]
    secret_names = {"SECRET_KEY", "REDIS_URL", "DATABASE_URL"}
    assert secret_names.isdisjoint(config_map["data"])
    assert secret_names.isdisjoint(e["name"] for e in container.get("env", []))
    if variant.database != "none":
        migration = by_kind(render_migration(project, "production", tmp_path / "m"))
        assert "Secret" not in migration
        (job,) = migration["Job"]
        (job_container,) = job["spec"]["template"]["spec"]["containers"]
        assert job_container["envFrom"] == container["envFrom"]
        assert "env" not in job_container
    for manifest in (project / "deploy").rglob("*.yaml"):
        text = manifest.read_text()
        assert "kind: Secret" not in text, manifest
        assert not VALUE_OF_A_SECRET.search(text), manifest


@pytest.mark.parametrize("variant", by_variant(KUBERNETES_VARIANTS))
def test_pipeline_waits_for_the_namespace_the_overlays_deploy_to(
    projects: Projects, variant: Variant, tmp_path: Path
) -> None:
    project = projects.rendered(variant)
    [deploy_job] = workflow_of(project, DEPLOY_WORKFLOW)["jobs"].values()
    rollout = next(
        s["run"] for s in steps_of(deploy_job) if "rollout status" in s.get("run", "")
    )

    for overlay in OVERLAYS:
        objects = render_overlay(project, overlay, tmp_path / overlay)
        (deployment,) = by_kind(objects)["Deployment"]
        name = deployment["metadata"]["name"]
        namespace = deployment["metadata"]["namespace"]
        assert f"deployment/{name} --namespace {namespace} " in rollout


# --- the release's migration ------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("variant", by_variant(KUBERNETES_DATABASE_VARIANTS))
def test_migration_is_the_release_with_the_job_in_place_of_the_deployment(
    projects: Projects, variant: Variant, overlay: str, tmp_path: Path
) -> None:
    project = projects.rendered(variant)
    release = render_overlay(project, overlay, tmp_path / "release")
    migration = render_migration(project, overlay, tmp_path / "migration")
    version = kubernetes_validate.latest_version()

    for item in migration:
        kubernetes_validate.validate(item, version, strict=True)
    jobs = [item for item in migration if item["kind"] == "Job"]
    # The same ConfigMap (name and hash), policy, Service...: applying the overlay next
    # changes nothing but the Deployment.
    assert [item for item in migration if item not in jobs] == [
        item for item in release if item["kind"] != "Deployment"
    ]
    (job,) = jobs
    assert job["metadata"]["name"] == MIGRATION_JOB
    # The service's own build never holds the Job: applying it never migrates.
    assert "Job" not in by_kind(release)


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("variant", by_variant(KUBERNETES_DATABASE_VARIANTS))
def test_migration_job_runs_migrate_in_the_pod_the_deployment_runs(
    projects: Projects, variant: Variant, overlay: str, tmp_path: Path
) -> None:
    project = projects.rendered(variant)
    (deployment,) = by_kind(render_overlay(project, overlay, tmp_path / "release"))[
        "Deployment"
    ]
    migration = by_kind(render_migration(project, overlay, tmp_path / "migration"))
    (job,) = migration["Job"]
    app_pod = deployment["spec"]["template"]["spec"]
    job_pod = job["spec"]["template"]["spec"]
    (app,) = app_pod["containers"]
    (migrate,) = job_pod["containers"]

    assert job["metadata"]["namespace"] == deployment["metadata"]["namespace"]
    assert migrate["command"] == ["python", "-m", PACKAGE, "migrate"]
    # The image about to roll out, the same configuration and secrets, the same limits.
    assert migrate["image"] == app["image"] == DIGEST_IMAGE
    for key in ("envFrom", "resources", "securityContext", "volumeMounts"):
        assert migrate[key] == app[key], key
    # The Deployment's own env tunes the server (workers, drain): nothing for migrate.
    assert "env" not in migrate
    for key in (
        "securityContext",
        "imagePullSecrets",
        "volumes",
        "automountServiceAccountToken",
        "enableServiceLinks",
    ):
        assert job_pod.get(key) == app_pod.get(key), key
    assert job_pod["restartPolicy"] == "Never"
    spec = job["spec"]
    # Small and bounded: at most one retry, a deadline, and gone a day later.
    assert spec["backoffLimit"] in (0, 1)
    assert 0 < spec["activeDeadlineSeconds"] <= 900
    assert spec["ttlSecondsAfterFinished"] > 0
    # An invalid configuration (EX_CONFIG) fails the Job without a retry.
    (rule,) = spec["podFailurePolicy"]["rules"]
    assert rule["action"] == "FailJob"
    assert rule["onExitCodes"] == {
        "containerName": migrate["name"],
        "operator": "In",
        "values": [78],
    }
    # The service's network policy covers the Job's pods, PostgreSQL included.
    (policy,) = migration["NetworkPolicy"]
    pod_labels = job["spec"]["template"]["metadata"]["labels"]
    assert selects(policy["spec"]["podSelector"], pod_labels)
    assert any(
        {"protocol": "TCP", "port": 5432} in rule["ports"]
        for rule in policy["spec"]["egress"]
    )


def deploy_steps(project: Path) -> list[dict[str, Any]]:
    [deploy_job] = workflow_of(project, DEPLOY_WORKFLOW)["jobs"].values()
    return steps_of(deploy_job)


def migration_steps(project: Path) -> list[dict[str, Any]]:
    return [s for s in deploy_steps(project) if "deploy/migration/" in s.get("run", "")]


@pytest.mark.parametrize("variant", by_variant(KUBERNETES_VARIANTS))
def test_deploy_migrates_between_pinning_the_image_and_rolling_it_out(
    projects: Projects, variant: Variant, tmp_path: Path
) -> None:
    project = projects.rendered(variant)
    [deploy_job] = workflow_of(project, DEPLOY_WORKFLOW)["jobs"].values()
    steps = steps_of(deploy_job)
    runs = [step.get("run", "") for step in steps]
    pin = next(i for i, text in enumerate(runs) if "kustomize edit set image" in text)
    apply = runs.index("kubectl apply -k .")
    if variant.database == "none":
        assert migration_steps(project) == []
        return

    (step,) = migration_steps(project)
    migrate = steps.index(step)
    assert pin < migrate < apply
    assert step["env"]["ENVIRONMENT"] == "${{ inputs.environment }}"
    script = step["run"]
    assert 'kubectl apply -k "deploy/migration/$ENVIRONMENT"' in script
    # The previous release's Job goes first: a Job's pod template cannot change.
    delete = script.index('kubectl delete "job/$JOB"')
    assert "--ignore-not-found" in script[delete:]
    assert delete < script.index("kubectl apply")
    # The Job it waits for is the one the migration applies, where it applies it.
    for overlay in OVERLAYS:
        migration = render_migration(project, overlay, tmp_path / overlay)
        (job,) = by_kind(migration)["Job"]
        assert step["env"]["JOB"] == job["metadata"]["name"]
        assert step["env"]["NAMESPACE"] == job["metadata"]["namespace"]
    # The deploy job outlasts its worst case: the old Job's deletion (120 s), the
    # migration's deadline and a minute, and the rollout's timeout.
    (rollout,) = re.findall(r"rollout status .*--timeout=(\d+)s", "\n".join(runs))
    worst = 120 + job["spec"]["activeDeadlineSeconds"] + 60 + int(rollout)
    assert deploy_job["timeout-minutes"] * 60 > worst


# The kubectl the migration step talks to, in place of a cluster's: it records each
# call, and answers from the Job's scripted states, one per poll, the last repeated.
FAKE_KUBECTL = """#!{python}
import os, sys
from pathlib import Path

arguments = " ".join(sys.argv[1:])
with open(os.environ["FAKE_CALLS"], "a") as calls:
    calls.write(arguments + "\\n")
if "{{.spec.activeDeadlineSeconds}}" in arguments:
    print(os.environ["FAKE_DEADLINE"])
elif "{{.status.conditions" in arguments:
    states = Path(os.environ["FAKE_STATES"])
    first, *rest = states.read_text().split("\\n")
    print(first, end="")
    if rest:
        states.write_text("\\n".join(rest))
elif sys.argv[1] == "logs":
    print('{{"event": "migration failed"}}')
"""


@pytest.mark.parametrize(
    ("states", "deadline", "succeeds"),
    [
        pytest.param(["", "", "SuccessCriteriaMet Complete"], 600, True, id="complete"),
        pytest.param(["", "FailureTarget Failed"], 600, False, id="failed"),
        # Past the Job's deadline (and the minute after it), still not ended.
        pytest.param([""], -60, False, id="never-ends"),
    ],
)
@pytest.mark.parametrize("variant", by_variant(KUBERNETES_DATABASE_VARIANTS[:1]))
def test_migration_step_ends_the_deploy_on_the_jobs_outcome(
    projects: Projects,
    variant: Variant,
    states: list[str],
    deadline: int,
    succeeds: bool,
    tmp_path: Path,
) -> None:
    (step,) = migration_steps(projects.rendered(variant))
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "kubectl").write_text(FAKE_KUBECTL.format(python=sys.executable))
    # Polls without waiting.
    (fake / "sleep").write_text("#!/bin/sh\n")
    for command in fake.iterdir():
        command.chmod(0o755)
    (tmp_path / "states").write_text("\n".join(states))
    calls = tmp_path / "calls"
    environment = (
        os.environ
        | step["env"]
        | {
            "ENVIRONMENT": "staging",
            "PATH": f"{fake}{os.pathsep}{os.environ['PATH']}",
            "FAKE_CALLS": str(calls),
            "FAKE_STATES": str(tmp_path / "states"),
            "FAKE_DEADLINE": str(deadline),
        }
    )

    # As GitHub runs a step's script: `bash -e`.
    result = subprocess.run(
        ["bash", "-e", "-c", step["run"]],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    made = calls.read_text().splitlines()
    assert (result.returncode == 0) == succeeds, result
    assert made[0].startswith(f"delete job/{MIGRATION_JOB} --namespace {SERVICE_SLUG}")
    assert "--ignore-not-found" in made[0]
    assert made[1] == "apply -k deploy/migration/staging"
    # The Job's logs in the deploy's output, whatever the outcome.
    assert made[-1].startswith(f"logs --namespace {SERVICE_SLUG} ")
    assert f"batch.kubernetes.io/job-name={MIGRATION_JOB}" in made[-1]
    assert ("::error::" in result.stdout) != succeeds


# --- telemetry --------------------------------------------------------------------


# The Prometheus Operator's kind, which kubernetes-validate has no schema for.
SERVICE_MONITOR = ("monitoring.coreos.com/v1", "ServiceMonitor")
# A Prometheus duration, in the units the manifests use.
DURATION = re.compile(r"(?=\d)(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


def duration_seconds(text: str) -> int:
    match = DURATION.fullmatch(text)
    assert match, text
    hours, minutes, seconds = (int(group or 0) for group in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def app_port(kinds: dict[str, list[dict[str, Any]]], service_port: str) -> int:
    """The container port that the Service's port of this name forwards to."""
    (service,) = kinds["Service"]
    (deployment,) = kinds["Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    (port,) = (p for p in service["spec"]["ports"] if p.get("name") == service_port)
    target = port["targetPort"]
    if isinstance(target, int):
        return target
    (named,) = (p for p in container["ports"] if p.get("name") == target)
    return int(named["containerPort"])


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("variant", by_variant(KUBERNETES_VARIANTS))
def test_pods_ask_to_be_scraped_on_the_port_the_server_listens_on(
    projects: Projects, variant: Variant, overlay: str, tmp_path: Path
) -> None:
    project = projects.rendered(variant)
    kinds = by_kind(render_overlay(project, overlay, tmp_path))
    (deployment,) = kinds["Deployment"]
    (service,) = kinds["Service"]
    (service_port,) = service["spec"]["ports"]
    annotations = deployment["spec"]["template"]["metadata"].get("annotations", {})
    _, all_stages = stages(dockerfile_of(projects, variant))

    port = app_port(kinds, service_port["name"])
    # The image's PORT, which neither the Deployment nor its config overrides.
    assert f"PORT={port}" in dict(all_stages[-1])["ENV"].split()
    assert {
        key: value
        for key, value in annotations.items()
        if key.startswith("prometheus.io/")
    } == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(port),
        "prometheus.io/path": "/metrics",
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("variant", by_variant(KUBERNETES_VARIANTS))
def test_metrics_files_live_on_the_pods_writable_temporary_volume(
    projects: Projects, variant: Variant, overlay: str, tmp_path: Path
) -> None:
    kinds = by_kind(render_overlay(projects.rendered(variant), overlay, tmp_path))
    (config_map,) = kinds["ConfigMap"]
    directory = PurePosixPath(config_map["data"]["PROMETHEUS_MULTIPROC_DIR"])

    assert directory == PurePosixPath("/tmp/metrics")
    # The server and the admin Job both read the config; /tmp is all they may write.
    for spec in pod_specs(kinds):
        (container,) = spec["containers"]
        config_source = {"configMapRef": {"name": config_map["metadata"]["name"]}}
        assert config_source in container["envFrom"]
        assert "PROMETHEUS_MULTIPROC_DIR" not in {
            e["name"] for e in container.get("env", [])
        }
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        (mount,) = (
            m
            for m in container["volumeMounts"]
            if directory.is_relative_to(m["mountPath"])
        )
        assert mount["mountPath"] == "/tmp"
        assert mount.get("readOnly", False) is False
        (volume,) = (v for v in spec["volumes"] if v["name"] == mount["name"])
        assert set(volume) == {"name", "emptyDir"}


def assert_service_monitor_scrapes(
    monitor: dict[str, Any], kinds: dict[str, list[dict[str, Any]]]
) -> None:
    """The ServiceMonitor, checked by hand: it uses only the fields checked here, sits
    beside the Service and selects it, and scrapes /metrics within its interval on a
    named port of the Service, whose pods' port the network policy opens to the
    monitoring namespace."""
    (service,) = kinds["Service"]
    (policy,) = kinds["NetworkPolicy"]
    assert (monitor["apiVersion"], monitor["kind"]) == SERVICE_MONITOR
    assert set(monitor) == {"apiVersion", "kind", "metadata", "spec"}
    assert monitor["metadata"].get("namespace") == service["metadata"]["namespace"]
    spec = monitor["spec"]
    # Without a namespaceSelector, it looks in its own namespace only.
    assert set(spec) == {"selector", "endpoints"}
    assert set(spec["selector"]) == {"matchLabels"}
    assert spec["selector"]["matchLabels"]
    assert selects(spec["selector"], service["metadata"]["labels"])

    (endpoint,) = spec["endpoints"]
    assert set(endpoint) == {"port", "path", "interval", "scrapeTimeout"}
    assert endpoint["port"] in {port.get("name") for port in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    assert endpoint["interval"] == "30s"
    assert duration_seconds(endpoint["scrapeTimeout"]) < duration_seconds(
        endpoint["interval"]
    )
    scraped = {"protocol": "TCP", "port": app_port(kinds, endpoint["port"])}
    assert any(
        scraped in rule["ports"] and namespace_peer("monitoring") in rule["from"]
        for rule in policy["spec"]["ingress"]
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("variant", by_variant(KUBERNETES_VARIANTS))
def test_service_monitor_component_adds_a_monitor_of_the_service(
    projects: Projects, variant: Variant, overlay: str, tmp_path: Path
) -> None:
    project = projects.rendered(variant)
    plain = render_overlay(project, overlay, tmp_path / "plain")
    objects = render_overlay(
        project, overlay, tmp_path / "monitored", components=["service-monitor"]
    )
    version = kubernetes_validate.latest_version()
    custom = [o for o in objects if (o["apiVersion"], o["kind"]) == SERVICE_MONITOR]

    for item in objects:
        if item in custom:
            # No schema to validate against: assert_service_monitor_scrapes checks it.
            with pytest.raises(kubernetes_validate.SchemaNotFoundError):
                kubernetes_validate.validate(item, version, strict=True)
        else:
            kubernetes_validate.validate(item, version, strict=True)
    (monitor,) = custom
    assert [o for o in objects if o not in custom] == plain
    assert_service_monitor_scrapes(monitor, by_kind(objects))


# --- the validators themselves ----------------------------------------------------


def test_kubernetes_schemas_reject_an_unknown_field() -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "broken"},
        "spec": {
            "selector": {"matchLabels": {"app": "broken"}},
            "template": {
                "metadata": {"labels": {"app": "broken"}},
                "spec": {
                    "terminationGracePeriodSecond": 35,
                    "containers": [{"name": "app", "image": "app"}],
                },
            },
        },
    }

    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(
            deployment, kubernetes_validate.latest_version(), strict=True
        )


NetworkPolicyBreakage = Callable[[dict[str, Any]], object]


def blocking_egress_to(port: int) -> NetworkPolicyBreakage:
    def breakage(spec: dict[str, Any]) -> None:
        spec["egress"] = [
            rule
            for rule in spec["egress"]
            if all(each["port"] != port for each in rule["ports"])
        ]

    return breakage


def leaving_out_pods(expression: dict[str, Any]) -> NetworkPolicyBreakage:
    def breakage(spec: dict[str, Any]) -> None:
        spec["podSelector"] = {"matchExpressions": [expression]}

    return breakage


@pytest.mark.parametrize(
    "breakage",
    [
        pytest.param(
            lambda spec: spec.update(policyTypes=["Ingress"]), id="egress-not-isolated"
        ),
        pytest.param(
            lambda spec: spec["ingress"][0].pop("from"), id="ingress-from-anywhere"
        ),
        pytest.param(
            lambda spec: spec["ingress"][0].pop("ports"), id="ingress-to-every-port"
        ),
        pytest.param(lambda spec: spec["egress"][0].pop("to"), id="dns-to-anywhere"),
        pytest.param(lambda spec: spec["egress"][1].pop("to"), id="traces-to-anywhere"),
        pytest.param(lambda spec: spec["egress"].append({}), id="egress-to-anything"),
        pytest.param(blocking_egress_to(6379), id="redis-blocked"),
        pytest.param(blocking_egress_to(5432), id="postgresql-blocked"),
        pytest.param(
            leaving_out_pods(
                {"key": "app.kubernetes.io/component", "operator": "DoesNotExist"}
            ),
            id="admin-job-left-out",
        ),
        pytest.param(
            leaving_out_pods(
                {
                    "key": "app.kubernetes.io/component",
                    "operator": "NotIn",
                    "values": ["migration"],
                }
            ),
            id="migration-job-left-out",
        ),
    ],
)
@pytest.mark.parametrize(
    "variant",
    by_variant([v for v in KUBERNETES_DATABASE_VARIANTS if v.redis_sessions][:1]),
)
def test_network_policy_check_catches_a_broken_policy(
    projects: Projects,
    variant: Variant,
    breakage: NetworkPolicyBreakage,
    tmp_path: Path,
) -> None:
    project = projects.rendered(variant)
    kinds = by_kind(render_overlay(project, "production", tmp_path / "release"))
    # The release's pods, and the migration Job's before them.
    kinds["Job"] = by_kind(render_migration(project, "production", tmp_path / "m"))[
        "Job"
    ]
    (policy,) = kinds["NetworkPolicy"]
    assert_network_policy_confines(policy, kinds, sessions=True, database=True)

    breakage(policy["spec"])

    with pytest.raises(AssertionError):
        assert_network_policy_confines(policy, kinds, sessions=True, database=True)


ServiceMonitorBreakage = Callable[[dict[str, Any]], object]


def first_endpoint(monitor: dict[str, Any]) -> dict[str, Any]:
    endpoint: dict[str, Any] = monitor["spec"]["endpoints"][0]
    return endpoint


@pytest.mark.parametrize(
    "breakage",
    [
        pytest.param(
            lambda m: m.update(apiVersion="monitoring.coreos.com/v1alpha1"),
            id="unknown-api-version",
        ),
        pytest.param(
            lambda m: m["metadata"].update(namespace="monitoring"),
            id="away-from-the-service",
        ),
        pytest.param(
            lambda m: m["spec"]["selector"]["matchLabels"].update(
                {"app.kubernetes.io/name": "another-service"}
            ),
            id="selects-another-service",
        ),
        pytest.param(
            lambda m: m["spec"].update(selector={"matchLabels": {}}),
            id="selects-every-service",
        ),
        pytest.param(
            lambda m: first_endpoint(m).update(port="metrics"), id="unknown-port-name"
        ),
        pytest.param(
            lambda m: first_endpoint(m).update(path="/health"), id="not-the-metrics"
        ),
        pytest.param(
            lambda m: first_endpoint(m).update(scrapeTimeout="30s"),
            id="timeout-as-long-as-the-interval",
        ),
        pytest.param(
            lambda m: first_endpoint(m).update(scrapeTimout="10s"),
            id="misspelled-field",
        ),
    ],
)
@pytest.mark.parametrize("variant", by_variant(KUBERNETES_VARIANTS[:1]))
def test_service_monitor_check_catches_a_broken_monitor(
    projects: Projects,
    variant: Variant,
    breakage: ServiceMonitorBreakage,
    tmp_path: Path,
) -> None:
    objects = render_overlay(
        projects.rendered(variant), "production", tmp_path, ["service-monitor"]
    )
    kinds = by_kind(objects)
    (monitor,) = kinds["ServiceMonitor"]
    assert_service_monitor_scrapes(monitor, kinds)

    breakage(monitor)

    with pytest.raises(AssertionError):
        assert_service_monitor_scrapes(monitor, kinds)


@pytest.mark.parametrize(
    ("command", "file", "content"),
    [
        pytest.param(
            ["zizmor", "--offline", "--no-progress"],
            "workflow.yaml",
            "on: push\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-24.04\n"
            "    steps:\n      - uses: actions/checkout@v6\n",
            id="zizmor-unpinned-action",
        ),
        pytest.param(
            ["check-jsonschema", "--builtin-schema", "vendor.github-workflows"],
            "workflow.yaml",
            "on: push\njobs:\n  a:\n    steps:\n      - run: true\n",
            id="workflow-schema-missing-runs-on",
        ),
        pytest.param(
            ["hadolint"],
            "Dockerfile",
            "FROM python:3.13-slim\nRUN cd /tmp && pip install flask\n",
            id="hadolint-cd-and-unpinned-pip",
        ),
    ],
)
def test_validators_reject_broken_files(
    tmp_path: Path, command: list[str], file: str, content: str
) -> None:
    (tmp_path / file).write_text(content)

    with pytest.raises(AssertionError, match="exited"):
        run([tool(command[0]), *command[1:], file], cwd=tmp_path)
