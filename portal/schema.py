"""Print the questions of copier.yml as a JSON Schema (draft 2020-12) on stdout.

    uv run python portal/schema.py > portal/questions.schema.json

A portal checks its form against the schema; portal/generate.py then applies Copier's
own validators again. The schema is generated, never edited: tests/test_portal.py
regenerates it and fails when copier.yml has changed without it.

Each validator is read from its Jinja syntax tree. The shapes this template uses become
schema keywords; any other shape stops the script, so that no new kind of rule can be
left out of the schema unnoticed:

    {% if not (x | regex_search('RE')) %}   ->  pattern (and minLength, maxLength)
    {% if ... or 'SUB' in x %}              ->  a lookahead in the pattern refusing SUB
    {% elif x in ['a', 'b'] %}              ->  not: {enum: [a, b]}
"""

import importlib
import json
import re
import sys
from pathlib import Path
from typing import Any, TypeGuard

import jinja2
import yaml
from jinja2 import nodes

COPIER_YML = Path(__file__).resolve().parents[1] / "copier.yml"
JSON_TYPES = {"str": "string", "bool": "boolean", "int": "integer", "float": "number"}
# Characters that need a backslash in an ECMA-262 pattern with the `u` flag (as used by
# Backstage's form validation): escaping anything else is a syntax error there.
ECMA_SYNTAX_CHARACTERS = frozenset("^$\\.*+?()[]{}|/")

# The standard library's own regex parser knows a pattern's shortest and longest match.
# It is private (re._parser), hence reached by name.
REGEX_PARSER = importlib.import_module("re._parser")

Schema = dict[str, Any]


class UntranslatableValidatorError(Exception):
    """A validator uses a shape this script cannot express as JSON Schema."""


def ecma_escape(text: str) -> str:
    return "".join(f"\\{c}" if c in ECMA_SYNTAX_CHARACTERS else c for c in text)


def ecma_pattern(python_pattern: str) -> str:
    """Python-only anchors to ECMA-262 ones: `\\A` becomes `^`, `\\Z` becomes `$`."""
    return re.sub(
        r"(?<!\\)((?:\\\\)*)\\([AZ])",
        lambda m: m.group(1) + ("^" if m.group(2) == "A" else "$"),
        python_pattern,
    )


def is_question(node: nodes.Node | None, question: str) -> bool:
    return isinstance(node, nodes.Name) and node.name == question


def failure_rules(test: nodes.Node, question: str) -> Schema:
    """Schema keywords for values that do not meet `test`, a failure condition."""
    if isinstance(test, nodes.Or):
        left = failure_rules(test.left, question)
        right = failure_rules(test.right, question)
        if left.get("pattern") and right.get("pattern"):
            raise UntranslatableValidatorError(f"{question}: two regexes")
        return {
            "pattern": left.get("pattern") or right.get("pattern"),
            "forbidden": left.get("forbidden", []) + right.get("forbidden", []),
            "reserved": left.get("reserved", []) + right.get("reserved", []),
        }
    if (
        isinstance(test, nodes.Not)
        and isinstance(test.node, nodes.Filter)
        and test.node.name == "regex_search"
        and is_question(test.node.node, question)
        and len(test.node.args) == 1
        and isinstance(test.node.args[0], nodes.Const)
    ):
        return {"pattern": test.node.args[0].value}
    if isinstance(test, nodes.Compare) and len(test.ops) == 1:
        operand = test.ops[0]
        if (
            operand.op == "in"
            and is_question(operand.expr, question)
            and isinstance(test.expr, nodes.Const)
        ):
            return {"forbidden": [test.expr.value]}
        if (
            operand.op == "in"
            and is_question(test.expr, question)
            and isinstance(operand.expr, nodes.List)
        ):
            items = operand.expr.items
            values = [item.value for item in items if isinstance(item, nodes.Const)]
            if len(values) == len(items):
                return {"reserved": values}
    raise UntranslatableValidatorError(
        f"{question}: cannot express this validator condition as JSON Schema: {test}"
    )


