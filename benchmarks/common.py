"""What the wrk benchmarks share: table cells, medians, the tools' versions, a
returning user's cookie, and matplotlib when it is there."""

import http.client
import importlib
import re
import shutil
import statistics
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from hooks.projects import DEPLOY_TARGETS, Variant, generate, sync, uv_environment
from hooks.questions import ROOT
from hooks.servers import HOST

WRK_THREADS = 2
WRK_CONNECTIONS = 32


def require_tools(*tools: str) -> None:
    """Exit with one line naming the Debian packages if a tool is not on PATH."""
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        sys.exit(
            f"{', '.join(missing)} not on PATH (apt-get install -y {' '.join(missing)})"
        )


def tool_version(tool: str) -> str:
    # wrk prints its version with its usage and exits 1.
    return subprocess.run(
        [tool, "--version"], capture_output=True, text=True, check=False
    ).stdout.splitlines()[0]


def median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def cell(*values: float | None) -> str:
    return " / ".join("-" if v is None else f"{v:g}" for v in values)


def times(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def markdown_row(cells: list[str]) -> str:
    """One row of the Markdown tables the benchmarks print."""
    return "| " + " | ".join(cells) + " |"


def session_cookie(port: int) -> str:
    """A new session's cookie, from a first visit to /visits."""
    connection = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        connection.request("GET", "/visits")
        response = connection.getresponse()
        response.read()
        set_cookie = response.getheader("Set-Cookie")
    finally:
        connection.close()
    if response.status != 200 or set_cookie is None:
        raise RuntimeError(f"/visits answered {response.status} without a cookie")
    # The cookie is Secure (APP_ENV=production): pass it by hand over plain HTTP.
    return set_cookie.split(";", 1)[0]


def pyplot() -> ModuleType | None:
    """matplotlib.pyplot drawing to files, or None: matplotlib is optional, and not
    in the repository's venv (`uv run --with matplotlib`)."""
    try:
        # Imported by name, so that type checking needs no stubs for it.
        matplotlib = importlib.import_module("matplotlib")
    except ImportError:
        return None
    matplotlib.use("Agg")
    return importlib.import_module("matplotlib.pyplot")


@dataclass
class Throughput:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: dict[str, int]  # wrk's counts: connect, read, write, timeout


WRK_LATENCY = re.compile(r"^\s*(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
WRK_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def parse_wrk(output: str) -> Throughput:
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    if rate is None or total is None:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    latency = {
        percent: float(value) * WRK_UNITS_MS[unit]
        for percent, value, unit in WRK_LATENCY.findall(output)
    }
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    kinds = ("connect", "read", "write", "timeout")
    return Throughput(
        requests_per_s=float(rate.group(1)),
        p50_ms=round(latency["50"], 3),
        p99_ms=round(latency["99"], 3),
        requests=int(total.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=dict(
            zip(
                kinds,
                (int(n) for n in errors.groups()) if errors else [0] * 4,
                strict=True,
            )
        ),
    )


def wrk(url: str, seconds: int, headers: list[str]) -> str:
    """wrk's report of `seconds` of keep-alive load on one URL."""
    command = ["wrk", f"-t{WRK_THREADS}", f"-c{WRK_CONNECTIONS}", f"-d{seconds}s"]
    for header in headers:
        command += ["-H", header]
    return subprocess.run(
        [*command, "--latency", url], capture_output=True, text=True, check=True
    ).stdout


def install_extra(project: Path, package: str) -> bool:
    """Install a server into the project's venv, for this benchmark only."""
    installed = subprocess.run(
        ["uv", "pip", "install", "--quiet", "--python", ".venv/bin/python", package],
        cwd=project,
        env=uv_environment(),
        check=False,
    )
    return installed.returncode == 0


def quotient(a: float | None, b: float | None) -> float | None:
    """a / b, or None when either is missing (or b is 0)."""
    return a / b if a is not None and b else None


# --- versions of the template --------------------------------------------------------


def commit_of(ref: str) -> str:
    """The commit a ref names: Copier renders a local template's uncommitted changes
    when asked for HEAD, and a commit keeps out what others are editing right now."""
    return subprocess.run(
        ["git", "rev-parse", f"{ref}^{{commit}}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def installed_project(framework: str, commit: str, workdir: Path) -> Path:
    variant = Variant(framework, True, DEPLOY_TARGETS[0])
    project = workdir / f"{variant.id}-{commit[:8]}"
    generate(project, variant.answers, vcs_ref=commit)
    return sync(project)


LOCKED = ("flask", "fastapi", "redis", "pybreaker", "gunicorn", "gevent", "uvicorn")


def locked_versions(project: Path) -> dict[str, str]:
    """What the project's uv.lock pins of the packages that matter here."""
    lock = tomllib.loads((project / "uv.lock").read_text())
    return {
        package["name"]: package["version"]
        for package in lock.get("package", [])
        if package["name"] in LOCKED
    }
