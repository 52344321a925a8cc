"""Does a generated service survive a sick PostgreSQL under load, and recover by itself?

A database that hangs or dies must cost the requests that need it a quick 503, not the
pod its liveness, and the service must come back by itself when the database does.
The current template guards every database call with a circuit breaker (open after
DATABASE_BREAKER_FAILURES=5 consecutive failures, one trial call after
DATABASE_BREAKER_RESET_SECONDS=5), a bulkhead (DATABASE_MAX_CONCURRENCY=64 calls in
flight per worker) and a deadline per call (pool timeout 1 s + statement timeout 2 s +
1 s = 4 s); readiness's `postgresql:responseTime` gives up after 0.4 s. The baseline
is the same service with DATABASE_BREAKER_FAILURES=1000000: a breaker that never
opens, so that every call waits out its own timeouts (a free connection within 1 s, a
new one within libpq's 2 s, its query within the 4 s deadline) before its 503.

One project per framework is generated from this checkout's working tree (Copier's
vcs_ref HEAD, uncommitted changes included: the database option is not released yet),
with redis_sessions=false, database=postgresql and the other answers at their
defaults, and installed with uv. Each run (framework, version, fault) starts its own
PostgreSQL on a free port with the generated project's own test launcher
(tests/postgres_support.py, driven in the project's venv, which has its dependencies),
creates a database, runs `python -m order_service migrate`, then starts
`python -m order_service` with APP_ENV=production, a 48-character SECRET_KEY,
WEB_CONCURRENCY=2, LOG_LEVEL=info and a DATABASE_URL that carries a password (the
server trusts local connections and never checks it: it is there to be looked for),
seeds one note with POST /notes, and then:

1. healthy: wrk -t2 -c64 --timeout 5s on GET /notes/<id> for 3 s after a 1 s warm-up;
   its 200s per second are the goodput (a refused request's 503 is answered faster);
2. at T0 the fault, under that load (a new wrk started 0.5 s before): `hang`, SIGSTOP
   to the postmaster and every backend (connections stay open, nothing answers), or
   `kill`, a fast shutdown (its connections close, new ones are refused). From T0 a
   probe every 0.5 s opens a fresh connection to /health/live and one to
   /health/ready, each with a 1 s budget, as a kubelet does, until step 4 ends;
3. settled outage: at T0+3 s that wrk stops and another runs for 4 s flat out, then
   one for 3 s paced (each connection one request every 100 ms). Their Lua script
   (faults.py's) counts each answer's status, whether its body is JSON and whether it
   carries Retry-After, and reports wrk's latency percentiles of every answer;
4. recovery: the fault ends (SIGCONT, or PostgreSQL started again on its port and
   data, T1 once it answers a query), under a new wrk load; a poll every 0.1 s, each
   on a fresh connection, times the first 200 from GET /notes/<id> after T1 (given up
   after 15 s);
5. secrets: every line the service and the migration wrote (stdout and stderr), and
   the answers of /health/ready and /notes/<id> during the outage, are searched for
   the password.

For diagnosis, each run also keeps the listen queue of the service's port (connections
no worker has accepted yet, sampled every 0.1 s from T0; a probe's fresh connection
waits behind them), and why requests of the healthy window got a 503: the difference
of the service's own counters (/metrics) of database calls refused (circuit open,
bulkhead full) and failed (by error) across the window, printed under the table.

The targets, each reported as rounds met / rounds: every liveness probe 200 within 1 s;
every readiness probe of the outage (started before the fault began to end, and not
overtaken by its end) 503 within 1 s; in the settled outage every /notes answer a
JSON 503 with Retry-After and none timed out, flat out and paced, with the paced
p95 < 100 ms; recovery within 10 s, with the service and its workers never
restarted; and the password in no line and no answer.

Rounds (default 3) run the two versions back to back, in an order that alternates from
round to round; the table shows medians over the rounds, and current / baseline ratios
as the median of the same round's ratios (the machine is shared and noisy). wrk shares
the CPUs with the service and PostgreSQL, so absolute numbers are this machine's only.
The machine's load average is sampled every 5 s through the whole benchmark.

    uv run python benchmarks/database_faults.py [--rounds 3] [--json P] [--chart P]
    uv run --with matplotlib python benchmarks/database_faults.py   # draws the chart

Needs wrk on PATH and PostgreSQL's server binaries (`apt-get install -y wrk
postgresql`; Debian's initdb and postgres, off PATH, are found where Debian puts them).
"""

import argparse
import http.client
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

from benchmarks.common import (
    CLIENT_TIMEOUT,
    CLIENTS,
    LOCKED,
    PACED_INTERVAL_MS,
    PACED_SCRIPT,
    PROBE_INTERVAL_SECONDS,
    PROBE_TIMEOUT_SECONDS,
    TARGET_PROBE_SECONDS,
    WRK_SCRIPT,
    WRK_THREADS,
    AppTimes,
    Load,
    Probe,
    Prober,
    Scripts,
    Traffic,
    app_times,
    cell,
    locked_versions,
    markdown_row,
    median,
    met,
    missed,
    percent,
    pyplot,
    quotient,
    require_tools,
    share,
    times,
    tool_version,
    traffic_for,
)
from hooks.projects import (
    DEPLOY_TARGETS,
    FRAMEWORKS,
    CommandFailedError,
    Variant,
    uv_environment,
    variant_project,
)
from hooks.projects import run as run_command
from hooks.questions import ROOT
from hooks.servers import HOST, Service, free_port, http_status

