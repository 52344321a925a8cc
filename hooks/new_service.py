"""Generate a service from this checkout, nobody at a prompt: what ./new-service runs.

    ./new-service DESTINATION [--data QUESTION=ANSWER ...] [--no-git]

Every question not answered with `--data` takes its default; the destination folder's
name gives the project name, and every answer derived from it is valid (copier.yml says
how). Then, unless `--no-git`, the destination becomes a git repository whose first
commit is the generated tree, so that `copier update` works from day one. The commit
is made with the user's git identity, or with a neutral one when none is configured.

A refused answer ends with one line on stderr, `error: <question>: <reason>`, exit code
1, and nothing written; a bad command line exits 2.
"""

import argparse
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import copier
from copier.errors import CopierError

from hooks.cli import destination_refusal, one_line, warn_in_one_line
from hooks.projects import recorded_answers
from hooks.questions import QUESTIONS, ROOT, copier_refusal

# Only when the user has no git identity of their own.
NEUTRAL_IDENTITY = (
    "-c",
    "user.name=new-service",
    "-c",
    "user.email=new-service@localhost",
)
# The branch the generated pipeline builds, releases and runs from.
BRANCH = "main"


class RefusedError(Exception):
    """One line for the user: why nothing (or nothing more) was done."""


def answer(text: str) -> tuple[str, str]:
    """A `--data QUESTION=ANSWER` option; Copier casts the answer to its type."""
    question, equals, value = text.partition("=")
    if not equals:
        raise argparse.ArgumentTypeError(f"{text!r} is not QUESTION=ANSWER")
    return question, value


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="./new-service",
        description="Generate a service from this template checkout, with the default "
        "answers, as the first commit of a new git repository.",
    )
    parser.add_argument("destination", type=Path, help="folder to generate into")
    parser.add_argument(
        "--data",
        type=answer,
        action="append",
        default=[],
        metavar="QUESTION=ANSWER",
        help="answer a question instead of taking its default (repeatable)",
    )
    parser.add_argument(
        "--no-git",
        action="store_true",
        help="do not make the destination a git repository (e.g. inside a monorepo)",
    )
    return parser.parse_args(argv)


def typed(answers: dict[str, str]) -> dict[str, str | bool]:
    """The answers given, refused when Copier would take them wrongly: it ignores an
    unknown question, and turns any word but a few into true for a yes/no question."""
    typed: dict[str, str | bool] = {}
    for question, value in answers.items():
        if question not in QUESTIONS:
            known = ", ".join(QUESTIONS)
            raise RefusedError(f"{question}: unknown question (known: {known})")
        if QUESTIONS[question]["type"] == "bool":
            if value.lower() not in {"true", "false"}:
                raise RefusedError(f"{question}: must be true or false, not {value!r}")
            typed[question] = value.lower() == "true"
        else:
            typed[question] = value
    return typed


def generate(destination: Path, answers: dict[str, str | bool]) -> None:
    """Generate from this checkout, uncommitted changes included (Copier renders a
    local template's working tree at HEAD)."""
    if reason := destination_refusal(destination):
        raise RefusedError(f"destination {destination}: {reason}")
    try:
        copier.run_copy(
            str(ROOT),
            destination,
            data=answers,
            defaults=True,
            vcs_ref="HEAD",
            unsafe=False,
        )
    except ValueError as error:
        refusal = copier_refusal(error, QUESTIONS)
        if refusal is None:
            raise RefusedError(one_line(str(error))) from error
        question, reason = refusal
        if question not in answers:
            reason = f"(derived from other answers) {reason}"
        raise RefusedError(f"{question}: {reason}") from error
    except CopierError as error:
        raise RefusedError(one_line(str(error))) from error


def git(repository: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *arguments], cwd=repository, capture_output=True, text=True, check=False
    )


def has_identity(repository: Path) -> bool:
    """Whether git finds a configured author and committer (config or environment),
    without guessing one from the user and host names."""
    return all(
        git(repository, "-c", "user.useConfigOnly=true", "var", ident).returncode == 0
        for ident in ("GIT_AUTHOR_IDENT", "GIT_COMMITTER_IDENT")
    )


def commit_generated_tree(destination: Path) -> None:
    """Make the destination a git repository, the generated tree its first commit."""

    def step(*arguments: str) -> None:
        done = git(destination, *arguments)
        if done.returncode != 0:
            command = next(word for word in arguments if not word.startswith("-"))
            raise RefusedError(
                f"generated {destination}, but `git {command}` failed there: "
                f"{one_line(done.stderr) or done.returncode}"
            )

    answers = recorded_answers(destination)
    message = (
        f"Generate {answers['project_name']} from the twelve-factor template\n\n"
        f"Template {answers['_src_path']} at {answers['_commit']}; "
        "`copier update` brings in its later releases."
    )
    step("init", "--quiet", f"--initial-branch={BRANCH}")
    step("add", "--all")
    identity = () if has_identity(destination) else NEUTRAL_IDENTITY
    step(*identity, "commit", "--quiet", "--no-verify", "--message", message)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    warn_in_one_line()
    destination: Path = arguments.destination
    try:
        if not arguments.no_git and shutil.which("git") is None:
            raise RefusedError("git is not installed: install it, or pass --no-git")
        generate(destination, typed(dict(arguments.data)))
        if git(ROOT, "status", "--porcelain").stdout.strip():
            print(
                "warning: this checkout has uncommitted changes, so the service records"
                " a template commit that `copier update` cannot find: commit them and"
                " generate again for a service that updates",
                file=sys.stderr,
            )
        if not arguments.no_git:
            commit_generated_tree(destination)
    except RefusedError as refused:
        print(f"error: {refused}", file=sys.stderr)
        return 1
    print(f"generated {destination}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
