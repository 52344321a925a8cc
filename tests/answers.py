"""The tables of answers the tests hold every way of generating to, in one place."""

from typing import Any

import pytest

# Each row: the answers given, then the question the error must name.
REJECTED: list[tuple[dict[str, Any], str]] = [
    ({"project_name": ""}, "project_name"),
    ({"project_name": "9 Lives"}, "project_name"),
    ({"project_name": 'Order "Service"'}, "project_name"),
    ({"project_name": "x" * 64}, "project_name"),
    ({"service_slug": "o"}, "service_slug"),
    ({"service_slug": "Order-Service"}, "service_slug"),
    ({"service_slug": "order--service"}, "service_slug"),
    ({"service_slug": "order-service-"}, "service_slug"),
    ({"service_slug": "2-order-service"}, "service_slug"),
    ({"service_slug": "order_service"}, "service_slug"),
    ({"service_slug": "o" * 64}, "service_slug"),
    ({"package_name": "order-service"}, "package_name"),
    ({"package_name": "OrderService"}, "package_name"),
    ({"package_name": "_order"}, "package_name"),
    ({"package_name": "o" * 33}, "package_name"),
    ({"package_name": "class"}, "package_name"),
    ({"package_name": "json"}, "package_name"),
    ({"package_name": "logging"}, "package_name"),
    ({"package_name": "test"}, "package_name"),
    ({"package_name": "tests"}, "package_name"),
    ({"package_name": "redis"}, "package_name"),
    ({"package_name": "flask"}, "package_name"),
    ({"package_name": "fastapi"}, "package_name"),
    # A namespace package (no __init__.py), which fastapi installs in FastAPI services.
    ({"package_name": "opentelemetry"}, "package_name"),
    ({"description": ""}, "description"),
    ({"description": 'Say "hi"'}, "description"),
    ({"description": "two\nlines"}, "description"),
    ({"description": "x" * 201}, "description"),
    ({"owner": ""}, "owner"),
    ({"owner": "Team Orders"}, "owner"),
    ({"framework": "django"}, "framework"),
    ({"python_version": "3.10"}, "python_version"),
    ({"python_version": "3.16"}, "python_version"),
    ({"deploy_target": "heroku"}, "deploy_target"),
    ({"database": "mysql"}, "database"),
    ({"database": "postgres"}, "database"),
]

# A trailing line break slips past a regex ending in `$`; the validators use `\Z`.
# (A JSON Schema `pattern` cannot say this in both Python and ECMA-262 regex dialects,
# so the portal refuses line breaks itself, and these rows stay out of the table the
# schema alone is checked against.)
REJECTED_LINE_BREAKS: list[tuple[dict[str, Any], str]] = [
    ({"project_name": "Order Service\n"}, "project_name"),
    ({"service_slug": "order-service\n"}, "service_slug"),
    ({"package_name": "order_service\n"}, "package_name"),
    ({"owner": "team-orders\n"}, "owner"),
]


def rejected_cases(rows: list[tuple[dict[str, Any], str]]) -> list[Any]:
    """Rows of a rejection table as test parameters `(answers, question)`."""
    return [
        pytest.param(answers, question, id=f"{question}={answers[question]!r:.20}")
        for answers, question in rows
    ]


ACCEPTED_EDGES: list[dict[str, Any]] = [
    {"service_slug": "ab", "package_name": "ab"},
    {"owner": "group:default/team-orders"},
    {
        "project_name": "P" * 63,
        "service_slug": "s" * 63,
        "package_name": "p" * 32,
        "description": "d" * 100 + " " + "e" * 99,
        "owner": "o" * 63,
    },
]

DERIVED = ("project_name", "service_slug", "package_name")
# Each row: the destination folder's name and the answers given; then either the
# answers derived from them, or the question that must be named in a one-line error.
DESTINATIONS: dict[str, tuple[str, dict[str, str], tuple[str, str, str] | str]] = {
    "a framework's name": ("flask", {}, ("Flask", "flask", "flask_service")),
    "a standard-library name": ("json", {}, ("Json", "json", "json_service")),
    "another one": ("test", {}, ("Test", "test", "test_service")),
    "a namespace package": (
        "opentelemetry",
        {},
        ("Opentelemetry", "opentelemetry", "opentelemetry_service"),
    ),
    "a reserved name once cut": (
        "typing-extensions",
        {},
        ("Typing Extensions", "typing-extensions", "typing_extensions_service"),
    ),
    "a leading digit": (
        "9lives",
        {},
        ("Service 9lives", "service-9lives", "service_9lives"),
    ),
    "digits only": ("2024", {}, ("Service 2024", "service-2024", "service_2024")),
    "one letter": ("a", {}, ("A Service", "a-service", "a_service")),
    "a one-letter slug": ("A.", {}, ("A.", "a-service", "a_service")),
    "a double hyphen": ("x--y", {}, ("X Y", "x-y", "x_y")),
    "leading junk": (
        "_order--service",
        {},
        ("Order Service", "order-service", "order_service"),
    ),
    "nothing usable": ("---", {}, ("Service", "service", "service")),
    "a dot": ("billing.v2", {}, ("Billing.v2", "billing-v2", "billing_v2")),
    "a space": (
        "Order Service",
        {},
        ("Order Service", "order-service", "order_service"),
    ),
    "100 characters": ("o" * 100, {}, ("O" + "o" * 62, "o" * 63, "o" * 32)),
    "a reserved name given": (
        "order-service",
        {"package_name": "json"},
        "package_name",
    ),
    "an invalid name given": (
        "order-service",
        {"project_name": "9 Lives"},
        "project_name",
    ),
}
# The destination table as test parameters `(name, given, expected)`.
DESTINATION_CASES = [pytest.param(*row, id=case) for case, row in DESTINATIONS.items()]
