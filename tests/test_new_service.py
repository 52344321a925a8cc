"""`./new-service`: first contact. Any destination folder gives a valid service or one
line naming the question, and the service starts as a git repository that updates."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .answers import DERIVED, DESTINATION_CASES
from .support import (
    ROOT,
    assert_valid_answers,
    git,
    recorded_answers,
    run,
    uv_environment,
)

NEUTRAL_AUTHOR = "new-service <new-service@localhost>"


def without_git_identity() -> dict[str, str]:
    """An environment in which git has no identity: no global or system config, and
    none of git's identity variables."""
    env = {
        key: value
        for key, value in uv_environment().items()
        if not key.startswith(("GIT_AUTHOR_", "GIT_COMMITTER_"))
    }
    return env | {"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def new_service(
    destination: Path,
    *arguments: str,
    checkout: Path = ROOT,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a checkout's ./new-service as a person would, beside the destination."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [checkout / "new-service", destination, *arguments],
        cwd=destination.parent,
        env=env if env is not None else without_git_identity(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error")]


@pytest.mark.parametrize(("name", "given", "expected"), DESTINATION_CASES)
def test_any_destination_gives_a_valid_service_or_one_line_naming_the_question(
    tmp_path: Path, name: str, given: dict[str, str], expected: tuple[str, ...] | str
) -> None:
    destination = tmp_path / name
    data = [f"--data={key}={value}" for key, value in given.items()]

    result = new_service(destination, *data, "--no-git")

    assert "Traceback" not in result.stderr
    if isinstance(expected, str):
        assert result.returncode == 1, result.stderr
        [error] = error_lines(result)
        assert error.startswith(f"error: {expected}: "), error
        assert not destination.exists()
    else:
        assert result.returncode == 0, result.stderr
        assert error_lines(result) == []
        answers = recorded_answers(destination)
        assert tuple(answers[question] for question in DERIVED) == expected
        assert_valid_answers(answers)
        assert not (destination / ".git").exists()


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        (["--data=servce_slug=orders"], "error: servce_slug: unknown question"),
        # The rulebook is a computed value, not an answer anyone may replace.
        (["--data=rules={}"], "error: rules: unknown question"),
        (["--data=redis_sessions=maybe"], "error: redis_sessions: must be true or"),
    ],
    ids=["a typo", "the rulebook", "not a boolean"],
)
def test_refused_options_end_in_one_line_and_write_nothing(
    tmp_path: Path, arguments: list[str], error: str
) -> None:
    destination = tmp_path / "order-service"

    result = new_service(destination, *arguments)

    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    [line] = error_lines(result)
    assert line.startswith(error), line
    assert not destination.exists()


def test_a_destination_that_is_not_empty_is_left_alone(tmp_path: Path) -> None:
    destination = tmp_path / "order-service"
    destination.mkdir()
    (destination / "keep.txt").write_text("mine")

    result = new_service(destination)

    assert result.returncode == 1
    assert error_lines(result) == [
        f"error: destination {destination}: already exists and is not an empty folder"
    ]
    assert [path.name for path in destination.iterdir()] == ["keep.txt"]


def test_the_first_commit_takes_the_users_git_identity_when_there_is_one(
    tmp_path: Path,
) -> None:
    config = tmp_path / "gitconfig"
    config.write_text("[user]\n\tname = Ada Lovelace\n\temail = ada@example.com\n")
    destination = tmp_path / "order-service"

    result = new_service(
        destination, env=without_git_identity() | {"GIT_CONFIG_GLOBAL": str(config)}
    )

    assert result.returncode == 0, result.stderr
    assert git(destination, "log", "--format=%an <%ae>").split("\n")[0] == (
        "Ada Lovelace <ada@example.com>"
    )


@pytest.mark.slow
def test_the_service_is_a_repository_whose_first_commit_updates_from_day_one(
    template_repo: Path, tmp_path: Path
) -> None:
    # From a clean checkout (the scratch clone), whose commit `copier update` can find.
    destination = tmp_path / "order-service"

    result = new_service(destination, checkout=template_repo)

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert git(destination, "rev-list", "--count", "HEAD").strip() == "1"
    assert git(destination, "branch", "--show-current").strip() == "main"
    assert git(destination, "log", "--format=%an <%ae>").strip() == NEUTRAL_AUTHOR
    assert git(destination, "status", "--porcelain") == ""
    tracked = set(git(destination, "ls-files").splitlines())
    assert {".copier-answers.yml", "pyproject.toml", "uv.lock"} <= tracked
    answers = recorded_answers(destination)
    assert answers["_src_path"] == str(template_repo)
    assert answers["_commit"] == git(template_repo, "describe", "--tags").strip()

    # What the fleet update runs, against the same local template, with no identity.
    # (Without --vcs-ref Copier takes the latest release tag, older than this HEAD.)
    copier = str(Path(sys.executable).parent / "copier")
    update = [copier, "update", "--defaults", "--vcs-ref", "HEAD"]
    run(update, cwd=destination, env=without_git_identity())

    assert git(destination, "status", "--porcelain") == ""
