"""What the command-line entry points (./new-service, portal/generate.py) share: every
error and warning is one line, and a destination must be new or empty."""

import warnings
from pathlib import Path


def one_line(text: str) -> str:
    return " ".join(text.split())


def _one_line_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    line: str | None = None,
) -> str:
    return f"warning: {one_line(str(message))}\n"


def warn_in_one_line() -> None:
    """Print warnings (Copier's too) as `warning: <message>`, with no source line."""
    warnings.formatwarning = _one_line_warning


def destination_refusal(destination: Path) -> str | None:
    """Why generating into `destination` is refused, or None: it must not exist, or
    be an empty folder, so that nothing of anyone's is overwritten."""
    if destination.exists() and (
        not destination.is_dir() or any(destination.iterdir())
    ):
        return "already exists and is not an empty folder"
    return None
