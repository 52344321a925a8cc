"""How close is a generated service to the bare framework it is built on?

Issue 11: a template's per-request overhead, start-up time and memory are paid by
every service built from it. For each framework the template (the commit HEAD names)
is generated with the defaults (Python: the one running this script) and installed
with uv. Beside it, in the same venv, runs the bare app: the framework's hello-world,
`GET /` answering a small JSON object. A second bare app adds `GET /visits`, the two
Redis round trips of a returning user's visit (read a JSON record, write it back with
a TTL) with the same client library and nothing else: the floor under the generated
`/visits`. Both run on the same production server with the generated server's
settings:

- Flask: gunicorn with its gevent workers, 1000 connections a worker, 75 s keep-alive;
- FastAPI: uvicorn (the same loop and HTTP parser), access log off, 75 s keep-alive.

Each gets APP_ENV=production, LOG_LEVEL=info and WEB_CONCURRENCY (1, then 2); the
generated service also a 48-character SECRET_KEY and a real redis-server. It runs as
its defaults have it, metrics on (Prometheus, every request observed) and tracing off;
and again with tracing on: OTEL_EXPORTER_OTLP_ENDPOINT names an OTLP sink that this
script runs for the whole run, which answers every export (POST /v1/traces) with 200
and counts the requests and bytes it receives, so that the report shows the spans
really left. `/health/*` is not traced (probes), so there `/health/live` shows only
what having the tracing machinery loaded costs; `/visits` a server span and the Redis
client's spans per request. A traced run whose sink received nothing did not trace:
that is an error of the run. In each round (default 3), for each framework and worker
count, the generated service, then the same with tracing on, and the bare app run one
after the other (bare first every other round: the order alternates), and each:

1. cold start: process start to the first 200 on `/health/ready` (bare: `/`), asked
   every 10 ms;
2. wrk -t2 -c32 over keep-alive, 2 s of warm-up then 5 s measured: `/health/live` and
   `/visits` as a returning user (one session cookie on every request) for the
   generated service (tracing on or off), `/` for the bare app, `/visits` for the
   bare app with Redis;
3. memory: the resident set (RSS) of the whole process tree after the load.

As context, the bare app's `/` also runs under granian (a Rust HTTP server for WSGI and
ASGI, installed into the venv for this benchmark only): how much the choice of server
leaves on the table. And once a round: `copier copy` with the defaults, then the
first `uv sync --locked` of what it wrote, with a warm uv cache.

Ratios are generated / bare within one round; the tables show their medians over the
rounds (the machine is shared and noisy: only figures measured close together in time
compare). Targets: /health/live >= 0.9 x bare `/`, /visits >= 0.5 x bare `/`, cold
start <= 1.5 x bare, RSS <= 1.4 x bare, all on the default, tracing off. The
generated `/visits` is also shown against the bare `/visits`, and the bare `/visits`
against the bare `/`: how much of the session's cost is the two round trips
themselves. With tracing on, the same ratios to the bare app, and `/visits` against
the untraced `/visits` (what tracing itself costs), are information, in a table of
their own: no target is judged on them.

    uv run python benchmarks/performance.py [--rounds 3] [--json PATH] [--chart PATH]
    uv run --with matplotlib python benchmarks/performance.py   # also draws the chart

Needs redis-server and wrk on PATH (`apt-get install -y redis-server wrk`).
"""

import argparse
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

from benchmarks.common import (
    WRK_CONNECTIONS,
    WRK_THREADS,
    Throughput,
    cell,
    commit_of,
    install_extra,
    installed_project,
    locked_versions,
    markdown_row,
    median,
    parse_wrk,
    pyplot,
    quotient,
    require_tools,
    session_cookie,
    times,
    tool_version,
    wrk,
)
from hooks.projects import (
    FRAMEWORKS,
    PACKAGE,
    RUNTIME_PYTHON,
    SYNC,
    run,
    uv_environment,
)
from hooks.questions import ROOT
from hooks.servers import HOST, RedisServer, ServerProcess, free_port, http_status

