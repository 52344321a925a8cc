"""`copier update` as a contract: every release updates cleanly, owners' edits survive,
answers can change, and conflicts are surfaced, never lost."""

import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import copier
import pytest
import yaml

from .support import (
    PACKAGE,
    RELEASES,
    ROOT,
    RUNTIME_PYTHON,
    VARIANTS,
    Variant,
    generate,
    git,
    run,
)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("update")]

# Services get the running interpreter's version: some of them run their own tests.
ANSWERS: dict[str, Any] = {
    "project_name": "Order Service",
    "python_version": RUNTIME_PYTHON,
}
CONFLICT_MARKER = re.compile(r"^(<<<<<<<|>>>>>>>)", re.MULTILINE)


def generate_repository(
    template: Path, destination: Path, ref: str, **answers: Any
) -> Path:
    """A service generated from `template` at `ref`, committed in a repository of its
    own, as `copier update` needs it."""
    generate(destination, ANSWERS | answers, template=template, vcs_ref=ref)
    git(destination, "init", "--quiet")
    git(destination, "add", "--all")
    git(destination, "commit", "--quiet", "-m", f"generated from {ref}")
    return destination


def update(project: Path, ref: str = "HEAD", **answers: Any) -> None:
    copier.run_update(
        project,
        data=answers,
        defaults=True,
        overwrite=True,
        vcs_ref=ref,
        quiet=True,
    )


def tree(project: Path) -> dict[str, str]:
    """Every file's text, with the answers file's template commit left out."""
    files = {}
    for path in sorted(project.rglob("*")):
        relative = path.relative_to(project)
        if path.is_file() and relative.parts[0] != ".git":
            files[str(relative)] = path.read_text()
    answers = yaml.safe_load(files.pop(".copier-answers.yml"))
    answers.pop("_commit")
    files[".copier-answers.yml"] = yaml.safe_dump(answers)
    return files


def unresolved(project: Path) -> list[str]:
    """Files left with conflict markers, and rejected hunks."""
    marked = [
        name for name, text in tree(project).items() if CONFLICT_MARKER.search(text)
    ]
    return marked + [str(path) for path in project.rglob("*.rej")]


def test_the_changelog_records_releases_with_their_commits() -> None:
    assert [tag for tag, _ in RELEASES][-1] == "v0.1.0"
    assert len(RELEASES) >= 2


# Questions added after the first release, with the answer a service made before them
# has: updating such a service to another answer is an answer change (tested below).
LATER_QUESTIONS = {"database": "none"}


def offers_every_answer(commit: str, variant: Variant) -> bool:
    """Whether the release at `commit` asks each later question that the variant
    answers with other than the default."""
    questions = git(ROOT, "show", f"{commit}:copier.yml")
    return all(
        re.search(rf"^{name}:", questions, re.MULTILINE) is not None
        or variant.answers[name] == default
        for name, default in LATER_QUESTIONS.items()
    )


RELEASE_UPDATES = [
    pytest.param(tag, variant, id=f"{tag}-{variant.id}")
    for tag, commit in RELEASES
    for variant in VARIANTS
    if offers_every_answer(commit, variant)
]


@pytest.mark.parametrize(("release", "variant"), RELEASE_UPDATES)
def test_every_release_updates_to_the_current_template_like_a_fresh_copy(
    template_repo: Path, tmp_path: Path, release: str, variant: Variant
) -> None:
    project = generate_repository(
        template_repo, tmp_path / "updated", release, **variant.answers
    )

    update(project)

    assert unresolved(project) == []
    fresh = generate_repository(
        template_repo, tmp_path / "fresh", "HEAD", **variant.answers
    )
    assert tree(project) == tree(fresh)


def test_a_service_updated_from_the_latest_release_passes_its_own_tests(
    template_repo: Path, tmp_path: Path
) -> None:
    latest = RELEASES[0][0]
    project = generate_repository(template_repo, tmp_path / "service", latest)
    update(project)

    run(["uv", "sync", "--locked", "--quiet"], cwd=project)
    run(
        ["uv", "run", "--no-sync", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
    )


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ({"redis_sessions": False}, {"redis_sessions": True}),
        ({"redis_sessions": True}, {"redis_sessions": False}),
        ({"deploy_target": "none"}, {"deploy_target": "kubernetes"}),
        ({"framework": "flask"}, {"framework": "fastapi"}),
        ({"database": "none"}, {"database": "postgresql"}),
        ({"database": "postgresql"}, {"database": "none"}),
    ],
    ids=lambda answers: ",".join(f"{k}={v}" for k, v in answers.items()),
)
def test_changing_an_answer_on_update_gives_a_fresh_copy_with_that_answer(
    template_repo: Path,
    tmp_path: Path,
    before: dict[str, Any],
    after: dict[str, Any],
) -> None:
    project = generate_repository(template_repo, tmp_path / "updated", "HEAD", **before)

    update(project, **after)

    assert unresolved(project) == []
    fresh = generate_repository(template_repo, tmp_path / "fresh", "HEAD", **after)
    assert tree(project) == tree(fresh)


