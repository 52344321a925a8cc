"""Drain under load: how many accepted requests fail when a service gets SIGTERM?

For each framework this generates a service (sessions on), installs it with uv, starts
a real redis-server and `python -m <package>` with WEB_CONCURRENCY=2, and drives steady
concurrent traffic at /visits and /health/live through keep-alive connections. Midway
it sends SIGTERM. A balancer thread polls /health/ready and, once it fails, stops
routing new requests, as a load balancer does.

Each framework runs twice in the same session: with the default DRAIN_SECONDS (5) and
with DRAIN_SECONDS=0 as the baseline, so the effect of draining is a comparison on the
same machine at the same time, not an absolute number.

    uv run python benchmarks/drain.py [--json benchmarks/results/drain.json]

Prints a table and writes JSON. The goal: 0 requests failed after their connection was
accepted.
"""

import argparse
import json
import signal
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx2

from hooks.projects import DEPLOY_TARGETS, FRAMEWORKS, Variant, variant_project
from hooks.questions import ROOT
from hooks.servers import RedisServer, Service, free_port

CLIENTS = 16
TRAFFIC_BEFORE_SIGTERM_SECONDS = 3.0
BALANCER_POLL_SECONDS = 0.2


@dataclass
class Counts:
    sent: int = 0
    answered: int = 0
    refused_before_connecting: int = 0
    failed_after_accept: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, outcome: str, error: str | None = None) -> None:
        with self.lock:
            self.sent += 1
            setattr(self, outcome, getattr(self, outcome) + 1)
            if error is not None:
                self.errors[error] = self.errors.get(error, 0) + 1


@dataclass
class Result:
    framework: str
    drain_seconds: float
    sent: int
    answered: int
    refused_before_connecting: int
    failed_after_accept: int
    readiness_failed_after_s: float | None
    exit_after_s: float
    exit_code: int
    errors: dict[str, int]


def client_loop(url: str, stop: threading.Event, counts: Counts, index: int) -> None:
    paths = ("/visits", "/health/live")
    with httpx2.Client(base_url=url, timeout=30) as client:
        request = 0
        while not stop.is_set():
            path = paths[(index + request) % 2]
            request += 1
            try:
                response = client.get(path)
            except httpx2.ConnectError as error:
                counts.add("refused_before_connecting", type(error).__name__)
                time.sleep(0.01)
                continue
            except httpx2.TransportError as error:
                counts.add("failed_after_accept", type(error).__name__)
                continue
            if response.status_code == 200:
                counts.add("answered")
            else:
                counts.add("failed_after_accept", f"HTTP {response.status_code}")


def run_once(
    project: Path, logs: Path, redis_url: str, framework: str, drain: float
) -> Result:
    service = Service(
        project,
        logs,
        free_port(),
        REDIS_URL=redis_url,
        WEB_CONCURRENCY="2",
        LOG_LEVEL="WARNING",
        DRAIN_SECONDS=str(drain),
    )
    try:
        service.start()
        process = service.started
        counts = Counts()
        stop_traffic = threading.Event()
        clients = [
            threading.Thread(
                target=client_loop, args=(service.url, stop_traffic, counts, i)
            )
            for i in range(CLIENTS)
        ]
        for thread in clients:
            thread.start()
        time.sleep(TRAFFIC_BEFORE_SIGTERM_SECONDS)
        process.send_signal(signal.SIGTERM)
        sigterm_at = time.monotonic()
        readiness_failed_after = None
        # The balancer: routes traffic until readiness fails or the service is gone.
        while process.poll() is None:
            try:
                ready = httpx2.get(f"{service.url}/health/ready", timeout=1).status_code
            except httpx2.TransportError:
                ready = 0
            if ready != 200:
                readiness_failed_after = time.monotonic() - sigterm_at
                break
            time.sleep(BALANCER_POLL_SECONDS)
        stop_traffic.set()
        for thread in clients:
            thread.join()
        exit_code = process.wait(timeout=60)
        exit_after = time.monotonic() - sigterm_at
    finally:
        service.kill()
    return Result(
        framework=framework,
        drain_seconds=drain,
        sent=counts.sent,
        answered=counts.answered,
        refused_before_connecting=counts.refused_before_connecting,
        failed_after_accept=counts.failed_after_accept,
        readiness_failed_after_s=(
            None if readiness_failed_after is None else round(readiness_failed_after, 3)
        ),
        exit_after_s=round(exit_after, 3),
        exit_code=exit_code,
        errors=counts.errors,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--json", type=Path, default=ROOT / "benchmarks/results/drain.json"
    )
    args = parser.parse_args()
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        (workdir / "redis").mkdir()
        redis = RedisServer(workdir / "redis").start()
        try:
            for framework in FRAMEWORKS:
                variant = Variant(framework, True, DEPLOY_TARGETS[0])
                project = variant_project(variant, workdir)
                for drain in (5.0, 0.0):
                    results.append(
                        run_once(project, workdir, redis.url, framework, drain)
                    )
        finally:
            redis.stop()

    header = (
        f"{'framework':<9} {'drain s':>7} {'sent':>7} {'answered':>8} {'refused':>7} "
        f"{'failed':>6} {'ready→503 s':>11} {'exit s':>6} {'code':>4}"
    )
    print(header)
    for r in results:
        ready = (
            "-"
            if r.readiness_failed_after_s is None
            else f"{r.readiness_failed_after_s:.2f}"
        )
        print(
            f"{r.framework:<9} {r.drain_seconds:>7.0f} {r.sent:>7} {r.answered:>8} "
            f"{r.refused_before_connecting:>7} {r.failed_after_accept:>6} {ready:>11} "
            f"{r.exit_after_s:>6.2f} {r.exit_code:>4}"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    print(f"wrote {args.json}")
    drained = [r for r in results if r.drain_seconds > 0]
    return (
        0
        if all(r.failed_after_accept == 0 and r.exit_code == 0 for r in drained)
        else 1
    )


if __name__ == "__main__":
    sys.exit(main())
