"""The questionnaire as Copier reads it: copier.yml and the rulebook it includes.

Everything in this repository that reads the questions (the tests, portal/schema.py,
the hooks) loads them here, so that the `!include` tag and the merging of YAML
documents are handled in one place, the way Copier 9.19 does it: the keys of every
document in order, an included file's documents in the place of the tag, and a later
document's value winning over an earlier one's.
"""

import glob
from collections import ChainMap
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
COPIER_YML = ROOT / "copier.yml"
RULEBOOK = ROOT / "rules.yml"
# Settings whose lists Copier concatenates across documents instead of replacing.
MERGED_SETTINGS = (
    "_exclude",
    "_jinja_extensions",
    "_secret_questions",
    "_skip_if_exists",
)

Config = dict[str, Any]


def load_copier_yml(path: Path = COPIER_YML) -> Config:
    """copier.yml, its includes resolved, as one mapping of settings and questions."""

    class Loader(yaml.SafeLoader):
        """A loader of its own, so that the `!include` tag is known to this one only."""

    def include(loader: yaml.SafeLoader, node: yaml.Node) -> list[Any]:
        assert isinstance(node, yaml.ScalarNode), f"!include takes a path: {node}"
        pattern = str(loader.construct_scalar(node))
        documents: list[Any] = []
        for included in sorted(glob.glob(pattern, root_dir=path.parent)):
            text = (path.parent / included).read_text(encoding="utf-8")
            documents += [doc for doc in yaml.load_all(text, Loader=Loader) if doc]
        return documents

    Loader.add_constructor("!include", include)
    documents: list[Config] = []
    for document in yaml.load_all(path.read_text(encoding="utf-8"), Loader=Loader):
        if isinstance(document, list):  # a document that is an `!include`
            documents.extend(document)
        elif document:
            documents.append(document)
    merged = dict(ChainMap(*reversed(documents)))
    for setting in MERGED_SETTINGS:
        values = [value for doc in documents for value in doc.get(setting, [])]
        if values:
            merged[setting] = values
    return merged


CONFIG = load_copier_yml()
# The questions a person (or a portal) answers, in order: not Copier's settings (`_`),
# and not the computed values (`when: false`), such as the rulebook itself.
QUESTIONS: dict[str, dict[str, Any]] = {
    name: details
    for name, details in CONFIG.items()
    if not name.startswith("_") and details.get("when", True) is not False
}
# The rules every answer must follow (rules.yml): what copier.yml's validators and
# derived defaults apply, and what the portal's JSON Schema is built from.
RULES: dict[str, Any] = CONFIG["rules"]["default"]


def choices(question: str) -> list[Any]:
    """The values a question accepts, in copier.yml's order."""
    raw = QUESTIONS[question]["choices"]
    return list(raw.values()) if isinstance(raw, dict) else list(raw)


def reserved_names(rules: dict[str, Any] = RULES) -> dict[str, list[str]]:
    """The package names refused, by the name of the list that refuses them."""
    return {
        name: list(listed["names"])
        for name, listed in rules["package_name"]["reserved"].items()
    }


# How Copier 9.19 words a refused answer. It raises a plain ValueError, with no
# attribute naming the question, so this is the one place that reads its wording;
# tests/test_questions.py fails loudly when Copier words it otherwise.
COPIER_REFUSALS = (
    "Validation error for question '{}': ",
    "Invalid choice for '{}': ",
)


def copier_refusal(
    error: ValueError, questions: Iterable[str]
) -> tuple[str, str] | None:
    """The question Copier refused an answer to and why, in one line; None when the
    error is not Copier refusing an answer to one of `questions`."""
    message = " ".join(str(error).split())
    for question in questions:
        for wording in COPIER_REFUSALS:
            prefix = wording.format(question)
            if message.startswith(prefix):
                return question, message.removeprefix(prefix)
    return None