RESULTS = ROOT / "benchmarks" / "results"
WORKER_COUNTS = (1, 2)
WARMUP_SECONDS = 2
WRK_SECONDS = 5
READY_POLL_SECONDS = 0.01
START_TIMEOUT_SECONDS = 30
KEEP_ALIVE_SECONDS = "75"
WORKER_CONNECTIONS = "1000"

GENERATED = "generated"
GENERATED_TRACED = "generated, tracing on"
BARE = "bare"
BARE_REDIS = "bare with Redis"
GRANIAN = "bare on granian"
APPS = (GENERATED, GENERATED_TRACED, BARE, BARE_REDIS, GRANIAN)
GENERATED_APPS = (GENERATED, GENERATED_TRACED)
# Where the OTLP/HTTP exporter sends its spans, under OTEL_EXPORTER_OTLP_ENDPOINT.
TRACES_PATH = "/v1/traces"
PROTOBUF = "application/x-protobuf"

TARGETS = {
    "live_ratio": 0.9,  # at least
    "visits_ratio": 0.5,  # at least
    "cold_start_ratio": 1.5,  # at most
    "rss_ratio": 1.4,  # at most
}

MODULES = {BARE: "bare_app", GRANIAN: "bare_app", BARE_REDIS: "bare_redis_app"}
BARE_APPS = {
    "flask": '''"""The Flask hello-world."""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def index() -> dict[str, str]:
    return {"status": "ok"}
''',
    "fastapi": '''"""The FastAPI hello-world."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/")
async def index() -> dict[str, str]:
    return {"status": "ok"}
''',
}
# The hello-world, and a returning user's two Redis round trips with nothing around.
BARE_REDIS_APPS = {
    "flask": '''"""The Flask hello-world, and a visit's two Redis round trips."""

import json
import os

from flask import Flask
from redis import Redis

app = Flask(__name__)
redis = Redis.from_url(os.environ["REDIS_URL"])


@app.get("/")
def index() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/visits")
def visits() -> dict[str, int]:
    # One read and one write of a JSON record: what a returning user's session costs.
    stored = redis.get("bare:visits")
    count = (json.loads(stored)["visits"] if stored else 0) + 1
    redis.set("bare:visits", json.dumps({"visits": count}), ex=86400)
    return {"visits": count}
''',
    "fastapi": '''"""The FastAPI hello-world, and a visit's two Redis round trips."""

import json
import os

from fastapi import FastAPI
from redis.asyncio import Redis

app = FastAPI()
redis = Redis.from_url(os.environ["REDIS_URL"])


@app.get("/")
async def index() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/visits")
async def visits() -> dict[str, int]:
    # One read and one write of a JSON record: what a returning user's session costs.
    stored = await redis.get("bare:visits")
    count = (json.loads(stored)["visits"] if stored else 0) + 1
    await redis.set("bare:visits", json.dumps({"visits": count}), ex=86400)
    return {"visits": count}
''',
}


# --- serving -------------------------------------------------------------------------


def bare_command(
    framework: str, module: str, bin_dir: Path, port: int, workers: int
) -> list[str]:
    """The bare app on the generated service's server, with its settings."""
    if framework == "flask":
        return [
            str(bin_dir / "gunicorn"),
            *("--worker-class", "gevent", "--workers", str(workers)),
            *("--worker-connections", WORKER_CONNECTIONS),
            *("--keep-alive", KEEP_ALIVE_SECONDS, "--bind", f"{HOST}:{port}"),
            *("--log-level", "info", "--no-control-socket"),
            f"{module}:app",
        ]
    return [
        str(bin_dir / "uvicorn"),
        *("--host", HOST, "--port", str(port), "--workers", str(workers)),
        *("--timeout-keep-alive", KEEP_ALIVE_SECONDS, "--no-access-log"),
        *("--log-level", "info"),
        f"{module}:app",
    ]


def granian_command(
    framework: str, module: str, bin_dir: Path, port: int, workers: int
) -> list[str]:
    return [
        str(bin_dir / "granian"),
        *("--interface", "wsgi" if framework == "flask" else "asgi"),
        *("--workers", str(workers), "--host", HOST, "--port", str(port)),
        *("--log-level", "info"),
        f"{module}:app",
    ]


