"""Does the generated Flask service's own server hold up against the alternatives?

The generated service serves with `python -m order_service`: gunicorn, driven from its
Settings, with the service's own gevent worker class (`order_service.server.
GeventWorker`, which yields after each request and closes idle keep-alive connections on
stop) behind a master that drains for DRAIN_SECONDS before it stops. This benchmark runs
that entry point exactly as in production and, in the same run, the same app (sessions
on, from one venv, against one real redis-server) on the alternatives:

- generated (python -m order_service): WEB_CONCURRENCY=2, PORT, APP_ENV=production,
  a 48-character SECRET_KEY, REDIS_URL, LOG_LEVEL=info and DRAIN_SECONDS=0 (so that
  stops are quick); everything else is the service's default (1000 connections per
  worker, 75 s keep-alive, 20 s graceful timeout). It is the row the README quotes;
- gunicorn gthread, 8 threads, from the CLI (the baseline every ratio divides by);
- gunicorn gevent: gunicorn's plain gevent worker, 1000 connections, from its CLI;
- granian in WSGI mode, 8 blocking threads (skipped if it does not install).

Every candidate runs 2 workers with APP_ENV=production, and starts afresh for each
scenario:

- throughput: wrk -t2 -c32 -d5s --latency (after a 2 s warm-up) on /health/live, and on
  /visits reusing one session cookie. Besides req/s and p50/p99 latency, the report
  gives req/s and p99 relative to gthread: for each round, the candidate's value divided
  by gthread's in the same round, then the median over the rounds (the machine is
  shared and noisy, so only ratios measured close together in time mean much);
- slow clients: 50 connections each send a request line and a Host header, then one
  header byte every 5 s, never finishing, for 15 s; meanwhile a probe every 0.5 s opens
  a fresh connection to /health/live with a 1 s timeout, as a kubelet does;
- Redis frozen under load: 64 keep-alive clients hammer /visits (5 s client timeout);
  after 3 s redis-server gets SIGSTOP for 10 s, then SIGCONT; a probe every 1 s checks
  /health/live during the freeze. /visits requests overlapping the freeze are counted by
  outcome: 200, 503 (the app's answer to a Redis error) or client timeout;
- SIGTERM with an idle keep-alive connection: one request on a keep-alive connection,
  which then stays open and idle; 0.5 s later SIGTERM to the master: its exit code and
  how long it took to exit. gunicorn waits for every open connection, so a worker that
  does not close idle ones waits out its graceful timeout;
- every run ends with SIGTERM to the master: its exit code, and whether each stdout line
  is JSON (with the CLIs, gunicorn's own lines are plain text on stderr; the app's
  lines, and all of the generated server's, are JSON).

Candidates alternate within each round (the order rotates) and the table shows medians
over the rounds. wrk shares the machine's CPUs with the server, so absolute numbers
are of this machine only; compare candidates with each other.

    uv run python benchmarks/flask_servers.py [--rounds 3] [--json PATH] [--chart PATH]
    uv run --with matplotlib python benchmarks/flask_servers.py   # also draws the chart

Needs redis-server and wrk on PATH (`apt-get install -y redis-server wrk`).
"""

import argparse
import contextlib
import http.client
import json
import multiprocessing
import os
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any, ClassVar

from benchmarks.common import (
    WRK_CONNECTIONS,
    Throughput,
    cell,
    install_extra,
    markdown_row,
    median,
    parse_wrk,
    pyplot,
    require_tools,
    session_cookie,
    times,
    tool_version,
    wrk,
)
from hooks.projects import (
    DEPLOY_TARGETS,
    PACKAGE,
    Variant,
    uv_environment,
    variant_project,
)
from hooks.questions import ROOT
from hooks.servers import (
    HOST,
    NotReadyError,
    RedisServer,
    ServerProcess,
    free_port,
    http_status,
)

RESULTS = ROOT / "benchmarks" / "results"
WORKERS = 2
THREADS = 8
WORKER_CONNECTIONS = 1000

WARMUP_SECONDS = 2
WRK_SECONDS = 5

