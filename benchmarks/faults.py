"""Does a generated service survive a sick Redis under load, and recover by itself?

Issue 10: a Redis that hangs or dies must cost the requests that need it a quick 503,
not the pod its liveness, and the service must come back by itself when Redis does.
The current template (HEAD) guards every Redis call with a circuit breaker (open after
REDIS_BREAKER_FAILURES=5 consecutive failures, one trial call after
REDIS_BREAKER_RESET_SECONDS=5) and a bulkhead (REDIS_MAX_CONCURRENCY=64 calls in flight
per worker); the baseline is the previous release, v0.5.0, where each request waits
out the Redis client's 1 s socket timeout and one retry before its 503.

Both versions are generated from this repository (`copier copy --vcs-ref`: the tag, and
the commit HEAD names, so that uncommitted edits stay out), for each framework with
redis_sessions=true and the other answers at their defaults, and installed with uv.
Each run (framework, version, fault) starts its own redis-server on a free port and
`python -m order_service` with APP_ENV=production, a 48-character SECRET_KEY,
WEB_CONCURRENCY=2 and LOG_LEVEL=info, then:

1. healthy: wrk -t2 -c64 --timeout 5s on /visits for 3 s after a 1 s warm-up, every
   connection sending one valid session cookie (a returning user, whose visit count
   goes on). A second returning client visits twice, for the session check of step 5;
2. at T0 the fault, under that load (a new wrk started 0.5 s before): `hang`, SIGSTOP
   to redis-server (connections stay open, nothing answers), or `kill`, SIGKILL (its
   connections reset, new ones are refused). From T0 a probe every 0.5 s opens a fresh
   connection to /health/live and one to /health/ready, each with a 1 s budget, as a
   kubelet does; they go on until step 4 ends;
3. settled outage: at T0+3 s that wrk stops and another runs for 4 s flat out (each
   connection sends its next request as soon as it has an answer), then one for 3 s
   paced (each connection one request every 100 ms: 64 clients, 640 requests a
   second, a third of what Flask serves healthy). Their Lua script counts each
   answer's status, whether its body is JSON and carries Retry-After, and prints wrk's
   exact latency percentiles of every answer as JSON. Flat out, latency is mostly the
   wait for a worker: with every CPU busy, a closed loop of 64 connections queues by
   design. Paced, it is the time the service takes to refuse a request;
4. recovery: the fault ends (SIGCONT, or redis-server started again on its port, empty)
   at T1, under a new wrk load; a poll every 0.1 s, each on a fresh connection with
   the load's cookie, times the first 200 from /visits after T1 (given up after 15 s);
5. session (hang only): the second client's next visit must count on from its count
   before the hang, not start again at 1. A killed Redis loses every session, so a
   kill has no such check.

The targets, each reported as rounds met / rounds: every liveness probe 200 within 1 s;
every readiness probe that started during the outage 503 within 1 s; in the settled
outage every /visits answer a JSON 503 and none timed out, flat out and paced, with
the paced p95 < 100 ms (the flat-out p95 is reported, and its rounds under 100 ms
counted, as well); recovery within 10 s without a restart; and (hang) the session
continues.

Rounds (default 3) run each pair of versions back to back, in an order that alternates
from round to round; the table shows medians over the rounds, and current / baseline
ratios as the median of the same round's ratios (the machine is shared and noisy, so
only ratios measured close together in time mean much). wrk shares the CPUs with the
service, so absolute numbers are this machine's only.

    uv run python benchmarks/faults.py [--rounds 3] [--json PATH] [--chart PATH]
    uv run --with matplotlib python benchmarks/faults.py   # also draws the chart

Needs redis-server and wrk on PATH (`apt-get install -y redis-server wrk`).
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
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from benchmarks.common import (
    CLIENT_TIMEOUT,
    CLIENTS,
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
    commit_of,
    installed_project,
    locked_versions,
    markdown_row,
    median,
    met,
    missed,
    percent,
    pyplot,
    quotient,
    require_tools,
    session_cookie,
    share,
    times,
    tool_version,
    traffic_for,
)
from hooks.projects import (
    FRAMEWORKS,
)
from hooks.questions import ROOT
from hooks.servers import HOST, RedisServer, Service, free_port

RESULTS = ROOT / "benchmarks" / "results"
BASELINE_REF = "v0.5.0"
CURRENT_REF = "HEAD"
VERSIONS = ("baseline", "current")
FAULTS = ("hang", "kill")

WORKERS = 2

WARMUP_SECONDS = 1.0
HEALTHY_SECONDS = 3.0
LOAD_BEFORE_FAULT_SECONDS = 0.5  # the onset load's connections are busy at T0
SETTLE_SECONDS = 3.0
SETTLED_SECONDS = 4.0
PACED_SECONDS = 3.0
RECOVERY_POLL_SECONDS = 0.1
RECOVERY_LIMIT_SECONDS = 15.0
VISIT_TIMEOUT_SECONDS = 2.0

TARGET_P95_MS = 100.0
TARGET_RECOVERY_SECONDS = 10.0


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
    onset: Load | None = None
    settled: Load | None = None
    settled_app: AppTimes | None = None
    paced: Load | None = None
    paced_app: AppTimes | None = None
    probes: list[Probe] = field(default_factory=list)
    fault_s: float | None = None  # T1 - T0: how long Redis was sick
    recovery_s: float | None = None  # None: no 200 within RECOVERY_LIMIT_SECONDS
    session_before: int | None = None
    session_after: int | None = None
    errors: list[str] = field(default_factory=list)

    def probes_of(self, path: str, during_outage: bool = False) -> list[Probe]:
        return [
            p
            for p in self.probes
            if p.path == path and (not during_outage or self.during_outage(p))
        ]

    def during_outage(self, probe: Probe) -> bool:
        """Started while Redis was sick, and either answered before it came back or
        not within its budget: a quick answer that Redis's return overtook tells
        nothing about the outage."""
        if self.fault_s is None:
            return True
        answered_at = probe.at_s + probe.seconds
        return probe.at_s < self.fault_s and (
            answered_at < self.fault_s or probe.seconds >= TARGET_PROBE_SECONDS
        )

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
        """Every answer of the settled outage a JSON 503, none timed out, flat out
        and paced; the paced p95 under the target."""
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
        return self.recovery_s is not None and self.recovery_s < TARGET_RECOVERY_SECONDS

    @property
    def session_ok(self) -> bool | None:
        if self.fault != "hang":
            return None
        return (
            self.session_before is not None
            and self.session_after == self.session_before + 1
        )


def refused_cleanly(load: Load | None) -> bool:
    return (
        load is not None
        and load.requests > 0
        and load.statuses == {"503": load.requests}
        and load.json_bodies == load.requests
        and load.socket_errors["timeout"] == 0
    )


# --- wrk, probes and visits ----------------------------------------------------------


def visit(port: int, cookie: str) -> tuple[int | None, int | None]:
    """GET /visits on a fresh connection: its status and the visit count it reports."""
    connection = http.client.HTTPConnection(HOST, port, timeout=VISIT_TIMEOUT_SECONDS)
    try:
        connection.request("GET", "/visits", headers={"Cookie": cookie})
        response = connection.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException):
        return None, None
    finally:
        connection.close()
    if response.status != 200:
        return response.status, None
    count = json.loads(body).get("visits")
    return 200, count if isinstance(count, int) else None


def visit_count_when_up(port: int, cookie: str, attempts: int = 10) -> int | None:
    """The count of the first visit answered 200 (a refused one changes no count)."""
    for _ in range(attempts):
        status, count = visit(port, cookie)
        if status == 200:
            return count
        time.sleep(0.2)
    return None


def seconds_to_recover(port: int, cookie: str, since: float) -> float | None:
    """Seconds from `since` to the end of the first /visits answered 200."""
    while time.monotonic() - since < RECOVERY_LIMIT_SECONDS:
        asked = time.monotonic()
        status, _ = visit(port, cookie)
        if status == 200:
            return round(time.monotonic() - since, 3)
        time.sleep(max(0.0, asked + RECOVERY_POLL_SECONDS - time.monotonic()))
    return None


# --- one run -------------------------------------------------------------------------


def outage(run: Run, service: Service, redis: RedisServer, scripts: Scripts) -> None:
    """Steps 1 to 5 of the docstring, on a started service; fills in `run`."""
    script = scripts.flat_out
    url = f"{service.url}/visits"
    cookie = session_cookie(service.port)
    headers = [f"Cookie: {cookie}"]
    returning = session_cookie(service.port)
    run.session_before = visit_count_when_up(service.port, returning)
    traffic_for(WARMUP_SECONDS, url, script, headers)
    run.healthy = traffic_for(HEALTHY_SECONDS, url, script, headers)
    onset = Traffic(url, script, headers)
    try:
        time.sleep(LOAD_BEFORE_FAULT_SECONDS)
        if run.fault == "hang":
            redis.freeze()
        else:
            redis.kill()
        t0 = time.monotonic()
        prober = Prober(service.port, t0)
        try:
            time.sleep(max(0.0, t0 + SETTLE_SECONDS - time.monotonic()))
            run.onset = onset.finish()
            settled_from = time.time()
            run.settled = traffic_for(SETTLED_SECONDS, url, script, headers)
            run.settled_app = app_times(service, "/visits", settled_from, time.time())
            paced_from = time.time()
            run.paced = traffic_for(PACED_SECONDS, url, scripts.paced, headers)
            run.paced_app = app_times(service, "/visits", paced_from, time.time())
            recovery = Traffic(url, script, headers)
            try:
                if run.fault == "hang":
                    redis.thaw()
                else:
                    redis.start()  # on the same port, and back once it answers PING
                t1 = time.monotonic()
                run.fault_s = round(t1 - t0, 3)
                run.recovery_s = seconds_to_recover(service.port, cookie, t1)
            finally:
                recovery.kill()
        finally:
            run.probes = prober.stop()
    finally:
        onset.kill()
    if run.fault == "hang":
        run.session_after = visit_count_when_up(service.port, returning)


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
    redis = RedisServer(place).start()
    service = Service(
        project,
        place,
        free_port(),
        APP_ENV="production",
        SECRET_KEY=secrets.token_urlsafe(36),  # 48 characters
        LOG_LEVEL="info",
        REDIS_URL=redis.url,
        WEB_CONCURRENCY=str(WORKERS),
    )
    try:
        started = time.monotonic()
        service.start()
        run.startup_s = round(time.monotonic() - started, 3)
        outage(run, service, redis, scripts)
    except (OSError, RuntimeError, ValueError, subprocess.SubprocessError) as error:
        run.errors.append(f"{type(error).__name__}: {error}")
    finally:
        service.kill()
        redis.stop()
    return run


# --- summary -------------------------------------------------------------------------


@dataclass
class Summary:
    """Medians over the rounds of one (framework, fault, version)."""

    rounds: int
    healthy_rps: float | None
    healthy_p95_ms: float | None
    settled_rps: float | None
    settled_p50_ms: float | None
    settled_p95_ms: float | None
    settled_p99_ms: float | None
    # The app's own p95 (its access lines): the rest of wrk's is waiting for a worker.
    settled_app_p95_ms: float | None
    settled_503_share: float | None  # of the settled outage's answers
    settled_json_share: float | None
    settled_timeouts: float | None
    paced_rps: float | None
    paced_p50_ms: float | None
    paced_p95_ms: float | None
    paced_p99_ms: float | None
    paced_app_p95_ms: float | None
    onset_rps: float | None
    onset_timeouts: float | None
    live_probes_failed: float | None
    live_probes: float | None
    live_probe_max_s: float | None
    ready_probes_not_503: float | None  # not 503 within 1 s, during the outage
    ready_probes: float | None
    ready_probe_max_s: float | None
    recovery_s: float | None
    # Targets: rounds met (session: None for a kill, which loses every session).
    live_met: int
    ready_met: int
    settled_met: int
    flat_out_fast_met: int
    recovered_met: int
    session_met: int | None
    # Current only: the median of the same round's current / baseline.
    vs_baseline: dict[str, float | None]
    errors: list[str]


RATIOS: dict[str, Callable[[Run], float | None]] = {
    "healthy_rps": lambda r: r.healthy.requests_per_s if r.healthy else None,
    "settled_rps": lambda r: r.settled.requests_per_s if r.settled else None,
    "settled_p95_ms": lambda r: r.settled.p95_ms if r.settled else None,
    "paced_p95_ms": lambda r: r.paced.p95_ms if r.paced else None,
    "recovery_s": lambda r: r.recovery_s,
    "live_probe_max_s": lambda r: max(
        (p.seconds for p in r.probes_of("/health/live")), default=None
    ),
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


def summarise(runs: list[Run], baseline: list[Run] | None) -> Summary:
    settled = [r.settled for r in runs if r.settled]
    paced = [r.paced for r in runs if r.paced]
    onset = [r.onset for r in runs if r.onset]
    healthy = [r.healthy for r in runs if r.healthy]
    live = [r.probes_of("/health/live") for r in runs]
    ready = [r.probes_of("/health/ready", during_outage=True) for r in runs]
    sessions = [r.session_ok for r in runs]
    return Summary(
        rounds=len(runs),
        healthy_rps=median([h.requests_per_s for h in healthy]),
        healthy_p95_ms=median([h.p95_ms for h in healthy]),
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
        settled_timeouts=median([s.socket_errors["timeout"] for s in settled]),
        paced_rps=median([p.requests_per_s for p in paced]),
        paced_p50_ms=median([p.p50_ms for p in paced]),
        paced_p95_ms=median([p.p95_ms for p in paced]),
        paced_p99_ms=median([p.p99_ms for p in paced]),
        paced_app_p95_ms=median(
            [t.p95_ms for r in runs if (t := r.paced_app) and t.p95_ms is not None]
        ),
        onset_rps=median([o.requests_per_s for o in onset]),
        onset_timeouts=median([o.socket_errors["timeout"] for o in onset]),
        live_probes_failed=median([missed(ps, 200) for ps in live if ps]),
        live_probes=median([len(ps) for ps in live if ps]),
        live_probe_max_s=median([max(p.seconds for p in ps) for ps in live if ps]),
        ready_probes_not_503=median([missed(ps, 503) for ps in ready if ps]),
        ready_probes=median([len(ps) for ps in ready if ps]),
        ready_probe_max_s=median([max(p.seconds for p in ps) for ps in ready if ps]),
        recovery_s=median([r.recovery_s for r in runs if r.recovery_s is not None]),
        live_met=sum(r.live_ok for r in runs),
        ready_met=sum(r.ready_ok for r in runs),
        settled_met=sum(r.settled_ok for r in runs),
        flat_out_fast_met=sum(r.flat_out_fast for r in runs),
        recovered_met=sum(r.recovered_ok for r in runs),
        session_met=(
            None if any(s is None for s in sessions) else sum(1 for s in sessions if s)
        ),
        vs_baseline={} if baseline is None else same_round_ratios(runs, baseline),
        errors=[f"round {r.round}: {e}" for r in runs for e in r.errors],
    )


def table(summaries: dict[tuple[str, str, str], Summary]) -> str:
    rows = [
        "| framework | fault | version | healthy /visits req/s (vs base)"
        " | settled outage, flat out: req/s | p50 / p95 / p99 ms | p95 vs base"
        " | app's p95 ms | 503 / JSON | timeouts"
        f" | paced ({CLIENTS} x {1000 // PACED_INTERVAL_MS}/s): p50 / p95 / p99 ms"
        " | app's p95 ms"
        " | live probes failed (max s) | ready not 503 in 1 s (max s)"
        " | recovery s (vs base) | targets met: live / ready / 503 fast / recovers"
        " / session | flat-out p95 < 100 ms |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for (framework, fault, version), s in summaries.items():
        ratio = s.vs_baseline
        base = version == "baseline"
        cells = [
            framework,
            fault,
            version,
            f"{cell(s.healthy_rps)}"
            + ("" if base else f" ({times(ratio.get('healthy_rps'))})"),
            cell(s.settled_rps),
            cell(s.settled_p50_ms, s.settled_p95_ms, s.settled_p99_ms),
            "" if base else times(ratio.get("settled_p95_ms")),
            cell(s.settled_app_p95_ms),
            f"{percent(s.settled_503_share)} / {percent(s.settled_json_share)}",
            cell(s.settled_timeouts),
            cell(s.paced_p50_ms, s.paced_p95_ms, s.paced_p99_ms),
            cell(s.paced_app_p95_ms),
            f"{cell(s.live_probes_failed, s.live_probes)} ({cell(s.live_probe_max_s)})",
            f"{cell(s.ready_probes_not_503, s.ready_probes)}"
            f" ({cell(s.ready_probe_max_s)})",
            cell(s.recovery_s)
            + ("" if base else f" ({times(ratio.get('recovery_s'))})"),
            " / ".join(
                met(n, s.rounds)
                for n in (
                    s.live_met,
                    s.ready_met,
                    s.settled_met,
                    s.recovered_met,
                    s.session_met,
                )
            ),
            met(s.flat_out_fast_met, s.rounds),
        ]
        rows.append(markdown_row(cells))
    return "\n".join(rows)


def chart(summaries: dict[tuple[str, str, str], Summary], path: Path) -> bool:
    """Five panels, one group per (framework, fault), baseline and current side by
    side; a dashed line marks each target. Drawn when matplotlib is importable."""
    plt = pyplot()
    if plt is None:
        return False
    groups = sorted({(fw, fault) for fw, fault, _ in summaries})
    labels = [f"{fw}\n{fault}" for fw, fault in groups]
    width = 0.4
    figure, panels = plt.subplots(1, 5, figsize=(22, 4.8))
    panel_specs: list[tuple[str, Callable[[Summary], float | None], float | None, str]]
    panel_specs = [
        (
            "settled outage, paced: /visits p95 (ms, log)",
            lambda s: s.paced_p95_ms,
            TARGET_P95_MS,
            "%.0f",
        ),
        (
            "settled outage, flat out: /visits p95 (ms, log)",
            lambda s: s.settled_p95_ms,
            TARGET_P95_MS,
            "%.0f",
        ),
        (
            "recovery after Redis returns (s)",
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
        ("healthy /visits (req/s)", lambda s: s.healthy_rps, None, "%.0f"),
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
    panels[0].set_yscale("log")
    panels[1].set_yscale("log")
    handles, names = panels[0].get_legend_handles_labels()
    names = [
        f"{name} ({BASELINE_REF if name == 'baseline' else CURRENT_REF})"
        for name in names
    ]
    figure.legend(handles, names, loc="lower center", ncol=2, frameon=False)
    figure.tight_layout(rect=(0, 0.08, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return True


# --- main ----------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline-ref", default=BASELINE_REF)
    parser.add_argument("--current-ref", default=CURRENT_REF)
    parser.add_argument("--json", type=Path, default=RESULTS / "faults.json")
    parser.add_argument("--chart", type=Path, default=RESULTS / "faults.png")
    parser.add_argument(
        "--logs",
        type=Path,
        help="keep each run's service and redis-server logs in this folder",
    )
    args = parser.parse_args()
    require_tools("wrk", "redis-server")
    began = time.monotonic()
    commits = {
        "baseline": commit_of(args.baseline_ref),
        "current": commit_of(args.current_ref),
    }
    runs: list[Run] = []
    locked: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        logs = args.logs or workdir
        logs.mkdir(parents=True, exist_ok=True)
        scripts = Scripts(workdir / "count-answers.lua", workdir / "paced.lua")
        scripts.flat_out.write_text(WRK_SCRIPT)
        scripts.paced.write_text(PACED_SCRIPT)
        projects = {}
        for framework in FRAMEWORKS:
            for version, commit in commits.items():
                project = installed_project(framework, commit, workdir)
                projects[framework, version] = project
                locked[f"{framework} {version}"] = locked_versions(project)
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
                                projects[framework, version],
                                logs,
                                scripts,
                            )
                        )
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
    print()
    print(table(summaries))
    for key, s in summaries.items():
        for error in s.errors:
            print(f"error: {' '.join(key)}: {error}")
    loads = [r.load_1m for r in runs]
    print(f"\n{args.rounds} rounds, medians; wall time {wall} s, {os.cpu_count()} CPUs")
    print(
        f"1-minute load average at run starts: median {statistics.median(loads):g},"
        f" max {max(loads):g}"
    )
    report = {
        "wall_seconds": wall,
        "cpus": os.cpu_count(),
        "load_1m": {"median": statistics.median(loads), "max": max(loads)},
        "python": sys.version.split()[0],
        "refs": {
            "baseline": {"ref": args.baseline_ref, "commit": commits["baseline"]},
            "current": {"ref": args.current_ref, "commit": commits["current"]},
        },
        "versions": {
            "wrk": tool_version("wrk"),
            "redis-server": tool_version("redis-server"),
            "locked": locked,
        },
        "environment": {
            "APP_ENV": "production",
            "SECRET_KEY": "48 random characters, new for every run",
            "LOG_LEVEL": "info",
            "REDIS_URL": "redis://127.0.0.1:<port>/0, a redis-server for every run",
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
            "settled": "from 3 s into the outage every /visits a JSON 503, no "
            f"timeout, flat out and paced; paced p95 < {TARGET_P95_MS:g} ms",
            "recovers": f"/visits 200 within {TARGET_RECOVERY_SECONDS:g} s of Redis "
            "returning, without a restart",
            "session": "hang only: a session from before the hang counts on",
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
