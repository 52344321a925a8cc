"""What the wrk benchmarks share: table cells, medians, the tools' versions, a
returning user's cookie, and matplotlib when it is there; and, for the benchmarks of
a sick dependency, wrk counting every answer under load and the kubelet-like probes."""

import http.client
import importlib
import json
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from hooks.projects import DEPLOY_TARGETS, Variant, generate, sync, uv_environment
from hooks.questions import ROOT
from hooks.servers import HOST, Service, http_status

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


def locked_versions(project: Path, packages: Sequence[str] = LOCKED) -> dict[str, str]:
    """What the project's uv.lock pins of the packages that matter here."""
    lock = tomllib.loads((project / "uv.lock").read_text())
    return {
        package["name"]: package["version"]
        for package in lock.get("package", [])
        if package["name"] in packages
    }


# --- a sick dependency under load (faults.py, database_faults.py) --------------------

CLIENTS = 64
CLIENT_TIMEOUT = "5s"
PACED_INTERVAL_MS = 100
PROBE_INTERVAL_SECONDS = 0.5
PROBE_TIMEOUT_SECONDS = 1.0
TARGET_PROBE_SECONDS = 1.0

# Runs in each wrk thread; done() adds up the threads' counts and prints one line.
WRK_SCRIPT = """\
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  statuses = {}
  json_bodies = 0
  retry_afters = 0
end

function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
  if body ~= nil and body:sub(1, 1) == "{" then
    json_bodies = json_bodies + 1
  end
  for name, _ in pairs(headers) do
    if name:lower() == "retry-after" then
      retry_afters = retry_afters + 1
    end
  end
end

function done(summary, latency, requests)
  local statuses, json_bodies, retry_afters = {}, 0, 0
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      statuses[status] = (statuses[status] or 0) + n
    end
    json_bodies = json_bodies + thread:get("json_bodies")
    retry_afters = retry_afters + thread:get("retry_afters")
  end
  local counts = {}
  for status, n in pairs(statuses) do
    table.insert(counts, string.format('"%s": %d', status, n))
  end
  local errors = summary.errors
  io.write(string.format(
    'WRK-RESULT {"duration_us": %d, "requests": %d, "statuses": {%s}, ' ..
    '"json_bodies": %d, "retry_after": %d, "p50_us": %d, "p95_us": %d, ' ..
    '"p99_us": %d, "max_us": %d, "errors": {"connect": %d, "read": %d, ' ..
    '"write": %d, "timeout": %d}}\\n',
    summary.duration, summary.requests, table.concat(counts, ", "),
    json_bodies, retry_afters, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.max, errors.connect, errors.read,
    errors.write, errors.timeout))
end
"""
WRK_RESULT = "WRK-RESULT "
# The same, with each connection waiting PACED_INTERVAL_MS before its next request.
PACED_SCRIPT = f"""{WRK_SCRIPT}
function delay()
  return {PACED_INTERVAL_MS}
end
"""


@dataclass(frozen=True)
class Scripts:
    """wrk's Lua scripts, written once per benchmark."""

    flat_out: Path
    paced: Path


@dataclass
class Load:
    """One wrk run's answers: all of them, whatever their status."""

    seconds: float
    requests: int
    requests_per_s: float
    statuses: dict[str, int]
    json_bodies: int
    retry_after: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    socket_errors: dict[str, int]  # wrk's counts: connect, read, write, timeout


@dataclass
class AppTimes:
    """The service's own access lines for one path in a window: how long the app took
    (duration_ms), without the time a request waited for a worker to take it."""

    answers: int
    statuses: dict[str, int]
    p50_ms: float | None
    p95_ms: float | None
    max_ms: float | None


@dataclass
class Probe:
    path: str
    at_s: float  # after T0
    status: int | None  # None: no answer within the budget
    seconds: float


def missed(probes: list[Probe], status: int) -> int:
    """How many probes did not answer `status` within the target's 1 s."""
    return sum(
        1 for p in probes if p.status != status or p.seconds >= TARGET_PROBE_SECONDS
    )