PROBE_TIMEOUT_SECONDS = 1.0
SLOW_CLIENTS = 50
SLOW_BYTE_INTERVAL_SECONDS = 5.0
SLOW_SECONDS = 15.0
SLOW_PROBE_INTERVAL_SECONDS = 0.5

FREEZE_CLIENTS = 64
FREEZE_CLIENT_TIMEOUT_SECONDS = 5.0
LOAD_BEFORE_FREEZE_SECONDS = 3.0
FREEZE_SECONDS = 10.0
FREEZE_PROBE_INTERVAL_SECONDS = 1.0
LOAD_AFTER_FREEZE_SECONDS = 3.0

IDLE_BEFORE_SIGTERM_SECONDS = 0.5
SIGTERM_WAIT_SECONDS = 40.0


# --- candidates ----------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    name: str
    package: str | None  # the distribution it needs beyond the generated project
    command: Callable[[Path, str], list[str]]  # (venv bin folder, port) -> argv
    env: dict[str, str] = field(default_factory=dict)  # beyond the common environment


def generated_command(bin_dir: Path, _: str) -> list[str]:
    # The production entry point: it reads its port and worker count from PORT and
    # WEB_CONCURRENCY, which every candidate gets.
    return [str(bin_dir / "python"), "-m", PACKAGE]


def gunicorn_command(worker_args: list[str]) -> Callable[[Path, str], list[str]]:
    def command(bin_dir: Path, port: str) -> list[str]:
        return [
            str(bin_dir / "gunicorn"),
            *worker_args,
            "--workers",
            str(WORKERS),
            "--bind",
            f"{HOST}:{port}",
            # The generated server's production values.
            "--keep-alive",
            "75",
            "--graceful-timeout",
            "20",
            "--log-level",
            "info",
            "--no-control-socket",
            f"{PACKAGE}.server:build_app()",
        ]

    return command


def granian_command(bin_dir: Path, port: str) -> list[str]:
    return [
        str(bin_dir / "granian"),
        "--interface",
        "wsgi",
        "--workers",
        str(WORKERS),
        "--blocking-threads",
        str(THREADS),
        "--host",
        HOST,
        "--port",
        port,
        "--log-level",
        "info",
        "--factory",
        f"{PACKAGE}.server:build_app",
    ]


GENERATED = f"generated (python -m {PACKAGE})"
BASELINE = "gunicorn gthread"

CANDIDATES = (
    Candidate(
        GENERATED,
        None,
        generated_command,
        # Production's setting is 5 s; with 0 a stop is gunicorn's graceful stop alone.
        env={"DRAIN_SECONDS": "0"},
    ),
    Candidate(
        BASELINE,
        None,  # gunicorn and gevent are the generated service's own dependencies
        gunicorn_command(["--worker-class", "gthread", "--threads", str(THREADS)]),
    ),
    Candidate(
        "gunicorn gevent",
        None,
        gunicorn_command(
            [
                "--worker-class",
                "gevent",
                "--worker-connections",
                str(WORKER_CONNECTIONS),
            ]
        ),
    ),
    Candidate("granian wsgi", "granian", granian_command),
)


# --- results -------------------------------------------------------------------------


@dataclass
class Probes:
    failed: int
    total: int
    max_latency_s: float


@dataclass
class Freeze:
    live: Probes
    # /visits requests whose time in flight overlapped the freeze, by outcome.
    visits: dict[str, int]
    # Outcomes of requests sent from 1 s after SIGCONT: did the service recover?
    visits_after: dict[str, int]


@dataclass
class Shutdown:
    scenario: str
    exit_code: int | None  # None: still running SIGTERM_WAIT_SECONDS after SIGTERM
    seconds: float
    stdout_lines: int
    stdout_json_lines: int
    stdout_example_not_json: str | None
    stderr_lines: int


@dataclass
class IdleStop:
    # Whether the server kept the connection open after its answer: if not, there was
    # no idle connection to hold up the stop.
    kept_alive: bool
    shutdown: Shutdown


@dataclass
class Round:
    candidate: str
    round: int
    startup_s: list[float] = field(default_factory=list)
    # The machine's 1-minute load average as each scenario starts, the benchmark's own
    # load included: other work on a shared machine shows here.
    load_1m: list[float] = field(default_factory=list)
    live: Throughput | None = None
    visits: Throughput | None = None
    slow_clients: Probes | None = None
    redis_freeze: Freeze | None = None
    idle_stop: IdleStop | None = None
    # The stops that end the load scenarios (the idle keep-alive stop is idle_stop).
    shutdowns: list[Shutdown] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


