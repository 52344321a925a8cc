"""Print the template's questions as a JSON Schema (draft 2020-12) on stdout.

    uv run python portal/schema.py > portal/questions.schema.json

A portal checks its form against the schema, and portal/generate.py checks every
answers file against it. It is generated, never edited: tests/test_portal.py
regenerates it and fails when copier.yml or rules.yml has changed without it.

Types, choices and static defaults come from copier.yml; every other rule comes from
the rulebook (rules.yml), the same data copier.yml's validators apply. Each rule becomes
one subschema of the question's `allOf`, whose `description` is the rule's message:

    pattern, min_length, max_length  ->  pattern, minLength, maxLength
    forbidden: [SUB]                 ->  a lookahead in the pattern refusing SUB
    reserved: {list: {reason, names}} ->  one `not: {enum: names}` per list

A rule with any other key stops the script, so that no new kind of rule can be left
out of the schema unnoticed.
"""

import json
import re
import sys
from typing import Any

from hooks.questions import QUESTIONS, RULES

JSON_TYPES = {"str": "string", "bool": "boolean", "int": "integer", "float": "number"}
REQUIRED_RULE_KEYS = {"pattern", "min_length", "max_length", "message"}
RULE_KEYS = REQUIRED_RULE_KEYS | {"forbidden", "reserved"}
# Characters that need a backslash in an ECMA-262 pattern with the `u` flag (as used by
# Backstage's form validation): escaping anything else is a syntax error there.
ECMA_SYNTAX_CHARACTERS = frozenset("^$\\.*+?()[]{}|/")
DESTINATION = "_copier_conf.dst_path"

Schema = dict[str, Any]


class UntranslatableRuleError(Exception):
    """A rule has a key this script cannot express as JSON Schema."""


def ecma_escape(text: str) -> str:
    return "".join(f"\\{c}" if c in ECMA_SYNTAX_CHARACTERS else c for c in text)


def ecma_pattern(python_pattern: str) -> str:
    """Python-only anchors to ECMA-262 ones: `\\A` becomes `^`, `\\Z` becomes `$`."""
    return re.sub(
        r"(?<!\\)((?:\\\\)*)\\([AZ])",
        lambda m: m.group(1) + ("^" if m.group(2) == "A" else "$"),
        python_pattern,
    )


def with_forbidden(pattern: str, forbidden: list[str]) -> str:
    """The pattern, refusing each forbidden substring anywhere (a lookahead each)."""
    lookaheads = "".join(f"(?![\\s\\S]*{ecma_escape(s)})" for s in forbidden)
    if pattern.startswith("^"):
        return f"^{lookaheads}{pattern[1:]}"
    return f"^{lookaheads}[\\s\\S]*?(?:{pattern})"


def rule_schemas(name: str, rule: dict[str, Any]) -> list[Schema]:
    """The `allOf` subschemas of one question's rule, each described by its message."""
    unknown = set(rule) - RULE_KEYS
    if unknown:
        raise UntranslatableRuleError(f"{name}: cannot express {sorted(unknown)}")
    missing = REQUIRED_RULE_KEYS - set(rule)
    if missing:
        raise UntranslatableRuleError(f"{name}: the rule has no {sorted(missing)}")
    shape: Schema = {"description": rule["message"], "minLength": rule["min_length"]}
    # A null max_length: the rule sets no limit.
    if rule["max_length"] is not None:
        shape["maxLength"] = rule["max_length"]
    pattern = ecma_pattern(rule["pattern"])
    if rule.get("forbidden"):
        pattern = with_forbidden(pattern, rule["forbidden"])
    shape["pattern"] = pattern
    reserved = [
        {"description": f"is reserved: {listed['reason']}", "not": {"enum": names}}
        for listed in rule.get("reserved", {}).values()
        if (names := listed["names"])
    ]
    return [shape, *reserved]


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


def derived_from(default: str, earlier: list[str]) -> list[str]:
    """What a templated default is computed from: earlier answers, named as words in
    it, or the destination folder."""
    sources = [name for name in earlier if re.search(rf"\b{name}\b", default)]
    if DESTINATION in default:
        sources.append("the destination folder's name")
    return sources


def question_schema(name: str, question: dict[str, Any], earlier: list[str]) -> Schema:
    copier_type = question.get("type", "str")
    if copier_type not in JSON_TYPES:
        raise UntranslatableRuleError(f"{name}: type {copier_type!r}")
    description = " ".join(str(question.get("help", "")).split())
    schema: Schema = {"type": JSON_TYPES[copier_type]}

    if "choices" in question:
        pairs = choice_values(question["choices"])
        schema["enum"] = [value for _, value in pairs]
        labelled = [f"{value}: {label}" for label, value in pairs if label != value]
        if labelled:
            description += " Choices: " + "; ".join(labelled) + "."
    if name in RULES:
        schema["allOf"] = rule_schemas(name, RULES[name])

    default = question.get("default")
    if isinstance(default, str) and ("{{" in default or "{%" in default):
        sources = " and ".join(derived_from(default, earlier))
        description += f" Default: derived from {sources}."
    elif "default" in question:
        schema["default"] = default
    return {"description": description, **schema}


def build_schema() -> Schema:
    names = list(QUESTIONS)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Twelve-factor service template: answers",
        "description": (
            "Answers accepted by the Copier template, generated from copier.yml and "
            "rules.yml by portal/schema.py. Every question has a default, so none is "
            "required."
        ),
        "type": "object",
        "additionalProperties": False,
        "properties": {
            name: question_schema(name, question, names[:index])
            for index, (name, question) in enumerate(QUESTIONS.items())
        },
    }


def main() -> int:
    sys.stdout.write(json.dumps(build_schema(), indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