RESULTS = ROOT / "benchmarks" / "results"
TEMPLATE_REF = "HEAD"
VERSIONS = ("baseline", "current")
FAULTS = ("hang", "kill")
# What makes the baseline: the current service with a breaker that never opens.
VERSION_SETTINGS: dict[str, dict[str, str]] = {
    "baseline": {"DATABASE_BREAKER_FAILURES": "1000000"},
    "current": {},
}

WORKERS = 2
WARMUP_SECONDS = 1.0
HEALTHY_SECONDS = 3.0
LOAD_BEFORE_FAULT_SECONDS = 0.5  # the onset load's connections are busy at T0
SETTLE_SECONDS = 3.0
SETTLED_SECONDS = 4.0
PACED_SECONDS = 3.0
RECOVERY_POLL_SECONDS = 0.1
RECOVERY_LIMIT_SECONDS = 15.0
REQUEST_TIMEOUT_SECONDS = 2.0
LOAD_SAMPLE_SECONDS = 5.0
# A scrape may wait behind the load's connections in the listen queue.
METRICS_TIMEOUT_SECONDS = 10.0
ACCEPT_QUEUE_SAMPLE_SECONDS = 0.1

TARGET_P95_MS = 100.0
TARGET_RECOVERY_SECONDS = 10.0

# The service's counters of database calls that got a 503, in the names /metrics
# gives them, and how the table calls them.
DEPENDENCY = "postgresql"
REFUSAL_METRICS = {
    "dependency_rejections_total": "refused:",
    "dependency_errors_total": "failed:",
}
# The lines that say a worker process started: gunicorn's, and uvicorn's supervisor's.
WORKER_BOOTS = ("Booting worker with pid", "Started server process")
DATABASE_PACKAGES = (*LOCKED, "sqlalchemy", "psycopg", "alembic")

# Runs in the generated project's venv, from its root: PostgresProcess (and psycopg and
# psutil, which it needs) are there, not in this repository's venv. One JSON command a
# line on stdin (a method, or an attribute, of the server), one JSON answer a line on
# stdout; at the end of stdin the server is stopped and its directory removed.
CONTROLLER = """\
import json
import sys
from pathlib import Path

from tests.postgres_support import PostgresProcess

server = PostgresProcess()
try:
    for line in sys.stdin:
        name, *arguments = json.loads(line)
        try:
            value = getattr(server, name)
            if callable(value):
                value = value(*arguments)
        except Exception as error:
            answer = {"error": f"{type(error).__name__}: {error}"}
        else:
            kept = isinstance(value, (str, Path))
            answer = {"value": str(value) if kept else None}
        print(json.dumps(answer), flush=True)
finally:
    server.remove()
"""


class PostgreSQL:
    """A real PostgreSQL, started by the generated project's tests/postgres_support.py
    in a process of the project's venv, and driven a command at a time."""

    def __init__(self, project: Path, logs: Path) -> None:
        self.stderr_path = logs / "postgres-controller.stderr"
        with self.stderr_path.open("wb") as stderr:
            self.process = subprocess.Popen(
                [str(project / ".venv" / "bin" / "python"), "-c", CONTROLLER],
                cwd=project,
                env=uv_environment(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )

    def call(self, name: str, *arguments: str) -> str | None:
        stdin, stdout = self.pipes
        stdin.write(json.dumps([name, *arguments]) + "\n")
        stdin.flush()
        line = stdout.readline()
        if not line:
            raise RuntimeError(
                f"PostgreSQL's controller exited {self.process.poll()}:\n"
                f"{self.stderr_path.read_text(errors='replace')}"
            )
        answer: dict[str, str | None] = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"PostgreSQL {name}: {answer['error']}")
        return answer["value"]

    @property
    def pipes(self) -> tuple[IO[str], IO[str]]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        return self.process.stdin, self.process.stdout

    def start(self) -> None:
        """Start it (initdb first, the first time), and return once it answers."""
        self.call("start")

    def create_database(self, name: str) -> str:
        url = self.call("create_database", name)
        assert url is not None
        return url

    def freeze(self) -> None:
        self.call("freeze")

    def thaw(self) -> None:
        self.call("thaw")

    def stop(self) -> None:
        """A fast shutdown: the data stays, for `start()`."""
        self.call("stop")

    def version(self) -> str:
        bindir = self.call("bindir")
        return tool_version(str(Path(str(bindir)) / "postgres"))

    def close(self) -> None:
        """Stop the server and remove its data: the controller does both when its
        stdin ends."""
        stdin, _ = self.pipes
        stdin.close()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    netloc = f"{parts.username}:{password}@{parts.hostname}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