class Traffic:
    """wrk keeping CLIENTS keep-alive connections busy on one URL until `finish()`,
    each request with `headers` (`Name: value`)."""

    def __init__(self, url: str, script: Path, headers: Sequence[str] = ()) -> None:
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [
                "wrk",
                f"-t{WRK_THREADS}",
                f"-c{CLIENTS}",
                "-d1h",  # ended by SIGINT, after which wrk reports as usual
                "--timeout",
                CLIENT_TIMEOUT,
                "-s",
                str(script),
                *(part for header in headers for part in ("-H", header)),
                url,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def finish(self) -> Load:
        self.process.send_signal(signal.SIGINT)
        out, err = self.process.communicate(timeout=30)
        line = next((x for x in out.splitlines() if x.startswith(WRK_RESULT)), None)
        if line is None:
            raise RuntimeError(f"unexpected wrk output:\n{out}\n{err}")
        found: dict[str, Any] = json.loads(line.removeprefix(WRK_RESULT))
        seconds = found["duration_us"] / 1e6
        return Load(
            seconds=round(seconds, 3),
            requests=found["requests"],
            requests_per_s=round(found["requests"] / seconds, 1) if seconds else 0.0,
            statuses=dict(sorted(found["statuses"].items())),
            json_bodies=found["json_bodies"],
            retry_after=found["retry_after"],
            p50_ms=found["p50_us"] / 1000,
            p95_ms=found["p95_us"] / 1000,
            p99_ms=found["p99_us"] / 1000,
            max_ms=found["max_us"] / 1000,
            socket_errors=found["errors"],
        )

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def traffic_for(
    seconds: float, url: str, script: Path, headers: Sequence[str] = ()
) -> Load:
    traffic = Traffic(url, script, headers)
    try:
        time.sleep(seconds)
        return traffic.finish()
    finally:
        traffic.kill()


class Prober:
    """Probes /health/live and /health/ready every PROBE_INTERVAL_SECONDS from T0, each
    in a thread of its own, so that a hung probe delays no other."""

    PATHS = ("/health/live", "/health/ready")

    def __init__(self, port: int, t0: float) -> None:
        self.port = port
        self.t0 = t0
        self.probes: list[Probe] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []
        self.ticker = threading.Thread(target=self.tick)
        self.ticker.start()

    def tick(self) -> None:
        tick = 0
        while not self.stopping.is_set():
            for path in self.PATHS:
                thread = threading.Thread(target=self.probe, args=(path,))
                thread.start()
                self.threads.append(thread)
            tick += 1
            next_at = self.t0 + tick * PROBE_INTERVAL_SECONDS
            self.stopping.wait(max(0.0, next_at - time.monotonic()))

    def probe(self, path: str) -> None:
        started = time.monotonic()
        status = http_status(self.port, path, timeout=PROBE_TIMEOUT_SECONDS)
        seconds = time.monotonic() - started
        with self.lock:
            self.probes.append(
                Probe(path, round(started - self.t0, 3), status, round(seconds, 3))
            )

    def stop(self) -> list[Probe]:
        self.stopping.set()
        self.ticker.join()
        for thread in self.threads:
            thread.join()
        return sorted(self.probes, key=lambda p: (p.at_s, p.path))


def app_times(service: Service, path: str, since: float, until: float) -> AppTimes:
    """The access lines of `path` that the service wrote between two wall times."""
    durations: list[float] = []
    statuses: dict[str, int] = {}
    for line in service.log_lines():
        if line.get("message") != "request" or line.get("path") != path:
            continue
        written = datetime.fromisoformat(line["timestamp"]).timestamp()
        if since <= written <= until:
            durations.append(float(line["duration_ms"]))
            status = str(line["status"])
            statuses[status] = statuses.get(status, 0) + 1
    if not durations:
        return AppTimes(0, {}, None, None, None)
    cuts = statistics.quantiles(durations, n=100) if len(durations) > 1 else durations
    return AppTimes(
        answers=len(durations),
        statuses=dict(sorted(statuses.items())),
        p50_ms=round(statistics.median(durations), 3),
        p95_ms=round(cuts[min(94, len(cuts) - 1)], 3),
        max_ms=round(max(durations), 3),
    )


def share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def met(count: int | None, rounds: int) -> str:
    return "n/a" if count is None else f"{count}/{rounds}"
