"""A route that fails with a secret in a local variable: no traceback may show it."""

from typing import NoReturn

SECRET_IN_A_LOCAL_VARIABLE = "hunter2-must-never-reach-the-logs"


def fail() -> NoReturn:
    password = SECRET_IN_A_LOCAL_VARIABLE
    raise RuntimeError(f"deliberate failure after reading {len(password)} characters")