class OtlpSink(ThreadingHTTPServer):
    """Where the service with tracing on exports its spans: every POST to /v1/traces
    is answered as a collector would (200, an empty ExportTraceServiceResponse), and
    counted, not decoded."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__((HOST, 0), OtlpSinkHandler)
        self.lock = threading.Lock()
        self.requests = 0
        self.bytes = 0
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        """OTEL_EXPORTER_OTLP_ENDPOINT: the exporter appends TRACES_PATH."""
        return f"http://{HOST}:{self.server_port}"

    def received(self, size: int) -> None:
        with self.lock:
            self.requests += 1
            self.bytes += size

    def counts(self) -> tuple[int, int]:
        """The export requests and their bytes received so far."""
        with self.lock:
            return self.requests, self.bytes

    def start(self) -> "OtlpSink":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def handle_error(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any
    ) -> None:
        # Each traced service is killed after its run, its exporter's connection with
        # it: nothing to report. Anything else is, with its traceback.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class OtlpSinkHandler(BaseHTTPRequestHandler):
    # Keep-alive, as a collector answers: the exporter reuses its connection.
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == TRACES_PATH:
            cast("OtlpSink", self.server).received(len(body))
        self.send_response(200 if self.path == TRACES_PATH else 404)
        self.send_header("Content-Type", PROTOBUF)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the sink's counts are its report."""


class Server(ServerProcess):
    """One app on a free port, ready once `ready_path` answers 200."""

    def __init__(
        self, name: str, logs: Path, env: dict[str, str], ready_path: str
    ) -> None:
        super().__init__(name, logs, env)
        self.ready_path = ready_path

    def is_live(self) -> bool:
        return http_status(self.port, self.ready_path) == 200


def tree_rss_mib(pid: int) -> float:
    """The resident memory of a process and all its descendants, in MiB."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # After the command's name, in parentheses: state, then the parent's pid.
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(stat.parent.name))
    kib = 0
    todo = [pid]
    while todo:
        current = todo.pop()
        todo += children.get(current, [])
        try:
            status = (Path("/proc") / str(current) / "status").read_text()
        except OSError:
            continue
        kib += sum(
            int(line.split()[1])
            for line in status.splitlines()
            if line.startswith("VmRSS:")
        )
    return round(kib / 1024, 1)


# --- results -------------------------------------------------------------------------


@dataclass
class Measure:
    framework: str
    app: str
    workers: int
    round: int
    load_1m: float  # the machine's 1-minute load average as the run starts
    cold_start_s: float | None = None
    rss_mib: float | None = None
    by_path: dict[str, Throughput] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    # What the OTLP sink received while it ran: tracing on only.
    otlp_requests: int | None = None
    otlp_bytes: int | None = None


@dataclass
class Generation:
    round: int
    copier_copy_s: float
    uv_sync_s: float


def measure(
    framework: str,
    app: str,
    workers: int,
    number: int,
    project: Path,
    scratch: Path,
    redis: RedisServer,
    sink: OtlpSink,
) -> Measure:
    found = Measure(framework, app, workers, number, round(os.getloadavg()[0], 2))
    print(f"round {number}: {framework} {app}, {workers} worker(s)", flush=True)
    port = free_port()
    env = uv_environment(
        PORT=str(port),
        WEB_CONCURRENCY=str(workers),
        APP_ENV="production",
        LOG_LEVEL="info",
    )
    bin_dir = project / ".venv" / "bin"
    paths: tuple[str, ...]
    if app in GENERATED_APPS:
        # Tracing only where this run turns it on: none of the caller's OTEL_* pass.
        env = {k: v for k, v in env.items() if not k.startswith("OTEL_")}
        env |= {"SECRET_KEY": secrets.token_urlsafe(36), "REDIS_URL": redis.url}
        if app == GENERATED_TRACED:
            env["OTEL_EXPORTER_OTLP_ENDPOINT"] = sink.endpoint
        command = [str(bin_dir / "python"), "-m", PACKAGE]
        ready_path, paths, cwd = "/health/ready", ("/health/live", "/visits"), project
    else:
        env |= {"PYTHONPATH": str(scratch), "REDIS_URL": redis.url}
        build = granian_command if app == GRANIAN else bare_command
        command = build(framework, MODULES[app], bin_dir, port, workers)
        ready_path, cwd = "/", scratch
        paths = ("/visits",) if app == BARE_REDIS else ("/",)
    logs = scratch / "logs"
    logs.mkdir(exist_ok=True)
    name = f"{framework}-{'-'.join(app.replace(',', '').split())}-{workers}-{number}"
    server = Server(name, logs, env, ready_path)
    exported_before = sink.counts()
    try:
        began = time.monotonic()
        server.launch(command, cwd, START_TIMEOUT_SECONDS, READY_POLL_SECONDS)
        found.cold_start_s = round(time.monotonic() - began, 3)
        for path in paths:
            returning = app in GENERATED_APPS and path == "/visits"
            headers = [f"Cookie: {session_cookie(port)}"] if returning else []
            wrk(server.url + path, WARMUP_SECONDS, headers)
            found.by_path[path] = parse_wrk(
                wrk(server.url + path, WRK_SECONDS, headers)
            )
        found.rss_mib = tree_rss_mib(server.started.pid)
    except (OSError, RuntimeError, subprocess.SubprocessError) as error:
        found.errors.append(f"{type(error).__name__}: {str(error)[:500]}")
    finally:
        server.kill()
    if app == GENERATED_TRACED:
        found.otlp_requests, found.otlp_bytes = (
            now - before
            for now, before in zip(sink.counts(), exported_before, strict=True)
        )
        if found.otlp_requests == 0 and not found.errors:
            found.errors.append("the OTLP sink received no export: nothing was traced")
    return found


def generation(number: int, commit: str, workdir: Path) -> Generation:
    """`copier copy` with the defaults, then uv's first sync of it (warm cache)."""
    destination = workdir / f"generated-{number}" / "order-service"
    copier = Path(sys.executable).parent / "copier"
    began = time.monotonic()
    run(
        [
            str(copier),
            "copy",
            "--defaults",
            "--quiet",
            *("--vcs-ref", commit),
            # The Python that runs here: the default may be one this machine lacks.
            *("--data", f"python_version={RUNTIME_PYTHON}"),
            str(ROOT),
            str(destination),
        ],
        cwd=workdir,
    )
    copied = time.monotonic()
    run(SYNC, cwd=destination)
    synced = time.monotonic()
    return Generation(number, round(copied - began, 3), round(synced - copied, 3))


