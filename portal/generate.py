"""Generate a service from the template with nobody at a prompt: a portal's entry point.

    uv run python portal/generate.py --answers answers.yaml --version v1.2.0 \\
        --template <template-repo-url> order-service

The answers file (YAML or JSON) maps question names to answers. Everything is checked
before anything is written, against the questions of the template at that version:

- unknown keys are refused (Copier silently ignores them, so a typo would go unseen);
- answers must have their question's type (Copier would turn `redis_sessions: "no"`
  into true, and `python_version: 3.10` into "3.1");
- every choice and every validator is applied by Copier itself, rendering the
  questionnaire with `pretend=True`, which writes nothing.

Each problem is printed on its own line (`error: <question>: <reason>`) on stderr.
Exit codes: 0 generated; 1 answers or destination refused; 2 bad command line;
3 the template could not be read or rendered.
"""

import argparse
import json
import re
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import copier
import yaml

# Copier has no public call that only reads a template's questions; its Worker is what
# run_copy itself uses, and it removes the temporary clone on exit.
from copier._main import Worker
from copier.errors import CopierError

EXIT_REFUSED = 1
EXIT_TEMPLATE = 3

# How Copier names the question in its ValueErrors.
COPIER_QUESTION_ERRORS = (
    re.compile(
        r"^Validation error for question '(?P<question>[^']+)': (?P<reason>.*)$"
    ),
    re.compile(r"^Invalid choice for '(?P<question>[^']+)': (?P<reason>.*)$"),
    re.compile(r'^Question "(?P<question>[^"]+)" is (?P<reason>required)$'),
)

Answers = dict[str, Any]


@dataclass(frozen=True)
class Problem:
    """One reason to refuse the request, tied to the question (or input) it concerns."""

    subject: str
    reason: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.reason}"


class RefusedError(Exception):
    def __init__(self, problems: Sequence[Problem], exit_code: int) -> None:
        super().__init__("; ".join(map(str, problems)))
        self.problems = list(problems)
        self.exit_code = exit_code


def refuse(subject: str, reason: str, exit_code: int = EXIT_REFUSED) -> RefusedError:
    return RefusedError([Problem(subject, reason)], exit_code)


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that refuses duplicate keys instead of keeping the last one."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _unique_json_object(pairs: list[tuple[str, Any]]) -> Answers:
    keys = [key for key, _ in pairs]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise ValueError(f"duplicate key {duplicates[0]!r}")
    return dict(pairs)


def load_answers(path: Path) -> Answers:
    """Read the answers file: a mapping from question names to answers."""
    subject = f"answers file {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise refuse(subject, f"cannot be read ({error})") from error
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text, object_pairs_hook=_unique_json_object)
        else:
            data = yaml.load(text, Loader=_UniqueKeyLoader)
    except (ValueError, yaml.YAMLError) as error:
        reason = " ".join(str(error).split())
        raise refuse(subject, f"is not valid YAML or JSON: {reason}") from error
    if data is None:
        raise refuse(subject, "is empty: expected a mapping of questions to answers")
    if not isinstance(data, dict):
        raise refuse(
            subject,
            f"must be a mapping of questions to answers, not a {type(data).__name__}",
        )
    bad_keys = [key for key in data if not isinstance(key, str)]
    if bad_keys:
        raise refuse(subject, f"question names must be strings, not {bad_keys[0]!r}")
    return data


def load_questions(template: str, version: str) -> dict[str, dict[str, Any]]:
    """The questionnaire of the template at `version`, as Copier reads it."""
    with Worker(src_path=template, vcs_ref=version, quiet=True) as worker:
        questions: dict[str, dict[str, Any]] = dict(worker.template.questions_data)
    return questions


def _has_type(value: Any, copier_type: str) -> bool:
    """Whether an answer already has its question's type, with no casting."""
    # bool is an int in Python: numeric questions exclude it explicitly.
    if copier_type == "str":
        return isinstance(value, str)
    if copier_type == "bool":
        return isinstance(value, bool)
    if copier_type == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if copier_type == "float":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return True  # yaml and json questions take any value


TYPE_NAMES = {"str": "a string", "bool": "true or false", "int": "an integer"}


def type_problem(value: Any, question: dict[str, Any]) -> str | None:
    """Why an answer does not fit its question's type, or None when it does."""
    copier_type = str(question.get("type", "yaml"))
    if question.get("multiselect"):
        if not isinstance(value, list):
            return "must be a list"
        items = value
    else:
        items = [value]
    if not all(_has_type(item, copier_type) for item in items):
        wanted = TYPE_NAMES.get(copier_type, f"a number ({copier_type})")
        hint = " (quote version numbers)" if isinstance(value, float) else ""
        return f"must be {wanted}, not {json.dumps(value, default=str)}{hint}"
    # Copier's validators use Python's `$`, which also matches before a final newline:
    # "order-service\n" would pass them, and name files with a line break.
    multiline = bool(question.get("multiline"))
    if (
        copier_type == "str"
        and not multiline
        and any("\n" in item or "\r" in item for item in items)
    ):
        return "must be a single line"
    return None