Edit = Callable[[str], str]


def replace_once(old: str, new: str) -> Edit:
    def edit(text: str) -> str:
        assert text.count(old) == 1, f"expected exactly one {old!r}"
        return text.replace(old, new)

    return edit


def append(addition: str) -> Edit:
    return lambda text: text + addition


def edit_file(path: Path, edit: Edit) -> None:
    path.write_text(edit(path.read_text()))


APP = f"src/{PACKAGE}/app.py"
APP_TEMPLATE = (
    "template/src/{{package_name}}/{% if framework == 'flask' %}app.py{% endif %}.jinja"
)
# The template's next version changes each of these files...
TEMPLATE_CHANGES: dict[str, Edit] = {
    APP_TEMPLATE: replace_once(
        '"""Flask application factory."""', '"""Flask application factory, v-next."""'
    ),
    "template/README.md.jinja": replace_once("## Endpoints", "## HTTP endpoints"),
    "template/pyproject.toml.jinja": replace_once(
        'version = "0.1.0"', 'version = "0.2.0"'
    ),
    "template/.env.example.jinja": replace_once(
        "# Port the server binds on 0.0.0.0.",
        "# Port the server listens on, on 0.0.0.0.",
    ),
}
# ...and the service's owners changed other lines of the same files.
OWNER_EDITS: dict[str, Edit] = {
    APP: append('\n\ndef owners_route() -> str:\n    return "kept"\n'),
    "README.md": replace_once("## Configuration", "## Configuration (owned by us)"),
    "pyproject.toml": replace_once(
        '    "structlog>=26.1.0",\n', '    "structlog>=26.1.0",\n    "tenacity>=9.0",\n'
    ),
    ".env.example": append("# Our own flag.\nFEATURE_FLAG=on\n"),
}


@pytest.fixture
def next_template_version(template_repo: Path, tmp_path: Path) -> Path:
    """A copy of the template repository whose HEAD changes the files owners edit."""
    repository = tmp_path / "template-next"
    git(
        template_repo,
        "clone",
        "--quiet",
        "--no-local",
        str(template_repo),
        str(repository),
    )
    git(repository, "tag", "v100.0.0", "HEAD")
    for name, change in TEMPLATE_CHANGES.items():
        edit_file(repository / name, change)
    git(repository, "commit", "--quiet", "--all", "-m", "next version")
    git(repository, "tag", "v100.1.0", "HEAD")
    return repository


def test_owners_edits_survive_an_update_that_changes_the_same_files(
    next_template_version: Path, tmp_path: Path
) -> None:
    project = generate_repository(
        next_template_version, tmp_path / "service", "v100.0.0"
    )
    for name, edit in OWNER_EDITS.items():
        edit_file(project / name, edit)
    git(project, "commit", "--quiet", "--all", "-m", "owners' edits")

    update(project, "v100.1.0")

    assert unresolved(project) == []
    files = tree(project)
    assert 'def owners_route() -> str:\n    return "kept"' in files[APP]
    assert '"""Flask application factory, v-next."""' in files[APP]
    assert "## Configuration (owned by us)" in files["README.md"]
    assert "## HTTP endpoints" in files["README.md"]
    assert '"tenacity>=9.0",' in files["pyproject.toml"]
    assert 'version = "0.2.0"' in files["pyproject.toml"]
    assert "FEATURE_FLAG=on" in files[".env.example"]
    assert "# Port the server listens on, on 0.0.0.0." in files[".env.example"]


def test_a_conflicting_edit_is_surfaced_with_both_sides_never_lost(
    next_template_version: Path, tmp_path: Path
) -> None:
    project = generate_repository(
        next_template_version, tmp_path / "service", "v100.0.0"
    )
    edit_file(
        project / ".env.example",
        replace_once("# Port the server binds on 0.0.0.0.", "# Our port comment."),
    )
    git(project, "commit", "--quiet", "--all", "-m", "owners' edit")

    update(project, "v100.1.0")

    assert unresolved(project) == [".env.example"]
    text = (project / ".env.example").read_text()
    assert "# Our port comment." in text
    assert "# Port the server listens on, on 0.0.0.0." in text
    # What the README tells users to run to find unresolved files.
    listed = subprocess.run(
        ["git", "grep", "-l", "-E", "^(<<<<<<<|>>>>>>>)"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    assert listed.stdout.split() == [".env.example"]