# --- summary -------------------------------------------------------------------------


def rps(m: Measure | None, path: str) -> float | None:
    found = m.by_path.get(path) if m else None
    return found.requests_per_s if found else None


Round = dict[str, Measure]  # one round's measures of one framework and worker count


def ratio(
    top: str, top_path: str, bottom: str, bottom_path: str
) -> Callable[[Round], float | None]:
    return lambda r: quotient(
        rps(r.get(top), top_path), rps(r.get(bottom), bottom_path)
    )


def measured_ratio(
    attribute: str, app: str = GENERATED
) -> Callable[[Round], float | None]:
    def of(r: Round) -> float | None:
        top, bottom = r.get(app), r.get(BARE)
        if top is None or bottom is None:
            return None
        return quotient(getattr(top, attribute), getattr(bottom, attribute))

    return of


# Each from one round's measures.
RATIOS: dict[str, Callable[[Round], float | None]] = {
    "live_ratio": ratio(GENERATED, "/health/live", BARE, "/"),
    "visits_ratio": ratio(GENERATED, "/visits", BARE, "/"),
    # Against the same two Redis round trips with nothing around them: what the
    # session layer and the rest of the service cost.
    "visits_floor_ratio": ratio(GENERATED, "/visits", BARE_REDIS, "/visits"),
    # The two round trips alone, against the hello-world.
    "bare_visits_ratio": ratio(BARE_REDIS, "/visits", BARE, "/"),
    "cold_start_ratio": measured_ratio("cold_start_s"),
    "rss_ratio": measured_ratio("rss_mib"),
    # Not the generated service: the hello-world on granian against its own server.
    "granian_ratio": ratio(GRANIAN, "/", BARE, "/"),
    # Tracing on, as information: the same against the bare app, and what tracing
    # itself costs a traced request.
    "traced_live_ratio": ratio(GENERATED_TRACED, "/health/live", BARE, "/"),
    "traced_visits_ratio": ratio(GENERATED_TRACED, "/visits", BARE, "/"),
    "tracing_visits_ratio": ratio(GENERATED_TRACED, "/visits", GENERATED, "/visits"),
    "traced_cold_start_ratio": measured_ratio("cold_start_s", GENERATED_TRACED),
    "traced_rss_ratio": measured_ratio("rss_mib", GENERATED_TRACED),
}
# No target is judged on these: the targets are the default's, tracing off.
TRACED_RATIOS = tuple(
    name for name in RATIOS if name.startswith(("traced_", "tracing_"))
)