class LoadSampler:
    """The machine's load averages every LOAD_SAMPLE_SECONDS, from /proc/loadavg."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float, float]] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.sample, daemon=True)
        self.thread.start()

    def sample(self) -> None:
        while True:
            self.samples.append(os.getloadavg())
            if self.stopping.wait(LOAD_SAMPLE_SECONDS):
                return

    def stop(self) -> dict[str, Any]:
        self.stopping.set()
        self.thread.join()
        one_minute = [one for one, _, _ in self.samples]
        return {
            "every_s": LOAD_SAMPLE_SECONDS,
            "samples": len(one_minute),
            "1m_min": round(min(one_minute), 2),
            "1m_median": round(statistics.median(one_minute), 2),
            "1m_max": round(max(one_minute), 2),
            "5m_at_end": round(self.samples[-1][1], 2),
            "15m_at_end": round(self.samples[-1][2], 2),
        }


class AcceptQueue:
    """How many connections wait in the service's listen queue, accepted by no worker
    yet (a listening socket's rx_queue in /proc/net/tcp), every
    ACCEPT_QUEUE_SAMPLE_SECONDS from T0: a probe's fresh connection waits behind them.
    """

    def __init__(self, port: int, t0: float) -> None:
        self.port = port
        self.t0 = t0
        self.samples: list[tuple[float, int]] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.sample, daemon=True)
        self.thread.start()

    def length(self) -> int:
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            # local address (hex IP:port), remote address, state (0A: LISTEN),
            # tx_queue:rx_queue (hex), ...
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == self.port:
                return int(fields[4].split(":")[1], 16)
        return 0

    def sample(self) -> None:
        while not self.stopping.is_set():
            at = round(time.monotonic() - self.t0, 2)
            self.samples.append((at, self.length()))
            self.stopping.wait(ACCEPT_QUEUE_SAMPLE_SECONDS)

    def stop(self) -> list[tuple[float, int]]:
        self.stopping.set()
        self.thread.join()
        return self.samples


# --- results -------------------------------------------------------------------------


@dataclass
class Run:
    framework: str
    version: str
    fault: str
    round: int
    load_1m: float  # the machine's 1-minute load average as the run starts
    startup_s: float | None = None
    healthy: Load | None = None
    healthy_app: AppTimes | None = None
    # Why requests of the healthy window got a 503: the service's counts of database
    # calls refused (circuit open, bulkhead full) and failed (by error), /metrics.
    healthy_refusals: dict[str, int] = field(default_factory=dict)
    onset: Load | None = None
    settled: Load | None = None
    settled_app: AppTimes | None = None
    paced: Load | None = None
    paced_app: AppTimes | None = None
    probes: list[Probe] = field(default_factory=list)
    # (s after T0, connections waiting to be accepted), every 0.1 s while probing.
    accept_queue: list[tuple[float, int]] = field(default_factory=list)
    # s after T0 when the fault began to end (SIGCONT sent, or the start begun)...
    ending_s: float | None = None
    fault_s: float | None = None  # ...and T1 - T0, once the database answers again
    recovery_s: float | None = None  # None: no 200 within RECOVERY_LIMIT_SECONDS
    service_alive: bool | None = None  # the server process never exited
    worker_boots: int | None = None  # WORKERS, unless a worker was restarted
    breaker_opened: int | None = None  # the breakers' log lines "-> open", all workers
    lines_scanned: int = 0
    password_lines: int | None = None  # lines of output holding the password
    password_answers: int | None = None  # answers during the outage holding it
    errors: list[str] = field(default_factory=list)

    def probes_of(self, path: str, during_outage: bool = False) -> list[Probe]:
        return [
            p
            for p in self.probes
            if p.path == path and (not during_outage or self.during_outage(p))
        ]

    def during_outage(self, probe: Probe) -> bool:
        """Started before the fault began to end, and either answered before that or
        not within its budget (as in faults.py, where the end is T1: a restarted
        PostgreSQL answers a moment before its start returns, which marks T1)."""
        if self.ending_s is None:
            return True
        answered_at = probe.at_s + probe.seconds
        return probe.at_s < self.ending_s and (
            answered_at < self.ending_s or probe.seconds >= TARGET_PROBE_SECONDS
        )

    def queued_at(self, at_s: float) -> int:
        """The longest accept queue sampled within 0.15 s of a moment."""
        return max(
            (n for t, n in self.accept_queue if abs(t - at_s) <= 0.15), default=0
        )

    @property
    def live_failures(self) -> list[Probe]:
        return [
            p
            for p in self.probes_of("/health/live")
            if p.status != 200 or p.seconds >= TARGET_PROBE_SECONDS
        ]

    @property
    def live_ok(self) -> bool:
        live = self.probes_of("/health/live")
        return bool(live) and missed(live, 200) == 0

    @property
    def ready_ok(self) -> bool:
        ready = self.probes_of("/health/ready", during_outage=True)
        return bool(ready) and missed(ready, 503) == 0

    @property
    def settled_ok(self) -> bool:
        """Every answer of the settled outage a JSON 503 with Retry-After, none timed
        out, flat out and paced; the paced p95 under the target."""
        return (
            refused_cleanly(self.settled)
            and refused_cleanly(self.paced)
            and self.paced is not None
            and self.paced.p95_ms < TARGET_P95_MS
        )

    @property
    def flat_out_fast(self) -> bool:
        return self.settled is not None and self.settled.p95_ms < TARGET_P95_MS

    @property
    def recovered_ok(self) -> bool:
        return (
            self.recovery_s is not None
            and self.recovery_s <= TARGET_RECOVERY_SECONDS
            and self.service_alive is True
            and self.worker_boots == WORKERS
        )

    @property
    def secret_ok(self) -> bool:
        return self.password_lines == 0 and self.password_answers == 0


def refused_cleanly(load: Load | None) -> bool:
    return (
        load is not None
        and load.requests > 0
        and load.statuses == {"503": load.requests}
        and load.json_bodies == load.requests
        and load.retry_after == load.requests
        and load.socket_errors["timeout"] == 0
    )


# --- the service's side --------------------------------------------------------------


def answer(
    port: int,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    timeout: float = REQUEST_TIMEOUT_SECONDS,
) -> tuple[int | None, bytes]:
    """One request on a fresh connection: its status (None: no answer) and body."""
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        if body is None:
            connection.request(method, path)
        else:
            connection.request(
                method,
                path,
                json.dumps(body),
                {"Content-Type": "application/json"},
            )
        response = connection.getresponse()
        return response.status, response.read()
    except (OSError, http.client.HTTPException):
        return None, b""
    finally:
        connection.close()


def seed_note(port: int) -> str:
    """POST one note; the path that GETs it."""
    status, body = answer(port, "POST", "/notes", {"text": "a note to read"})
    if status != 201:
        raise RuntimeError(f"POST /notes answered {status}: {body!r}")
    path = f"/notes/{json.loads(body)['id']}"
    status, body = answer(port, "GET", path)
    if status != 200:
        raise RuntimeError(f"GET {path} answered {status}: {body!r}")
    return path


def seconds_to_recover(port: int, path: str, since: float) -> float | None:
    """Seconds from `since` to the end of the first GET `path` answered 200."""
    while time.monotonic() - since < RECOVERY_LIMIT_SECONDS:
        asked = time.monotonic()
        if http_status(port, path, timeout=REQUEST_TIMEOUT_SECONDS) == 200:
            return round(time.monotonic() - since, 3)
        time.sleep(max(0.0, asked + RECOVERY_POLL_SECONDS - time.monotonic()))
    return None


def output_lines(service: Service) -> list[str]:
    return [
        *service.stdout_path.read_text(errors="replace").splitlines(),
        *service.stderr_path.read_text(errors="replace").splitlines(),
    ]


def refusals(port: int) -> dict[str, float]:
    """The service's counts of database calls refused (by reason) and failed (by
    error), all workers together, from its /metrics."""
    status, body = answer(port, "GET", "/metrics", timeout=METRICS_TIMEOUT_SECONDS)
    if status != 200:
        raise RuntimeError(f"/metrics answered {status}")
    found: dict[str, float] = {}
    for line in body.decode().splitlines():
        name, _, rest = line.partition("{")
        if name not in REFUSAL_METRICS or f'dependency="{DEPENDENCY}"' not in rest:
            continue
        labels, _, value = rest.rpartition("} ")
        kind = next(
            part.split("=", 1)[1].strip('"')
            for part in labels.split(",")
            if part.startswith(("reason=", "error_type="))
        )
        found[f"{REFUSAL_METRICS[name]} {kind}"] = float(value)
    return found


def counted_between(
    before: dict[str, float], after: dict[str, float]
) -> dict[str, int]:
    return {
        name: round(n - before.get(name, 0))
        for name, n in sorted(after.items())
        if n > before.get(name, 0)
    }


def inspect_output(run: Run, service: Service, migration: str, password: str) -> None:
    """Worker starts, breaker openings and the password, from everything written."""
    lines = [*migration.splitlines(), *output_lines(service)]
    run.lines_scanned = len(lines)
    run.password_lines = sum(1 for line in lines if password in line)
    run.worker_boots = sum(
        1 for line in lines if any(boot in line for boot in WORKER_BOOTS)
    )
    run.breaker_opened = sum(
        1
        for line in service.log_lines()
        if line.get("message") == "circuit breaker state changed"
        and line.get("state") == "open"
    )


# --- one run -------------------------------------------------------------------------


def outage(
    run: Run,
    service: Service,
    postgres: PostgreSQL,
    scripts: Scripts,
    path: str,
    password: str,
) -> None:
    """Steps 1 to 4 of the docstring, on a started service; fills in `run`."""
    script = scripts.flat_out
    url = f"{service.url}{path}"
    traffic_for(WARMUP_SECONDS, url, script)
    before = refusals(service.port)
    healthy_from = time.time()
    run.healthy = traffic_for(HEALTHY_SECONDS, url, script)
    run.healthy_app = app_times(service, path, healthy_from, time.time())
    run.healthy_refusals = counted_between(before, refusals(service.port))
    onset = Traffic(url, script)
    try:
        time.sleep(LOAD_BEFORE_FAULT_SECONDS)
        if run.fault == "hang":
            postgres.freeze()
        else:
            postgres.stop()
        t0 = time.monotonic()
        prober = Prober(service.port, t0)
        queue = AcceptQueue(service.port, t0)
        try:
            time.sleep(max(0.0, t0 + SETTLE_SECONDS - time.monotonic()))
            run.onset = onset.finish()
            settled_from = time.time()
            run.settled = traffic_for(SETTLED_SECONDS, url, script)
            run.settled_app = app_times(service, path, settled_from, time.time())
            paced_from = time.time()
            run.paced = traffic_for(PACED_SECONDS, url, scripts.paced)
            run.paced_app = app_times(service, path, paced_from, time.time())
            bodies = [
                answer(service.port, "GET", p)[1] for p in ("/health/ready", path)
            ]
            run.password_answers = sum(1 for b in bodies if password.encode() in b)
            recovery = Traffic(url, script)
            try:
                run.ending_s = round(time.monotonic() - t0, 3)
                if run.fault == "hang":
                    postgres.thaw()
                else:
                    postgres.start()  # on the same port and data, once it answers
                t1 = time.monotonic()
                run.fault_s = round(t1 - t0, 3)
                run.recovery_s = seconds_to_recover(service.port, path, t1)
            finally:
                recovery.kill()
        finally:
            run.probes = prober.stop()
            run.accept_queue = queue.stop()
    finally:
        onset.kill()
    run.service_alive = service.started.poll() is None


def one_run(
    framework: str,
    version: str,
    fault: str,
    number: int,
    project: Path,
    logs: Path,
    scripts: Scripts,
) -> Run:
    run = Run(framework, version, fault, number, round(os.getloadavg()[0], 2))
    print(
        f"round {number}: {framework} {version} {fault} (load {run.load_1m})",
        flush=True,
    )
    place = logs / f"{framework}-{version}-{fault}-{number}"
    place.mkdir()
    password = f"pw-{secrets.token_hex(12)}"
    postgres = PostgreSQL(project, place)
    service: Service | None = None
    migration = ""
    try:
        postgres.start()
        settings = {
            "APP_ENV": "production",
            "SECRET_KEY": secrets.token_urlsafe(36),  # 48 characters
            "LOG_LEVEL": "info",
            "DATABASE_URL": with_password(postgres.create_database("notes"), password),
            "WEB_CONCURRENCY": str(WORKERS),
            **VERSION_SETTINGS[version],
        }
        service = Service(project, place, free_port(), **settings)
        migrated = run_command(
            service.command("migrate"), project, service.env, timeout=120
        )
        migration = migrated.stdout + migrated.stderr
        started = time.monotonic()
        service.start()
        run.startup_s = round(time.monotonic() - started, 3)
        path = seed_note(service.port)
        outage(run, service, postgres, scripts, path, password)
    except (
        OSError,
        RuntimeError,
        ValueError,
        subprocess.SubprocessError,
        CommandFailedError,
    ) as error:
        run.errors.append(f"{type(error).__name__}: {error}")
    finally:
        if service is not None:
            service.kill()
            try:
                inspect_output(run, service, migration, password)
            except (OSError, ValueError) as error:
                run.errors.append(f"reading the output: {error}")
        postgres.close()
    return run


# --- summary -------------------------------------------------------------------------


@dataclass
class Summary:
    """Medians over the rounds of one (framework, fault, version)."""

    rounds: int
    healthy_rps: float | None
    healthy_p50_ms: float | None
    healthy_p99_ms: float | None
    healthy_200_rps: float | None
    healthy_200_share: float | None
    healthy_refusals: dict[str, int]  # summed over the rounds
    onset_answers: float | None
    onset_timeouts: float | None
    settled_answers: float | None
    settled_rps: float | None
    settled_p50_ms: float | None
    settled_p95_ms: float | None
    settled_p99_ms: float | None
    # The app's own p95 (its access lines): the rest of wrk's is waiting for a worker.
    settled_app_p95_ms: float | None
    settled_503_share: float | None  # of the settled outage's answers, flat out
    settled_json_share: float | None
    settled_retry_after_share: float | None
    settled_timeouts: float | None
    paced_answers: float | None
    paced_p50_ms: float | None
    paced_p95_ms: float | None
    paced_p99_ms: float | None
    paced_app_p95_ms: float | None
    paced_503_share: float | None
    paced_timeouts: float | None
    live_probes_failed: float | None
    live_probes: float | None
    live_probe_max_s: float | None
    # Summed over the rounds: the failed liveness probes, and those of them that
    # started while connections waited in the listen queue.
    live_failures: int
    live_failures_behind_queue: int
    accept_queue_max: float | None
    ready_probes_not_503: float | None  # not 503 within 1 s, during the outage
    ready_probes: float | None
    ready_probe_max_s: float | None
    recovery_s: float | None
    breaker_opened: float | None
    # Summed over the rounds, not medians: one line is one too many.
    password_lines: int
    password_answers: int
    lines_scanned: int
    worker_restarts: int
    # Targets: rounds met.
    live_met: int
    ready_met: int
    settled_met: int
    flat_out_fast_met: int
    recovered_met: int
    secret_met: int
    # Current only: the median of the same round's current / baseline.
    vs_baseline: dict[str, float | None]
    errors: list[str]


RATIOS: dict[str, Callable[[Run], float | None]] = {
    "healthy_rps": lambda r: r.healthy.requests_per_s if r.healthy else None,
    "healthy_200_rps": lambda r: (
        r.healthy.statuses.get("200", 0) / r.healthy.seconds
        if r.healthy and r.healthy.seconds
        else None
    ),
    "settled_answers": lambda r: r.settled.requests if r.settled else None,
    "settled_p95_ms": lambda r: r.settled.p95_ms if r.settled else None,
    "paced_answers": lambda r: r.paced.requests if r.paced else None,
    "paced_p95_ms": lambda r: r.paced.p95_ms if r.paced else None,
    "recovery_s": lambda r: r.recovery_s,
}


def same_round_ratios(runs: list[Run], baseline: list[Run]) -> dict[str, float | None]:
    theirs = {r.round: r for r in baseline}
    found: dict[str, float | None] = {}
    for name, value in RATIOS.items():
        quotients = []
        for mine in runs:
            base = theirs.get(mine.round)
            if base is None:
                continue
            if (q := quotient(value(mine), value(base))) is not None:
                quotients.append(q)
        found[name] = round(statistics.median(quotients), 3) if quotients else None
    return found


def added(counts: list[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for each in counts:
        for name, n in each.items():
            total[name] = total.get(name, 0) + n
    return dict(sorted(total.items()))


def summarise(runs: list[Run], baseline: list[Run] | None) -> Summary:
    healthy = [r.healthy for r in runs if r.healthy]
    onset = [r.onset for r in runs if r.onset]
    settled = [r.settled for r in runs if r.settled]
    paced = [r.paced for r in runs if r.paced]
    live = [r.probes_of("/health/live") for r in runs]
    ready = [r.probes_of("/health/ready", during_outage=True) for r in runs]
    return Summary(
        rounds=len(runs),
        healthy_rps=median([h.requests_per_s for h in healthy]),
        healthy_p50_ms=median([h.p50_ms for h in healthy]),
        healthy_p99_ms=median([h.p99_ms for h in healthy]),
        healthy_200_rps=median(
            [
                round(h.statuses.get("200", 0) / h.seconds, 1)
                for h in healthy
                if h.seconds
            ]
        ),
        healthy_200_share=median(
            [x for h in healthy if (x := share(h.statuses.get("200", 0), h.requests))]
        ),
        healthy_refusals=added([r.healthy_refusals for r in runs]),
        onset_answers=median([o.requests for o in onset]),
        onset_timeouts=median([o.socket_errors["timeout"] for o in onset]),
        settled_answers=median([s.requests for s in settled]),
        settled_rps=median([s.requests_per_s for s in settled]),
        settled_p50_ms=median([s.p50_ms for s in settled]),
        settled_p95_ms=median([s.p95_ms for s in settled]),
        settled_p99_ms=median([s.p99_ms for s in settled]),
        settled_app_p95_ms=median(
            [t.p95_ms for r in runs if (t := r.settled_app) and t.p95_ms is not None]
        ),
        settled_503_share=median(
            [x for s in settled if (x := share(s.statuses.get("503", 0), s.requests))]
        ),
        settled_json_share=median(
            [x for s in settled if (x := share(s.json_bodies, s.requests))]
        ),
        settled_retry_after_share=median(
            [x for s in settled if (x := share(s.retry_after, s.requests))]
        ),
        settled_timeouts=median([s.socket_errors["timeout"] for s in settled]),
        paced_answers=median([p.requests for p in paced]),
        paced_p50_ms=median([p.p50_ms for p in paced]),
        paced_p95_ms=median([p.p95_ms for p in paced]),
        paced_p99_ms=median([p.p99_ms for p in paced]),
        paced_app_p95_ms=median(
            [t.p95_ms for r in runs if (t := r.paced_app) and t.p95_ms is not None]
        ),
        paced_503_share=median(
            [x for p in paced if (x := share(p.statuses.get("503", 0), p.requests))]
        ),
        paced_timeouts=median([p.socket_errors["timeout"] for p in paced]),
        live_probes_failed=median([missed(ps, 200) for ps in live if ps]),
        live_probes=median([len(ps) for ps in live if ps]),
        live_probe_max_s=median([max(p.seconds for p in ps) for ps in live if ps]),
        live_failures=sum(len(r.live_failures) for r in runs),
        live_failures_behind_queue=sum(
            1 for r in runs for p in r.live_failures if r.queued_at(p.at_s) > 0
        ),
        accept_queue_max=median(
            [max(n for _, n in r.accept_queue) for r in runs if r.accept_queue]
        ),
        ready_probes_not_503=median([missed(ps, 503) for ps in ready if ps]),
        ready_probes=median([len(ps) for ps in ready if ps]),
        ready_probe_max_s=median([max(p.seconds for p in ps) for ps in ready if ps]),
        recovery_s=median([r.recovery_s for r in runs if r.recovery_s is not None]),
        breaker_opened=median(
            [r.breaker_opened for r in runs if r.breaker_opened is not None]
        ),
        password_lines=sum(r.password_lines or 0 for r in runs),
        password_answers=sum(r.password_answers or 0 for r in runs),
        lines_scanned=sum(r.lines_scanned for r in runs),
        worker_restarts=sum(
            max(0, (r.worker_boots or WORKERS) - WORKERS) for r in runs
        ),
        live_met=sum(r.live_ok for r in runs),
        ready_met=sum(r.ready_ok for r in runs),
        settled_met=sum(r.settled_ok for r in runs),
        flat_out_fast_met=sum(r.flat_out_fast for r in runs),
        recovered_met=sum(r.recovered_ok for r in runs),
        secret_met=sum(r.secret_ok for r in runs),
        vs_baseline={} if baseline is None else same_round_ratios(runs, baseline),
        errors=[f"round {r.round}: {e}" for r in runs for e in r.errors],
    )


def versus(ratios: dict[str, float | None], name: str, base: bool) -> str:
    """A cell's ` (0.50x)` against the baseline; nothing in the baseline's own row."""
    return "" if base else f" ({times(ratios.get(name))})"


def table(summaries: dict[tuple[str, str, str], Summary]) -> str:
    rows = [
        "| framework | fault | version | healthy /notes/1: req/s (vs base)"
        " | 200s/s (share) | p50 / p99 ms | settled outage, flat out: answers in"
        f" {SETTLED_SECONDS:g} s (vs base) | p50 / p95 / p99 ms | p95 vs base"
        " | app's p95 ms | 503 / JSON / Retry-After | timeouts"
        f" | paced ({CLIENTS} x {1000 // PACED_INTERVAL_MS}/s): p50 / p95 / p99 ms"
        " | p95 vs base | app's p95 ms"
        " | live probes failed (max s) | of them behind queued connections"
        " (accept queue max) | ready not 503 in 1 s (max s)"
        " | recovery s | breaker opened | password lines / answers (lines scanned)"
        " | targets met: live / ready / 503 fast / recovers / no password"
        " | flat-out p95 < 100 ms |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:"
        "|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for (framework, fault, version), s in summaries.items():
        ratio = s.vs_baseline
        base = version == "baseline"
        cells = [
            framework,
            fault,
            version,
            cell(s.healthy_rps) + versus(ratio, "healthy_rps", base),
            f"{cell(s.healthy_200_rps)}{versus(ratio, 'healthy_200_rps', base)}"
            f" ({percent(s.healthy_200_share)})",
            cell(s.healthy_p50_ms, s.healthy_p99_ms),
            cell(s.settled_answers) + versus(ratio, "settled_answers", base),
            cell(s.settled_p50_ms, s.settled_p95_ms, s.settled_p99_ms),
            "" if base else times(ratio.get("settled_p95_ms")),
            cell(s.settled_app_p95_ms),
            f"{percent(s.settled_503_share)} / {percent(s.settled_json_share)}"
            f" / {percent(s.settled_retry_after_share)}",
            cell(s.settled_timeouts),
            cell(s.paced_p50_ms, s.paced_p95_ms, s.paced_p99_ms),
            "" if base else times(ratio.get("paced_p95_ms")),
            cell(s.paced_app_p95_ms),
            f"{cell(s.live_probes_failed, s.live_probes)} ({cell(s.live_probe_max_s)})",
            f"{s.live_failures_behind_queue} of {s.live_failures}"
            f" ({cell(s.accept_queue_max)})",
            f"{cell(s.ready_probes_not_503, s.ready_probes)}"
            f" ({cell(s.ready_probe_max_s)})",
            cell(s.recovery_s),
            cell(s.breaker_opened),
            f"{s.password_lines} / {s.password_answers} ({s.lines_scanned})",
            " / ".join(
                met(n, s.rounds)
                for n in (
                    s.live_met,
                    s.ready_met,
                    s.settled_met,
                    s.recovered_met,
                    s.secret_met,
                )
            ),
            met(s.flat_out_fast_met, s.rounds),
        ]
        rows.append(markdown_row(cells))
    return "\n".join(rows)


def chart(summaries: dict[tuple[str, str, str], Summary], path: Path) -> bool:
    """Six panels, one group per (framework, fault), baseline and current side by
    side; a dashed line marks each target. Drawn when matplotlib is importable."""
    plt = pyplot()
    if plt is None:
        return False
    groups = sorted({(fw, fault) for fw, fault, _ in summaries})
    labels = [f"{fw}\n{fault}" for fw, fault in groups]
    width = 0.4
    figure, panels = plt.subplots(1, 6, figsize=(26, 4.8))
    panel_specs: list[tuple[str, Callable[[Summary], float | None], float | None, str]]
    panel_specs = [
        (
            "settled outage, paced: /notes p95 (ms, log)",
            lambda s: s.paced_p95_ms,
            TARGET_P95_MS,
            "%.0f",
        ),
        (
            "settled outage, flat out: /notes p95 (ms, log)",
            lambda s: s.settled_p95_ms,
            TARGET_P95_MS,
            "%.0f",
        ),
        (
            f"settled outage, flat out: answers in {SETTLED_SECONDS:g} s (log)",
            lambda s: s.settled_answers,
            None,
            "%.0f",
        ),
        (
            "recovery after PostgreSQL returns (s)",
            lambda s: s.recovery_s,
            TARGET_RECOVERY_SECONDS,
            "%.1f",
        ),
        (
            "slowest /health/live probe (s)",
            lambda s: s.live_probe_max_s,
            TARGET_PROBE_SECONDS,
            "%.2f",
        ),
        ("healthy /notes/1: 200s per s", lambda s: s.healthy_200_rps, None, "%.0f"),
    ]
    for axes, (title, value, target, fmt) in zip(panels, panel_specs, strict=True):
        for v, version in enumerate(VERSIONS):
            found = [summaries.get((fw, fault, version)) for fw, fault in groups]
            heights = [value(s) if s else None for s in found]
            drawn = axes.bar(
                [g - width / 2 + v * width for g in range(len(groups))],
                [h or 0.0 for h in heights],
                width,
                color=f"C{v}",
                label=version,
            )
            axes.bar_label(
                drawn,
                labels=["n/a" if h is None else fmt % h for h in heights],
                fontsize=7,
                padding=2,
            )
        if target is not None:
            axes.axhline(target, color="grey", linestyle="--", linewidth=1)
        axes.set_xticks(range(len(groups)), labels)
        axes.set_title(title, fontsize=10)
        axes.margins(y=0.15)
    for logarithmic in panels[:3]:
        logarithmic.set_yscale("log")
    handles, names = panels[0].get_legend_handles_labels()
    described = {
        "baseline": "baseline (breaker never opens)",
        "current": "current (breaker opens after 5 failures)",
    }
    figure.legend(
        handles,
        [described[name] for name in names],
        loc="lower center",
        ncol=2,
        frameon=False,
    )
    figure.tight_layout(rect=(0, 0.08, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return True


# --- main ----------------------------------------------------------------------------


def template_state() -> dict[str, Any]:
    """The commit HEAD names, and what the working tree changes on top of it: Copier
    renders both."""

    def git(*arguments: str) -> str:
        return subprocess.run(
            ["git", *arguments], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout

    changed = [line[3:] for line in git("status", "--porcelain").splitlines()]
    return {
        "ref": TEMPLATE_REF,
        "commit": git("rev-parse", "HEAD").strip(),
        "uncommitted_paths": len(changed),
        "uncommitted_in_template": sorted(
            p for p in changed if p.startswith(("template/", "copier.yml"))
        ),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, default=RESULTS / "database_faults.json")
    parser.add_argument("--chart", type=Path, default=RESULTS / "database_faults.png")
    parser.add_argument(
        "--logs",
        type=Path,
        help="keep each run's service and PostgreSQL controller logs in this folder",
    )
    args = parser.parse_args()
    require_tools("wrk")
    began = time.monotonic()
    sampler = LoadSampler()
    template = template_state()
    runs: list[Run] = []
    locked: dict[str, dict[str, str]] = {}
    postgres_version = ""
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        logs = args.logs or workdir
        logs.mkdir(parents=True, exist_ok=True)
        scripts = Scripts(workdir / "count-answers.lua", workdir / "paced.lua")
        scripts.flat_out.write_text(WRK_SCRIPT)
        scripts.paced.write_text(PACED_SCRIPT)
        projects = {}
        for framework in FRAMEWORKS:
            variant = Variant(framework, False, DEPLOY_TARGETS[0], "postgresql")
            project = variant_project(variant, workdir)
            projects[framework] = project
            locked[framework] = locked_versions(project, DATABASE_PACKAGES)
        generated_s = round(time.monotonic() - began, 1)
        for number in range(1, args.rounds + 1):
            # Alternate which version runs first, so neither always has the quieter
            # machine.
            order = VERSIONS if number % 2 else VERSIONS[::-1]
            for framework in FRAMEWORKS:
                for fault in FAULTS:
                    for version in order:
                        runs.append(
                            one_run(
                                framework,
                                version,
                                fault,
                                number,
                                projects[framework],
                                logs,
                                scripts,
                            )
                        )
        launcher = PostgreSQL(projects[FRAMEWORKS[0]], workdir)
        try:
            postgres_version = launcher.version()
        finally:
            launcher.close()
    summaries: dict[tuple[str, str, str], Summary] = {}
    for framework in FRAMEWORKS:
        for fault in FAULTS:
            of = {
                version: [
                    r
                    for r in runs
                    if (r.framework, r.fault, r.version) == (framework, fault, version)
                ]
                for version in VERSIONS
            }
            summaries[framework, fault, "baseline"] = summarise(of["baseline"], None)
            summaries[framework, fault, "current"] = summarise(
                of["current"], of["baseline"]
            )
    wall = round(time.monotonic() - began, 1)
    machine_load = sampler.stop()
    print()
    print(table(summaries))
    for key, s in summaries.items():
        if s.healthy_refusals:
            found = ", ".join(f"{name} {n}" for name, n in s.healthy_refusals.items())
            print(f"healthy window's 503s, {' '.join(key)}: {found}")
    for key, s in summaries.items():
        for error in s.errors:
            print(f"error: {' '.join(key)}: {error}")
    loads = [r.load_1m for r in runs]
    print(
        f"\n{args.rounds} rounds, medians; wall time {wall} s (generating and"
        f" installing {generated_s} s), {os.cpu_count()} CPUs"
    )
    print(
        f"1-minute load average: at run starts median {statistics.median(loads):g},"
        f" max {max(loads):g}; sampled every {LOAD_SAMPLE_SECONDS:g} s: min"
        f" {machine_load['1m_min']:g}, median {machine_load['1m_median']:g},"
        f" max {machine_load['1m_max']:g}"
    )
    report = {
        "wall_seconds": wall,
        "generate_and_install_seconds": generated_s,
        "cpus": os.cpu_count(),
        "load_1m": {"median": statistics.median(loads), "max": max(loads)},
        "machine_load": machine_load,
        "python": sys.version.split()[0],
        "template": template,
        "answers": "redis_sessions=false, database=postgresql, other answers default",
        "versions": {
            "wrk": tool_version("wrk"),
            "postgres": postgres_version,
            "locked": locked,
        },
        "baseline": "the current service with "
        + ", ".join(f"{k}={v}" for k, v in VERSION_SETTINGS["baseline"].items())
        + ": its breaker never opens",
        "environment": {
            "APP_ENV": "production",
            "SECRET_KEY": "48 random characters, new for every run",
            "LOG_LEVEL": "info",
            "DATABASE_URL": "postgresql://postgres:<random password>@127.0.0.1:"
            "<port>/notes, a PostgreSQL for every run",
            "WEB_CONCURRENCY": str(WORKERS),
            "PORT": "a free port, new for every run",
        },
        "load": {
            "clients": CLIENTS,
            "wrk_threads": WRK_THREADS,
            "client_timeout": CLIENT_TIMEOUT,
            "healthy_s": HEALTHY_SECONDS,
            "settle_s": SETTLE_SECONDS,
            "settled_s": SETTLED_SECONDS,
            "paced_s": PACED_SECONDS,
            "paced_interval_ms": PACED_INTERVAL_MS,
            "probe_interval_s": PROBE_INTERVAL_SECONDS,
            "probe_timeout_s": PROBE_TIMEOUT_SECONDS,
        },
        "targets": {
            "live": "every /health/live probe 200 within 1 s",
            "ready": "every /health/ready probe during the outage 503 within 1 s",
            "settled": "from 3 s into the outage every /notes answer a JSON 503 with "
            "Retry-After, no timeout, flat out and paced; paced p95 < "
            f"{TARGET_P95_MS:g} ms",
            "recovers": f"/notes 200 within {TARGET_RECOVERY_SECONDS:g} s of "
            "PostgreSQL returning, the service and its workers never restarted",
            "no password": "the DATABASE_URL's password in no line of output and in "
            "no answer",
        },
        "ratios": "current / baseline: the median over the rounds of the same "
        "round's ratio",
        "medians": {" ".join(key): asdict(s) for key, s in summaries.items()},
        "runs": [asdict(r) for r in runs],
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.json}")
    if chart(summaries, args.chart):
        print(f"wrote {args.chart}")
    else:
        print("no chart: run with `uv run --with matplotlib` to draw one")
    return 0


if __name__ == "__main__":
    sys.exit(main())