# --- environment ---------------------------------------------------------------------


def versions(project: Path) -> dict[str, str]:
    script = (
        "import importlib.metadata as m, json\n"
        "names = ('flask', 'redis', 'gunicorn', 'gevent', 'granian')\n"
        "found = {}\n"
        "for name in names:\n"
        "    try:\n"
        "        found[name] = m.version(name)\n"
        "    except m.PackageNotFoundError:\n"
        "        pass\n"
        "print(json.dumps(found))\n"
    )
    out = subprocess.run(
        [str(project / ".venv/bin/python"), "-c", script],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found: dict[str, str] = json.loads(out)
    for tool in ("wrk", "redis-server"):
        found[tool] = tool_version(tool)
    return found


# --- HTTP helpers --------------------------------------------------------------------


def probe(port: int, path: str = "/health/live") -> tuple[bool, float]:
    """One kubelet-style probe: a fresh connection, a total budget of 1 s."""
    started = time.monotonic()
    ok = http_status(port, path, timeout=PROBE_TIMEOUT_SECONDS) == 200
    elapsed = time.monotonic() - started
    return ok and elapsed <= PROBE_TIMEOUT_SECONDS, elapsed


def probe_on_schedule(port: int, interval: float, count: int) -> Probes:
    """Probe at fixed ticks, each in its own thread, so a hung probe delays no other."""
    outcomes: list[tuple[bool, float]] = []
    lock = threading.Lock()

    def one() -> None:
        outcome = probe(port)
        with lock:
            outcomes.append(outcome)

    threads = []
    start = time.monotonic()
    for tick in range(count):
        time.sleep(max(0.0, start + tick * interval - time.monotonic()))
        thread = threading.Thread(target=one)
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()
    return Probes(
        failed=sum(1 for ok, _ in outcomes if not ok),
        total=len(outcomes),
        max_latency_s=round(max(elapsed for _, elapsed in outcomes), 3),
    )


# --- one server run ------------------------------------------------------------------


class Server(ServerProcess):
    """One candidate, started for one scenario and stopped with SIGTERM."""

    # Started and not yet reaped: killed if the benchmark itself fails, since each runs
    # in a session of its own and would outlive it.
    running: ClassVar[set["Server"]] = set()

    def __init__(
        self, candidate: Candidate, project: Path, redis_url: str, logs: Path
    ) -> None:
        port = free_port()
        env = uv_environment(
            APP_ENV="production",
            SECRET_KEY=secrets.token_urlsafe(36),  # 48 characters
            LOG_LEVEL="info",
            REDIS_URL=redis_url,
            WEB_CONCURRENCY=str(WORKERS),
            PORT=str(port),
            **candidate.env,
        )
        super().__init__(logs.name, logs.parent, env)
        started = time.monotonic()
        Server.running.add(self)
        try:
            command = candidate.command(project / ".venv" / "bin", str(port))
            self.launch(command, project, timeout=30)
        except NotReadyError:
            self.kill()
            raise
        self.startup_s = round(time.monotonic() - started, 3)

    def output(self) -> str:
        logs = (
            path.read_text(errors="replace")
            for path in (self.stderr_path, self.stdout_path)
        )
        return " | ".join(log[-1500:] for log in logs)

    def kill(self) -> None:
        super().kill()
        Server.running.discard(self)

    def stop(self, scenario: str) -> Shutdown:
        self.started.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        exit_code: int | None
        try:
            exit_code = self.started.wait(timeout=SIGTERM_WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            exit_code = None
        seconds = round(time.monotonic() - sent, 3)
        # Workers that outlive their master would skew the next run.
        self.kill()
        lines = self.stdout_path.read_text(errors="replace").splitlines()
        not_json = [line for line in lines if not is_json_object(line)]
        stderr = self.stderr_path.read_text(errors="replace")
        return Shutdown(
            scenario=scenario,
            exit_code=exit_code,
            seconds=seconds,
            stdout_lines=len(lines),
            stdout_json_lines=len(lines) - len(not_json),
            stdout_example_not_json=not_json[0][:200] if not_json else None,
            stderr_lines=len(stderr.splitlines()),
        )


def is_json_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


# --- scenarios -----------------------------------------------------------------------


def throughput(server: Server, path: str, cookie: bool) -> Throughput:
    headers = [f"Cookie: {session_cookie(server.port)}"] if cookie else []
    wrk(server.url + path, WARMUP_SECONDS, headers)
    return parse_wrk(wrk(server.url + path, WRK_SECONDS, headers))


def slow_clients(server: Server) -> Probes:
    # A header that never ends: each connection stays a partially received request.
    trickle = b"X-Never-Finishing-Header: " + b"a" * 64
    connections = []
    for _ in range(SLOW_CLIENTS):
        sock = socket.create_connection((HOST, server.port), timeout=5)
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n")
        connections.append(sock)
    stop = threading.Event()

    def trickle_bytes() -> None:
        sent = 0
        while not stop.wait(SLOW_BYTE_INTERVAL_SECONDS):
            for sock in connections:
                # A server that closed it gave up on it: that is its defence.
                with contextlib.suppress(OSError):
                    sock.sendall(trickle[sent : sent + 1])
            sent += 1

    trickler = threading.Thread(target=trickle_bytes)
    trickler.start()
    try:
        return probe_on_schedule(
            server.port,
            SLOW_PROBE_INTERVAL_SECONDS,
            int(SLOW_SECONDS / SLOW_PROBE_INTERVAL_SECONDS),
        )
    finally:
        stop.set()
        trickler.join()
        for sock in connections:
            sock.close()


def idle_keep_alive_stop(server: Server) -> IdleStop:
    """SIGTERM while a kept-alive connection sits idle, waiting for its next request."""
    connection = http.client.HTTPConnection(HOST, server.port, timeout=5)
    try:
        connection.request("GET", "/health/live")
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"/health/live answered {response.status}")
        kept_alive = not response.will_close
        time.sleep(IDLE_BEFORE_SIGTERM_SECONDS)
        return IdleStop(kept_alive=kept_alive, shutdown=server.stop("idle-keep-alive"))
    finally:
        connection.close()


Outcome = tuple[float, float, str]  # started, ended (monotonic), outcome


def hammer_visits(
    port: int,
    cookie: str,
    seconds: float,
    ready: Event,
    results: "Queue[list[Outcome]]",
) -> None:
    """The /visits load, in its own process: 64 client threads in the prober's process
    would take the GIL from it, and a slow prober would look like a slow server."""
    deadline = time.monotonic() + seconds
    outcomes: list[Outcome] = []
    lock = threading.Lock()

    def client() -> None:
        connection = http.client.HTTPConnection(
            HOST, port, timeout=FREEZE_CLIENT_TIMEOUT_SECONDS
        )
        mine: list[Outcome] = []
        while (started := time.monotonic()) < deadline:
            try:
                connection.request("GET", "/visits", headers={"Cookie": cookie})
                response = connection.getresponse()
                response.read()
                outcome = str(response.status)
            except TimeoutError:
                outcome = "timeout"
            except (OSError, http.client.HTTPException) as error:
                outcome = type(error).__name__
            if not outcome.isdigit():
                connection.close()  # the next request opens a new connection
            mine.append((started, time.monotonic(), outcome))
        connection.close()
        with lock:
            outcomes.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(FREEZE_CLIENTS)]
    for thread in threads:
        thread.start()
    ready.set()
    for thread in threads:
        thread.join()
    results.put(outcomes)