@dataclass
class Summary:
    """Medians over the rounds of one framework at one worker count."""

    rounds: int
    bare_rps: float | None
    bare_p50_ms: float | None
    bare_p99_ms: float | None
    bare_visits_rps: float | None
    live_rps: float | None
    live_p50_ms: float | None
    live_p99_ms: float | None
    visits_rps: float | None
    visits_p50_ms: float | None
    visits_p99_ms: float | None
    granian_rps: float | None
    cold_start_s: float | None
    bare_cold_start_s: float | None
    rss_mib: float | None
    bare_rss_mib: float | None
    # The generated service with tracing on.
    traced_live_rps: float | None
    traced_live_p50_ms: float | None
    traced_live_p99_ms: float | None
    traced_visits_rps: float | None
    traced_visits_p50_ms: float | None
    traced_visits_p99_ms: float | None
    traced_cold_start_s: float | None
    traced_rss_mib: float | None
    # What the OTLP sink received in one traced run (both paths).
    otlp_requests: float | None
    otlp_bytes: float | None
    # Medians of the same round's ratios, by RATIOS' names.
    ratios: dict[str, float | None]
    # Rounds whose ratio meets each target.
    met: dict[str, int]
    errors: list[str]


def meets(name: str, ratio: float | None) -> bool:
    if ratio is None:
        return False
    target = TARGETS[name]
    return (
        ratio <= target
        if name in {"cold_start_ratio", "rss_ratio"}
        else ratio >= target
    )


def latency(ms: list[Measure], path: str, attribute: str) -> float | None:
    return median(
        [getattr(m.by_path[path], attribute) for m in ms if path in m.by_path]
    )


def summarise(measures: list[Measure]) -> Summary:
    of = {app: {m.round: m for m in measures if m.app == app} for app in APPS}
    rounds = sorted(of[GENERATED])
    per_round: dict[str, list[float]] = {name: [] for name in RATIOS}
    met = dict.fromkeys(TARGETS, 0)
    for number in rounds:
        measured = {app: m for app in APPS if (m := of[app].get(number))}
        for name, of_round in RATIOS.items():
            value = of_round(measured)
            if value is not None:
                per_round[name].append(value)
            if name in met and meets(name, value):
                met[name] += 1
    generated_all = list(of[GENERATED].values())
    traced_all = list(of[GENERATED_TRACED].values())
    bare_all = list(of[BARE].values())
    return Summary(
        rounds=len(rounds),
        bare_rps=median([x for m in bare_all if (x := rps(m, "/"))]),
        bare_p50_ms=latency(bare_all, "/", "p50_ms"),
        bare_p99_ms=latency(bare_all, "/", "p99_ms"),
        bare_visits_rps=median(
            [x for m in of[BARE_REDIS].values() if (x := rps(m, "/visits"))]
        ),
        live_rps=median([x for m in generated_all if (x := rps(m, "/health/live"))]),
        live_p50_ms=latency(generated_all, "/health/live", "p50_ms"),
        live_p99_ms=latency(generated_all, "/health/live", "p99_ms"),
        visits_rps=median([x for m in generated_all if (x := rps(m, "/visits"))]),
        visits_p50_ms=latency(generated_all, "/visits", "p50_ms"),
        visits_p99_ms=latency(generated_all, "/visits", "p99_ms"),
        granian_rps=median([x for m in of[GRANIAN].values() if (x := rps(m, "/"))]),
        cold_start_s=median(
            [m.cold_start_s for m in generated_all if m.cold_start_s is not None]
        ),
        bare_cold_start_s=median(
            [m.cold_start_s for m in bare_all if m.cold_start_s is not None]
        ),
        rss_mib=median([m.rss_mib for m in generated_all if m.rss_mib is not None]),
        bare_rss_mib=median([m.rss_mib for m in bare_all if m.rss_mib is not None]),
        traced_live_rps=median(
            [x for m in traced_all if (x := rps(m, "/health/live"))]
        ),
        traced_live_p50_ms=latency(traced_all, "/health/live", "p50_ms"),
        traced_live_p99_ms=latency(traced_all, "/health/live", "p99_ms"),
        traced_visits_rps=median([x for m in traced_all if (x := rps(m, "/visits"))]),
        traced_visits_p50_ms=latency(traced_all, "/visits", "p50_ms"),
        traced_visits_p99_ms=latency(traced_all, "/visits", "p99_ms"),
        traced_cold_start_s=median(
            [m.cold_start_s for m in traced_all if m.cold_start_s is not None]
        ),
        traced_rss_mib=median([m.rss_mib for m in traced_all if m.rss_mib is not None]),
        otlp_requests=median(
            [m.otlp_requests for m in traced_all if m.otlp_requests is not None]
        ),
        otlp_bytes=median(
            [m.otlp_bytes for m in traced_all if m.otlp_bytes is not None]
        ),
        ratios={
            name: round(statistics.median(values), 3) if values else None
            for name, values in per_round.items()
        },
        met=met,
        errors=[f"{m.app}, round {m.round}: {e}" for m in measures for e in m.errors],
    )