def check_keys_and_types(
    answers: Answers, questions: dict[str, dict[str, Any]]
) -> list[Problem]:
    problems = []
    answerable = {
        name for name, details in questions.items() if details.get("when") is not False
    }
    for key, value in answers.items():
        if key not in answerable:
            known = ", ".join(sorted(answerable))
            problems.append(Problem(key, f"unknown question (known: {known})"))
        elif reason := type_problem(value, questions[key]):
            problems.append(Problem(key, reason))
    return problems


def copier_problem(error: ValueError) -> Problem | None:
    """The question and reason in one of Copier's validation errors, if it is one."""
    message = " ".join(str(error).split())
    for pattern in COPIER_QUESTION_ERRORS:
        if match := pattern.match(message):
            return Problem(match["question"], match["reason"])
    return None


def check_with_copier(
    template: str, version: str, destination: Path, answers: Answers
) -> list[Problem]:
    """Let Copier render the questionnaire (writing nothing) and collect every refusal.

    Copier stops at the first invalid answer; dropping that answer and asking again
    finds the next one, so the portal hears about all of them at once.
    """
    remaining = dict(answers)
    problems: list[Problem] = []
    while True:
        try:
            copier.run_copy(
                template,
                destination,
                data=remaining,
                defaults=True,
                vcs_ref=version,
                unsafe=False,
                pretend=True,
                quiet=True,
            )
        except ValueError as error:
            problem = copier_problem(error)
            if problem is None:
                raise
            if problem.subject not in remaining:
                # A default computed from other answers failed its own validator.
                problem = Problem(
                    problem.subject, f"(derived from other answers) {problem.reason}"
                )
                return [*problems, problem]
            problems.append(problem)
            del remaining[problem.subject]
        else:
            return problems


def check_destination(destination: Path) -> None:
    if destination.exists() and (
        not destination.is_dir() or any(destination.iterdir())
    ):
        raise refuse(
            f"destination {destination}", "already exists and is not an empty folder"
        )


def generate(
    template: str, version: str, answers_path: Path, destination: Path
) -> None:
    """Validate everything, then generate; raises RefusedError with every problem."""
    answers = load_answers(answers_path)
    check_destination(destination)
    try:
        questions = load_questions(template, version)
        problems = check_keys_and_types(answers, questions)
        # Copier checks the rest, so that one run reports every problem.
        refused = {problem.subject for problem in problems}
        rest = {key: value for key, value in answers.items() if key not in refused}
        problems += check_with_copier(template, version, destination, rest)
        if problems:
            raise RefusedError(problems, EXIT_REFUSED)
        copier.run_copy(
            template,
            destination,
            data=answers,
            defaults=True,
            vcs_ref=version,
            unsafe=False,
            quiet=True,
        )
    except (CopierError, ValueError, OSError) as error:
        # Unknown version, unreachable or unsafe template, or a failed render: Copier
        # removes a destination it created, so nothing is left behind.
        reason = " ".join(str(error).split()) or type(error).__name__
        raise refuse(f"template {template}@{version}", reason, EXIT_TEMPLATE) from error


def release_ref(value: str) -> str:
    if not value.strip():
        # Copier would fall back to the latest tag: a portal must say which version.
        raise argparse.ArgumentTypeError("must name a git ref, e.g. v1.2.0")
    return value


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Generate a service from the template with answers from a file.",
    )
    parser.add_argument(
        "--answers",
        type=Path,
        required=True,
        help="YAML or JSON file mapping question names to answers",
    )
    parser.add_argument(
        "--version",
        required=True,
        type=release_ref,
        help="template git ref to generate from: a release tag such as v1.2.0",
    )
    parser.add_argument(
        "--template", required=True, help="template repository URL or local path"
    )
    parser.add_argument("destination", type=Path, help="folder to generate into")
    return parser.parse_args(argv)


def _one_line_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    line: str | None = None,
) -> str:
    return f"warning: {message}\n"


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    warnings.formatwarning = _one_line_warning
    try:
        generate(
            arguments.template,
            arguments.version,
            arguments.answers,
            arguments.destination,
        )
    except RefusedError as refused:
        for problem in refused.problems:
            print(f"error: {problem}", file=sys.stderr)
        return refused.exit_code
    print(
        f"generated {arguments.destination} from {arguments.template} "
        f"at {arguments.version}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
