"""Generate a service from the template with nobody at a prompt: a portal's entry point.

    uv run python portal/generate.py --answers answers.yaml --version v1.2.0 \\
        --template <template-repo-url> order-service

The answers file (YAML or JSON) maps question names to answers. Everything is checked
before anything is written, against the questions of the template at that version:

- the answers are validated with `jsonschema` against that version's
  `portal/questions.schema.json` (read with git from the template repository): unknown
  keys (Copier silently ignores them, so a typo would go unseen), wrong types (Copier
  would turn `redis_sessions: "no"` into true, and `python_version: 3.10` into "3.1"),
  choices, patterns, lengths and reserved names; answers are single lines;
- Copier then renders the questionnaire with `pretend=True`, which writes nothing, and
  applies its own validators to the answers and to the defaults derived from them.

Only Copier's public API is used (`copier.run_copy`). Each problem is printed on its own
line (`error: <question>: <reason>`) on stderr. Exit codes: 0 generated; 1 answers or
destination refused; 2 bad command line; 3 the template could not be read or rendered
(unknown version, unreachable, unsafe, or a version without a questions schema).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import copier
import jsonschema
import yaml
from copier.errors import CopierError

from hooks.cli import destination_refusal, one_line, warn_in_one_line
from hooks.questions import copier_refusal

EXIT_REFUSED = 1
EXIT_TEMPLATE = 3
SCHEMA_FILE = "portal/questions.schema.json"
JSON_TYPE_NAMES = {
    "string": "a string",
    "boolean": "true or false",
    "integer": "an integer",
    "number": "a number",
}

Answers = dict[str, Any]
Schema = dict[str, Any]


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


# --- the answers file -------------------------------------------------------------


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
        raise refuse(
            subject, f"is not valid YAML or JSON: {one_line(str(error))}"
        ) from error
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


def check_destination(destination: Path) -> None:
    if reason := destination_refusal(destination):
        raise refuse(f"destination {destination}", reason)


# --- the template's questions schema, at the requested version --------------------


def git(*arguments: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    # Never a credentials prompt: a portal has nobody to answer it.
    env = os.environ | {"GIT_TERMINAL_PROMPT": "0"}
    return subprocess.run(
        ["git", *arguments],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def read_schema(template: str, version: str) -> Schema:
    """The questions schema of the template at `version`, read with git.

    A local repository is read in place: `git show <version>:<schema>`, except at
    HEAD, whose working tree is read, because that is what Copier renders for a local
    template at HEAD (uncommitted changes included). A URL is cloned shallowly at that
    tag or branch (`git clone --depth 1 --branch`), the way a portal pins a release.
    """
    subject = f"template {template}@{version}"
    if Path(template).is_dir():
        return parse_schema(local_schema(Path(template), version, subject), subject)
    with tempfile.TemporaryDirectory(prefix="portal-schema-") as scratch:
        # Copier's `git+` prefix marks a URL git reads without it (git+file://...).
        url = template.removeprefix("git+")
        branch = [] if version == "HEAD" else ["--branch", version]
        cloned = git("clone", "--quiet", "--depth", "1", *branch, "--", url, scratch)
        if cloned.returncode != 0:
            said = cloned.stderr.strip().splitlines() or ["git clone failed"]
            raise refuse(subject, f"cannot be read: {said[-1]}", EXIT_TEMPLATE)
        path = Path(scratch) / SCHEMA_FILE
        return parse_schema(path.read_text() if path.is_file() else None, subject)


def local_schema(repository: Path, version: str, subject: str) -> str | None:
    """The schema's text at `version` of a local repository; None if it has none."""
    if git("rev-parse", "--git-dir", cwd=repository).returncode != 0:
        raise refuse(subject, "is not a git repository", EXIT_TEMPLATE)
    commit = f"{version}^{{commit}}"
    if git("rev-parse", "--verify", "--quiet", commit, cwd=repository).returncode:
        raise refuse(subject, f"has no version {version!r}", EXIT_TEMPLATE)
    if version == "HEAD":
        path = repository / SCHEMA_FILE
        return path.read_text() if path.is_file() else None
    shown = git("show", f"{version}:{SCHEMA_FILE}", cwd=repository)
    return shown.stdout if shown.returncode == 0 else None


def parse_schema(text: str | None, subject: str) -> Schema:
    if text is None:
        raise refuse(
            subject,
            f"has no {SCHEMA_FILE}, so its answers cannot be checked: generate from "
            "a release that has one (v0.3.0 or later)",
            EXIT_TEMPLATE,
        )
    try:
        schema: Schema = json.loads(text)
        jsonschema.Draft202012Validator.check_schema(schema)
    except (ValueError, jsonschema.SchemaError) as error:
        reason = f"has an invalid {SCHEMA_FILE}: {one_line(str(error))[:200]}"
        raise refuse(subject, reason, EXIT_TEMPLATE) from error
    return schema