def throughput(
    rps: float | None, ratio: float | None, p50_ms: float | None, p99_ms: float | None
) -> str:
    """A throughput cell: requests a second (x bare; p50 / p99 ms)."""
    return f"{cell(rps)} ({times(ratio)}; {cell(p50_ms, p99_ms)})"


def table(summaries: dict[tuple[str, int], Summary]) -> str:
    rows = [
        "| framework | workers | bare `/` req/s (p50 / p99 ms)"
        " | `/health/live` req/s (x bare; p50 / p99 ms)"
        " | `/visits` req/s (x bare; p50 / p99 ms)"
        " | bare `/visits` req/s (x bare) | `/visits` x bare `/visits`"
        " | cold start s: generated / bare (x)"
        " | RSS MiB: generated / bare (x)"
        " | bare on granian req/s (x bare)"
        " | targets met: live >= 0.9 / visits >= 0.5 / start <= 1.5 / RSS <= 1.4 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for (framework, workers), s in summaries.items():
        r = s.ratios
        rows.append(
            markdown_row(
                [
                    framework,
                    str(workers),
                    f"{cell(s.bare_rps)} ({cell(s.bare_p50_ms, s.bare_p99_ms)})",
                    throughput(
                        s.live_rps, r["live_ratio"], s.live_p50_ms, s.live_p99_ms
                    ),
                    throughput(
                        s.visits_rps,
                        r["visits_ratio"],
                        s.visits_p50_ms,
                        s.visits_p99_ms,
                    ),
                    f"{cell(s.bare_visits_rps)} ({times(r['bare_visits_ratio'])})",
                    times(r["visits_floor_ratio"]),
                    f"{cell(s.cold_start_s, s.bare_cold_start_s)}"
                    f" ({times(r['cold_start_ratio'])})",
                    f"{cell(s.rss_mib, s.bare_rss_mib)} ({times(r['rss_ratio'])})",
                    f"{cell(s.granian_rps)} ({times(r['granian_ratio'])})",
                    " / ".join(f"{s.met[name]}/{s.rounds}" for name in TARGETS),
                ]
            )
        )
    return "\n".join(rows)


def traced_table(summaries: dict[tuple[str, int], Summary]) -> str:
    """The generated service with tracing on, against the same bare app: information,
    no target judged."""
    rows = [
        "| framework | workers | `/health/live` req/s (x bare; p50 / p99 ms)"
        " | `/visits` req/s (x bare; p50 / p99 ms) | `/visits` x tracing off"
        " | cold start s (x bare) | RSS MiB (x bare)"
        " | OTLP sink per run: exports / KiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (framework, workers), s in summaries.items():
        r = s.ratios
        kib = None if s.otlp_bytes is None else round(s.otlp_bytes / 1024, 1)
        rows.append(
            markdown_row(
                [
                    framework,
                    str(workers),
                    throughput(
                        s.traced_live_rps,
                        r["traced_live_ratio"],
                        s.traced_live_p50_ms,
                        s.traced_live_p99_ms,
                    ),
                    throughput(
                        s.traced_visits_rps,
                        r["traced_visits_ratio"],
                        s.traced_visits_p50_ms,
                        s.traced_visits_p99_ms,
                    ),
                    times(r["tracing_visits_ratio"]),
                    f"{cell(s.traced_cold_start_s)}"
                    f" ({times(r['traced_cold_start_ratio'])})",
                    f"{cell(s.traced_rss_mib)} ({times(r['traced_rss_ratio'])})",
                    cell(s.otlp_requests, kib),
                ]
            )
        )
    return "\n".join(rows)


def chart(summaries: dict[tuple[str, int], Summary], path: Path) -> bool:
    """Four panels of generated / bare ratios, a group per framework and worker
    count, each target dashed; tracing on in a panel of its own, and beside the
    default in cold start and RSS. Drawn when matplotlib is importable."""
    plt = pyplot()
    if plt is None:
        return False
    groups = list(summaries)
    labels = [f"{framework}\n{workers} worker(s)" for framework, workers in groups]
    panels_spec: list[tuple[str, list[tuple[str, str]]]] = [
        (
            "throughput, x bare `/`",
            [
                ("live_ratio", "/health/live"),
                ("visits_ratio", "/visits"),
                ("bare_visits_ratio", "bare /visits"),
                ("granian_ratio", "bare on granian"),
            ],
        ),
        (
            "tracing on (information), x bare `/` or x tracing off",
            [
                ("traced_live_ratio", "/health/live"),
                ("traced_visits_ratio", "/visits"),
                ("tracing_visits_ratio", "/visits x tracing off"),
            ],
        ),
        (
            "cold start, x bare",
            [
                ("cold_start_ratio", "to first ready 200"),
                ("traced_cold_start_ratio", "the same, tracing on"),
            ],
        ),
        (
            "RSS after load, x bare",
            [
                ("rss_ratio", "process tree"),
                ("traced_rss_ratio", "the same, tracing on"),
            ],
        ),
    ]
    figure, panels = plt.subplots(1, 4, figsize=(21, 4.8))
    for axes, (title, series) in zip(panels, panels_spec, strict=True):
        width = 0.8 / len(series)
        for i, (name, label) in enumerate(series):
            heights = [summaries[g].ratios.get(name) for g in groups]
            drawn = axes.bar(
                [x - 0.4 + width * (i + 0.5) for x in range(len(groups))],
                [h or 0.0 for h in heights],
                width,
                color=f"C{i}",
                label=label,
            )
            axes.bar_label(
                drawn,
                labels=["n/a" if h is None else f"{h:.2f}" for h in heights],
                fontsize=7,
                padding=2,
            )
            if name in TARGETS:
                axes.axhline(TARGETS[name], color=f"C{i}", linestyle="--", linewidth=1)
        axes.axhline(1.0, color="grey", linewidth=0.5)
        axes.set_xticks(range(len(groups)), labels)
        axes.set_title(title, fontsize=10)
        axes.margins(y=0.15)
        axes.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return True


# --- main ----------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ref", default="HEAD")
    parser.add_argument("--json", type=Path, default=RESULTS / "performance.json")
    parser.add_argument("--chart", type=Path, default=RESULTS / "performance.png")
    args = parser.parse_args()
    require_tools("wrk", "redis-server")
    began = time.monotonic()
    commit = commit_of(args.ref)
    measures: list[Measure] = []
    generations: list[Generation] = []
    locked: dict[str, dict[str, str]] = {}
    granian: dict[str, bool] = {}
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        projects = {}
        for framework in FRAMEWORKS:
            project = installed_project(framework, commit, scratch)
            projects[framework] = project
            locked[framework] = locked_versions(project)
            granian[framework] = install_extra(project, "granian")
        redis = RedisServer(scratch).start()
        sink = OtlpSink().start()
        try:
            for number in range(1, args.rounds + 1):
                generations.append(generation(number, commit, scratch))
                order = (
                    (GENERATED, GENERATED_TRACED, BARE)
                    if number % 2
                    else (BARE, GENERATED, GENERATED_TRACED)
                )
                for framework in FRAMEWORKS:
                    # The bare modules of this framework, in place of the other's.
                    bare_modules = {
                        MODULES[BARE]: BARE_APPS[framework],
                        MODULES[BARE_REDIS]: BARE_REDIS_APPS[framework],
                    }
                    for module, source in bare_modules.items():
                        (scratch / f"{module}.py").write_text(source)
                    apps = [
                        *order,
                        BARE_REDIS,
                        *([GRANIAN] if granian[framework] else []),
                    ]
                    for workers in WORKER_COUNTS:
                        for app in apps:
                            measures.append(
                                measure(
                                    framework,
                                    app,
                                    workers,
                                    number,
                                    projects[framework],
                                    scratch,
                                    redis,
                                    sink,
                                )
                            )
        finally:
            sink.stop()
            redis.stop()
    exports, exported_bytes = sink.counts()
    summaries = {
        (framework, workers): summarise(
            [m for m in measures if (m.framework, m.workers) == (framework, workers)]
        )
        for framework in FRAMEWORKS
        for workers in WORKER_COUNTS
    }
    copy_s = median([g.copier_copy_s for g in generations])
    sync_s = median([g.uv_sync_s for g in generations])
    wall = round(time.monotonic() - began, 1)
    loads = [m.load_1m for m in measures]
    print()
    print(table(summaries))
    print(
        f"\n{GENERATED_TRACED} ({TRACES_PATH} to this script's OTLP sink), as"
        " information: no target judged\n"
    )
    print(traced_table(summaries))
    print(
        f"\nOTLP sink, the whole run: {exports} export requests,"
        f" {round(exported_bytes / 1024**2, 2):g} MiB"
    )
    print(
        f"generation (defaults): copier copy {cell(copy_s)} s, first uv sync"
        f" {cell(sync_s)} s (warm cache)"
    )
    for key, s in summaries.items():
        for error in s.errors:
            print(f"error: {key[0]} {key[1]} worker(s): {error}")
    for framework, installed in granian.items():
        if not installed:
            print(f"granian did not install for {framework}: no granian runs")
    print(
        f"{args.rounds} rounds, medians; wall time {wall} s, {os.cpu_count()} CPUs;"
        f" 1-minute load average at run starts: median {statistics.median(loads):g},"
        f" max {max(loads):g}"
    )
    report = {
        "wall_seconds": wall,
        "cpus": os.cpu_count(),
        "load_1m": {"median": statistics.median(loads), "max": max(loads)},
        "python": sys.version.split()[0],
        "ref": {"ref": args.ref, "commit": commit},
        "versions": {
            "wrk": tool_version("wrk"),
            "redis-server": tool_version("redis-server"),
            "locked": locked,
        },
        "load": {
            "wrk_threads": WRK_THREADS,
            "connections": WRK_CONNECTIONS,
            "warmup_s": WARMUP_SECONDS,
            "measured_s": WRK_SECONDS,
            "worker_counts": list(WORKER_COUNTS),
        },
        "bare_apps": {BARE: BARE_APPS, BARE_REDIS: BARE_REDIS_APPS},
        "targets": TARGETS,
        "ratios": "generated / bare: the median over the rounds of the same round's "
        "ratio; granian_ratio is the bare app on granian / on the generated server; "
        "traced_* are the generated service with tracing on / bare, and "
        "tracing_visits_ratio its /visits / the generated /visits with tracing off",
        "tracing": {
            "app": GENERATED_TRACED,
            "judged": False,
            "about": "information: the targets are judged on the generated service "
            "as it runs by default, metrics on and tracing off",
            "ratios": list(TRACED_RATIOS),
            "otlp_sink": {
                "path": TRACES_PATH,
                "requests": exports,
                "bytes": exported_bytes,
            },
        },
        "generation": {
            "copier_copy_s": copy_s,
            "uv_sync_s": sync_s,
            "rounds": [asdict(g) for g in generations],
        },
        "medians": {f"{fw} {w}": asdict(s) for (fw, w), s in summaries.items()},
        "measures": [asdict(m) for m in measures],
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