def validator_schema(validator: str, question: str) -> Schema:
    """Translate a Jinja validator into pattern, lengths and reserved values."""
    template = jinja2.Environment().parse(validator)
    conditions: list[nodes.Node] = []
    for statement in template.body:
        if isinstance(statement, nodes.If):
            branches = [statement, *statement.elif_]
            # Each branch must only print its message: a nested condition would make
            # the rule narrower than its test alone.
            if statement.else_ or not all(
                isinstance(part, nodes.Output) for b in branches for part in b.body
            ):
                raise UntranslatableValidatorError(
                    f"{question}: only if/elif branches that print a message"
                )
            conditions += [branch.test for branch in branches]
        elif not (
            isinstance(statement, nodes.Output)
            and all(
                isinstance(part, nodes.TemplateData) and not part.data.strip()
                for part in statement.nodes
            )
        ):
            raise UntranslatableValidatorError(
                f"{question}: validator output outside an if/elif"
            )

    pattern: str | None = None
    forbidden: list[str] = []
    reserved: list[str] = []
    for condition in conditions:
        rules = failure_rules(condition, question)
        if rules.get("pattern"):
            if pattern is not None:
                raise UntranslatableValidatorError(f"{question}: two regexes")
            pattern = rules["pattern"]
        forbidden += rules.get("forbidden", [])
        reserved += rules.get("reserved", [])

    schema: Schema = {}
    if pattern is not None:
        minimum, maximum = REGEX_PARSER.parse(pattern).getwidth()
        if minimum > 0:
            schema["minLength"] = minimum
        if maximum < REGEX_PARSER.MAXREPEAT:
            schema["maxLength"] = maximum
    if forbidden:
        lookaheads = "".join(f"(?![\\s\\S]*{ecma_escape(s)})" for s in forbidden)
        if pattern is None:
            pattern = f"^{lookaheads}"
        elif pattern.startswith("^"):
            pattern = f"^{lookaheads}{pattern[1:]}"
        else:
            pattern = f"^{lookaheads}[\\s\\S]*?(?:{pattern})"
    if pattern is not None:
        schema["pattern"] = ecma_pattern(pattern)
    if reserved:
        schema["not"] = {"enum": reserved}
    return schema


def choice_values(choices: Any) -> list[tuple[str, Any]]:
    """(label, value) pairs of a Copier `choices` list or label-to-value mapping."""
    if isinstance(choices, dict):
        return [
            (str(label), value["value"] if isinstance(value, dict) else value)
            for label, value in choices.items()
        ]
    return [
        (str(item[0]), item[1]) if isinstance(item, list) else (str(item), item)
        for item in choices
    ]


def is_jinja(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def derived_from(expression: str) -> list[str]:
    """The answers (or the destination) a templated default is computed from."""
    tree = jinja2.Environment().parse(expression)
    return sorted(
        {
            "the destination folder's name"
            if name.name == "_copier_conf"
            else name.name
            for name in tree.find_all(nodes.Name)
        }
    )


def question_schema(name: str, question: dict[str, Any]) -> Schema:
    copier_type = question.get("type", "str")
    if copier_type not in JSON_TYPES:
        raise UntranslatableValidatorError(f"{name}: type {copier_type!r}")
    description = " ".join(str(question.get("help", "")).split())
    schema: Schema = {"type": JSON_TYPES[copier_type]}

    if "choices" in question:
        pairs = choice_values(question["choices"])
        schema["enum"] = [value for _, value in pairs]
        labelled = [f"{value}: {label}" for label, value in pairs if label != value]
        if labelled:
            description += " Choices: " + "; ".join(labelled) + "."
    if "validator" in question:
        schema |= validator_schema(question["validator"], name)

    default = question.get("default")
    if is_jinja(default):
        sources = " and ".join(derived_from(default))
        description += f" Default: derived from {sources}."
    elif "default" in question:
        schema["default"] = default
    return {"description": description, **schema}


def build_schema(copier_yml: dict[str, Any]) -> Schema:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Twelve-factor service template: answers",
        "description": (
            "Answers accepted by the Copier template, generated from copier.yml by "
            "portal/schema.py. Every question has a default, so none is required."
        ),
        "type": "object",
        "additionalProperties": False,
        "properties": {
            name: question_schema(name, question)
            for name, question in copier_yml.items()
            # `when: false` marks a computed value, not a question anyone answers.
            if not name.startswith("_") and question.get("when", True) is not False
        },
    }


def main() -> int:
    schema = build_schema(yaml.safe_load(COPIER_YML.read_text()))
    sys.stdout.write(json.dumps(schema, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