# --- checking the answers ------------------------------------------------------------


def shown(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


def reason_for(error: jsonschema.ValidationError) -> str:
    """One line saying why an answer breaks the schema."""
    value = error.instance
    if error.validator == "type":
        wanted = JSON_TYPE_NAMES.get(
            str(error.validator_value), str(error.validator_value)
        )
        hint = " (quote version numbers)" if isinstance(value, float) else ""
        return f"must be {wanted}, not {shown(value)}{hint}"
    if error.validator == "enum" and isinstance(error.validator_value, list):
        allowed = ", ".join(map(shown, error.validator_value))
        return f"must be one of {allowed}, not {shown(value)}"
    # The schema states each rule in an `allOf` subschema described by its message.
    rule = error.schema if isinstance(error.schema, dict) else {}
    if "allOf" in error.relative_schema_path and "description" in rule:
        return f"{shown(value)} {rule['description']}"
    return one_line(error.message)


def schema_problems(answers: Answers, schema: Schema) -> list[Problem]:
    """Every way the answers break the schema, one problem per question and reason."""
    properties: dict[str, Any] = schema.get("properties", {})
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(answers))
    # An answer of the wrong type breaks every other rule too: say only that.
    mistyped = {error.path[0] for error in errors if error.validator == "type"}
    problems: list[Problem] = []
    for error in errors:
        if not error.path and error.validator == "additionalProperties":
            known = ", ".join(properties)
            problems += [
                Problem(key, f"unknown question (known: {known})")
                for key in answers
                if key not in properties
            ]
        elif not error.path:
            problems.append(Problem("answers", reason_for(error)))
        elif error.validator == "type" or error.path[0] not in mistyped:
            problems.append(Problem(str(error.path[0]), reason_for(error)))
    # JSON Schema patterns cannot refuse a final line break in both regex dialects
    # (Python's `$` matches before it), and no question takes more than one line.
    refused = {problem.subject for problem in problems}
    problems += [
        Problem(key, "must be a single line")
        for key, value in answers.items()
        if key in properties
        and key not in refused
        and isinstance(value, str)
        and ("\n" in value or "\r" in value)
    ]
    # In the answers file's order, each reason once.
    order = {key: index for index, key in enumerate(answers)}
    unique = dict.fromkeys(problems)
    return sorted(unique, key=lambda problem: order.get(problem.subject, len(order)))


def render(
    template: str, version: str, destination: Path, answers: Answers, *, pretend: bool
) -> None:
    """Copier, non-interactive: the answers given and defaults for the rest. A
    template that would run tasks or migrations is refused (`unsafe=False`).
    `pretend` writes nothing."""
    copier.run_copy(
        template,
        destination,
        data=answers,
        defaults=True,
        vcs_ref=version,
        unsafe=False,
        pretend=pretend,
        quiet=True,
    )


def copier_problems(
    template: str,
    version: str,
    destination: Path,
    answers: Answers,
    questions: Iterable[str],
) -> list[Problem]:
    """Let Copier render the questionnaire, writing nothing, and report its refusal.

    The schema has already refused every answer it can; what Copier may still refuse is
    a default derived from other answers (the current template derives only valid
    ones; older releases did not, e.g. a project named "Json" derived the reserved
    package name "json").
    """
    try:
        render(template, version, destination, answers, pretend=True)
    except ValueError as error:
        refusal = copier_refusal(error, questions)
        if refusal is None:
            raise
        question, reason = refusal
        if question not in answers:
            reason = f"(derived from other answers) {reason}"
        return [Problem(question, reason)]
    return []


def generate(
    template: str, version: str, answers_path: Path, destination: Path
) -> None:
    """Validate everything, then generate; raises RefusedError with every problem."""
    answers = load_answers(answers_path)
    check_destination(destination)
    schema = read_schema(template, version)
    problems = schema_problems(answers, schema)
    if problems:
        raise RefusedError(problems, EXIT_REFUSED)
    try:
        problems = copier_problems(
            template, version, destination, answers, schema.get("properties", {})
        )
        if problems:
            raise RefusedError(problems, EXIT_REFUSED)
        render(template, version, destination, answers, pretend=False)
    except (CopierError, ValueError, OSError) as error:
        # Unreachable or unsafe template, or a failed render: Copier removes a
        # destination it created, so nothing is left behind.
        reason = one_line(str(error)) or type(error).__name__
        raise refuse(f"template {template}@{version}", reason, EXIT_TEMPLATE) from error


# --- the command line ----------------------------------------------------------------


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


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    warn_in_one_line()
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