def count(outcomes: list[Outcome]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _, _, outcome in outcomes:
        counts[outcome] = counts.get(outcome, 0) + 1
    return dict(sorted(counts.items()))


def redis_freeze(server: Server, redis: RedisServer) -> Freeze:
    cookie = session_cookie(server.port)
    # spawn, not fork: this process has threads, and forking them is unsafe.
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    results: Queue[list[Outcome]] = context.Queue()
    seconds = LOAD_BEFORE_FREEZE_SECONDS + FREEZE_SECONDS + LOAD_AFTER_FREEZE_SECONDS
    loader = context.Process(
        target=hammer_visits, args=(server.port, cookie, seconds, ready, results)
    )
    loader.start()
    if not ready.wait(30):
        loader.kill()
        raise RuntimeError("the /visits load did not start")
    time.sleep(LOAD_BEFORE_FREEZE_SECONDS)
    probes: list[Probes] = []
    # Probes at 0, 1, ... 9 s into the freeze: each has its answer (or its timeout)
    # before SIGCONT.
    prober = threading.Thread(
        target=lambda: probes.append(
            probe_on_schedule(
                server.port,
                FREEZE_PROBE_INTERVAL_SECONDS,
                int(FREEZE_SECONDS / FREEZE_PROBE_INTERVAL_SECONDS),
            )
        )
    )
    redis.freeze()
    frozen_at = time.monotonic()
    try:
        prober.start()
        time.sleep(FREEZE_SECONDS)
    finally:
        redis.thaw()
    thawed_at = time.monotonic()
    prober.join()
    # Read before joining: a child blocks on exit until its queued data is read.
    outcomes = results.get(timeout=60)
    loader.join()
    return Freeze(
        live=probes[0],
        visits=count([o for o in outcomes if o[0] < thawed_at and o[1] > frozen_at]),
        visits_after=count([o for o in outcomes if o[0] > thawed_at + 1]),
    )


# --- rounds and report ---------------------------------------------------------------


SCENARIOS = ("throughput", "slow-clients", "redis-freeze", "idle-keep-alive")


def run_round(
    candidate: Candidate,
    number: int,
    project: Path,
    redis: RedisServer,
    logs: Path,
) -> Round:
    result = Round(candidate=candidate.name, round=number)
    slug = re.sub(r"[^a-z0-9]+", "-", candidate.name.lower()).strip("-")
    for scenario in SCENARIOS:
        load = round(os.getloadavg()[0], 2)
        result.load_1m.append(load)
        print(f"round {number}: {candidate.name}: {scenario} (load {load})", flush=True)
        try:
            server = Server(
                candidate, project, redis.url, logs / f"{slug}-{number}-{scenario}"
            )
        except RuntimeError as error:
            result.errors.append(f"{scenario}: {error}")
            continue
        result.startup_s.append(server.startup_s)
        try:
            if scenario == "throughput":
                result.live = throughput(server, "/health/live", cookie=False)
                result.visits = throughput(server, "/visits", cookie=True)
            elif scenario == "slow-clients":
                result.slow_clients = slow_clients(server)
            elif scenario == "redis-freeze":
                result.redis_freeze = redis_freeze(server, redis)
            else:
                result.idle_stop = idle_keep_alive_stop(server)
        # A candidate that breaks in one scenario still gets measured in the others.
        except (OSError, RuntimeError, subprocess.CalledProcessError) as error:
            result.errors.append(f"{scenario}: {type(error).__name__}: {error}")
        finally:
            if scenario == "idle-keep-alive" and result.idle_stop is not None:
                pass  # the scenario's own SIGTERM stopped it
            elif server.started.poll() is None:
                result.shutdowns.append(server.stop(scenario))
            else:
                result.errors.append(f"{scenario}: exited {server.started.returncode}")
                server.kill()
    return result


def ratios(
    rounds: list[Round],
    baseline: list[Round],
    value: Callable[[Round], float | None],
) -> float | None:
    """Median over the rounds of value(candidate) / value(baseline), same round only."""
    theirs = {r.round: value(r) for r in baseline}
    found = []
    for r in rounds:
        mine, base = value(r), theirs.get(r.round)
        if mine is not None and base:
            found.append(mine / base)
    return round(statistics.median(found), 2) if found else None


@dataclass
class Summary:
    """Medians over the rounds of one candidate (None: no round measured it)."""

    live_rps: float | None
    live_p50_ms: float | None
    live_p99_ms: float | None
    visits_rps: float | None
    visits_p50_ms: float | None
    visits_p99_ms: float | None
    # Relative to the baseline (gthread): median of the per-round ratios.
    live_rps_vs_baseline: float | None
    live_p99_vs_baseline: float | None
    visits_rps_vs_baseline: float | None
    visits_p99_vs_baseline: float | None
    wrk_errors: int
    slow_probes_failed: float | None
    slow_probes_total: float | None
    slow_probe_max_s: float | None
    freeze_probes_failed: float | None
    freeze_probes_total: float | None
    freeze_probe_max_s: float | None
    freeze_visits: dict[str, float | None]
    after_freeze_visits_ok: float | None
    after_freeze_visits_failed: float | None
    sigterm_exit_codes: list[int | None]
    sigterm_exit_max_s: float | None
    # SIGTERM with one idle kept-alive connection open.
    idle_stop_exit_codes: list[int | None]
    idle_stop_s: float | None
    idle_stop_max_s: float | None
    idle_stop_kept_alive: bool | None  # False: the server had closed the connection
    stdout_json_lines: int
    stdout_lines: int
    startup_s: float | None
    errors: list[str]


def exit_codes(shutdowns: list[Shutdown]) -> list[int | None]:
    return sorted(
        {s.exit_code for s in shutdowns}, key=lambda code: (code is None, code or 0)
    )


def live_rps(r: Round) -> float | None:
    return r.live.requests_per_s if r.live else None


def live_p99(r: Round) -> float | None:
    return r.live.p99_ms if r.live else None


def visits_rps(r: Round) -> float | None:
    return r.visits.requests_per_s if r.visits else None


def visits_p99(r: Round) -> float | None:
    return r.visits.p99_ms if r.visits else None


def summarise(rounds: list[Round], baseline: list[Round]) -> Summary:
    live = [r.live for r in rounds if r.live]
    visits = [r.visits for r in rounds if r.visits]
    slow = [r.slow_clients for r in rounds if r.slow_clients]
    freeze = [r.redis_freeze for r in rounds if r.redis_freeze]
    idle = [r.idle_stop for r in rounds if r.idle_stop]
    shutdowns = [s for r in rounds for s in r.shutdowns]
    every_shutdown = shutdowns + [i.shutdown for i in idle]
    freeze_outcomes = sorted({key for f in freeze for key in f.visits})
    return Summary(
        live_rps=median([t.requests_per_s for t in live]),
        live_p50_ms=median([t.p50_ms for t in live]),
        live_p99_ms=median([t.p99_ms for t in live]),
        visits_rps=median([t.requests_per_s for t in visits]),
        visits_p50_ms=median([t.p50_ms for t in visits]),
        visits_p99_ms=median([t.p99_ms for t in visits]),
        live_rps_vs_baseline=ratios(rounds, baseline, live_rps),
        live_p99_vs_baseline=ratios(rounds, baseline, live_p99),
        visits_rps_vs_baseline=ratios(rounds, baseline, visits_rps),
        visits_p99_vs_baseline=ratios(rounds, baseline, visits_p99),
        wrk_errors=sum(
            t.non_2xx + sum(t.socket_errors.values()) for t in live + visits
        ),
        slow_probes_failed=median([p.failed for p in slow]),
        slow_probes_total=median([p.total for p in slow]),
        slow_probe_max_s=median([p.max_latency_s for p in slow]),
        freeze_probes_failed=median([f.live.failed for f in freeze]),
        freeze_probes_total=median([f.live.total for f in freeze]),
        freeze_probe_max_s=median([f.live.max_latency_s for f in freeze]),
        freeze_visits={
            key: median([f.visits.get(key, 0) for f in freeze])
            for key in freeze_outcomes
        },
        after_freeze_visits_ok=median([f.visits_after.get("200", 0) for f in freeze]),
        after_freeze_visits_failed=median(
            [sum(n for k, n in f.visits_after.items() if k != "200") for f in freeze]
        ),
        sigterm_exit_codes=exit_codes(shutdowns),
        sigterm_exit_max_s=max((s.seconds for s in shutdowns), default=None),
        idle_stop_exit_codes=exit_codes([i.shutdown for i in idle]),
        idle_stop_s=median([i.shutdown.seconds for i in idle]),
        idle_stop_max_s=max((i.shutdown.seconds for i in idle), default=None),
        idle_stop_kept_alive=all(i.kept_alive for i in idle) if idle else None,
        stdout_json_lines=sum(s.stdout_json_lines for s in every_shutdown),
        stdout_lines=sum(s.stdout_lines for s in every_shutdown),
        startup_s=median([s for r in rounds for s in r.startup_s]),
        errors=[f"round {r.round}: {e}" for r in rounds for e in r.errors],
    )


def codes(values: list[int | None]) -> str:
    return ", ".join("none (still running)" if c is None else str(c) for c in values)


def table(summaries: dict[str, Summary]) -> str:
    rows = [
        "| candidate | /health/live req/s | vs gthread | p50 / p99 ms | p99 vs gthread"
        " | /visits req/s | vs gthread | p50 / p99 ms | p99 vs gthread"
        " | slow clients: probes failed | max probe s | Redis frozen: probes failed"
        " | frozen: /visits 200 / 503 / timeout / other | after thaw: ok / failed"
        " | SIGTERM exit (max s) | SIGTERM, idle keep-alive open: exit, s (max)"
        " | stdout JSON lines |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|",
    ]
    for name, s in summaries.items():
        frozen = s.freeze_visits
        known = ("200", "503", "timeout")
        other = sum(n or 0 for k, n in frozen.items() if k not in known)
        idle_s = f"{cell(s.idle_stop_s)} ({cell(s.idle_stop_max_s)})"
        idle = f"{codes(s.idle_stop_exit_codes)}, {idle_s}"
        if s.idle_stop_kept_alive is False:
            idle += " (not kept alive)"
        cells = [
            name,
            cell(s.live_rps),
            times(s.live_rps_vs_baseline),
            cell(s.live_p50_ms, s.live_p99_ms),
            times(s.live_p99_vs_baseline),
            cell(s.visits_rps),
            times(s.visits_rps_vs_baseline),
            cell(s.visits_p50_ms, s.visits_p99_ms),
            times(s.visits_p99_vs_baseline),
            cell(s.slow_probes_failed, s.slow_probes_total),
            cell(s.slow_probe_max_s),
            cell(s.freeze_probes_failed, s.freeze_probes_total),
            cell(*(frozen.get(k, 0) for k in known), other),
            cell(s.after_freeze_visits_ok, s.after_freeze_visits_failed),
            f"{codes(s.sigterm_exit_codes)} ({cell(s.sigterm_exit_max_s)})",
            idle,
            f"{s.stdout_json_lines} of {s.stdout_lines}",
        ]
        rows.append(markdown_row(cells))
    return "\n".join(rows)


def share(failed: float | None, total: float | None) -> float | None:
    return 100 * failed / total if failed is not None and total else None


def chart(summaries: dict[str, Summary], path: Path) -> bool:
    """One panel per scenario, one bar per candidate, one legend below the panels.

    Drawn when matplotlib is importable (`uv run --with matplotlib`).
    """
    plt = pyplot()
    if plt is None:
        return False
    names = list(summaries)
    runs = list(summaries.values())
    width = 0.8 / len(names)
    colors = [f"C{i}" for i in range(len(names))]
    figure, panels = plt.subplots(1, 4, figsize=(18, 4.8))
    throughput_panel, slow_panel, frozen_panel, stop_panel = panels

    def bars(
        axes: Any, groups: list[str], values: list[list[float | None]], fmt: str
    ) -> None:
        """values[c][g]: candidate c in group g (None: not measured, drawn as n/a)."""
        for c, name in enumerate(names):
            offsets = [g - 0.4 + width * (c + 0.5) for g in range(len(groups))]
            heights = [v or 0.0 for v in values[c]]
            drawn = axes.bar(offsets, heights, width, color=colors[c], label=name)
            labels = ["n/a" if v is None else fmt % v for v in values[c]]
            axes.bar_label(drawn, labels=labels, fontsize=7, padding=2)
        axes.set_xticks(range(len(groups)), groups)
        axes.margins(y=0.15)  # room for the labels above the tallest bar

    bars(
        throughput_panel,
        ["/health/live", "/visits"],
        [[s.live_rps, s.visits_rps] for s in runs],
        "%.0f",
    )
    throughput_panel.set_title(f"throughput, wrk -c{WRK_CONNECTIONS} (median req/s)")
    bars(
        slow_panel,
        ["/health/live probes"],
        [[share(s.slow_probes_failed, s.slow_probes_total)] for s in runs],
        "%.0f%%",
    )
    slow_panel.set_title(f"{SLOW_CLIENTS} slow clients: probes failed (%)")
    bars(
        frozen_panel,
        ["/health/live probes"],
        [[share(s.freeze_probes_failed, s.freeze_probes_total)] for s in runs],
        "%.0f%%",
    )
    frozen_panel.set_title(f"Redis frozen, {FREEZE_CLIENTS} clients: probes failed (%)")
    for axes in (slow_panel, frozen_panel):
        axes.set_ylim(0, 115)  # 100 % and its label both fit inside the panel
    bars(
        stop_panel,
        ["SIGTERM to exit"],
        [[s.idle_stop_s] for s in runs],
        "%.2f s",
    )
    stop_panel.set_title("SIGTERM, one idle keep-alive open (median s)")
    # One legend for every panel, below them, where it can cover no bar.
    handles, labels = throughput_panel.get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=len(names), frameon=False)
    figure.tight_layout(rect=(0, 0.08, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, default=RESULTS / "flask_servers.json")
    parser.add_argument("--chart", type=Path, default=RESULTS / "flask_servers.png")
    args = parser.parse_args()
    require_tools("wrk", "redis-server")
    began = time.monotonic()
    rounds: list[Round] = []
    skipped: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        project = variant_project(Variant("flask", True, DEPLOY_TARGETS[0]), workdir)
        candidates = []
        for candidate in CANDIDATES:
            if candidate.package is None or install_extra(project, candidate.package):
                candidates.append(candidate)
            else:
                skipped[candidate.name] = f"`uv pip install {candidate.package}` failed"
        found = versions(project)
        logs = workdir / "logs"
        logs.mkdir()
        (workdir / "redis").mkdir()
        redis = RedisServer(workdir / "redis").start()
        try:
            for number in range(1, args.rounds + 1):
                # Rotate the order, so no candidate always runs first or last.
                shift = (number - 1) % len(candidates)
                for candidate in candidates[shift:] + candidates[:shift]:
                    rounds.append(run_round(candidate, number, project, redis, logs))
        finally:
            for server in list(Server.running):
                server.kill()
            redis.stop()
    baseline = [r for r in rounds if r.candidate == BASELINE]
    summaries = {
        c.name: summarise([r for r in rounds if r.candidate == c.name], baseline)
        for c in candidates
    }
    wall = round(time.monotonic() - began, 1)
    print()
    print(table(summaries))
    for name, reason in skipped.items():
        print(f"skipped {name}: {reason}")
    loads = [load for r in rounds for load in r.load_1m]
    print(f"\n{args.rounds} rounds, medians; wall time {wall} s, {os.cpu_count()} CPUs")
    if loads:
        print(
            f"1-minute load average at scenario starts: median "
            f"{statistics.median(loads):g}, max {max(loads):g}"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "wall_seconds": wall,
        "load_1m": {
            "median": statistics.median(loads) if loads else None,
            "max": max(loads, default=None),
        },
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "versions": found,
        "skipped": skipped,
        "baseline": BASELINE,
        "environment": {
            "APP_ENV": "production",
            "SECRET_KEY": "48 random characters, new for every run",
            "LOG_LEVEL": "info",
            "REDIS_URL": "redis://127.0.0.1:<port>/0, one redis-server for the run",
            "WEB_CONCURRENCY": str(WORKERS),
            "PORT": "a free port, new for every run",
        },
        "ratios": "median over the rounds of candidate / baseline in the same round",
        "candidates": {
            c.name: {"command": c.command(Path(".venv/bin"), "$PORT"), "env": c.env}
            for c in candidates
        },
        "medians": {name: asdict(s) for name, s in summaries.items()},
        "rounds": [asdict(r) for r in rounds],
    }
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.json}")
    if chart(summaries, args.chart):
        print(f"wrote {args.chart}")
    else:
        print("no chart: run with `uv run --with matplotlib` to draw one")
    return 0


if __name__ == "__main__":
    sys.exit(main())
