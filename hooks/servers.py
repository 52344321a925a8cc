"""Processes the tests and benchmarks start: a real redis-server, a real Prometheus,
a generated service.

Each listens on a free port of 127.0.0.1, and each is waited for with `wait_until`
until it answers, not for a fixed time.
"""

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from hooks.projects import PACKAGE, uv_environment

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class NotReadyError(RuntimeError):
    """What was waited for did not happen in time, or its process exited first."""


def wait_until(
    ready: Callable[[], bool],
    timeout: float,
    describe: Callable[[], str],
    process: subprocess.Popen[bytes] | None = None,
    interval: float = 0.05,
) -> None:
    """Poll `ready` until it returns true.

    Raises NotReadyError with `describe()` (a log, say) after `timeout` seconds, or as
    soon as `process` has exited.
    """
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise NotReadyError(f"exited {process.returncode}\n{describe()}")
        if ready():
            return
        if time.monotonic() > deadline:
            raise NotReadyError(f"not ready within {timeout} s\n{describe()}")
        time.sleep(interval)


def listens_on(pid: int, port: int) -> bool:
    """Whether process `pid` holds the socket that listens on HOST:`port` (Linux)."""
    listening = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        # sl, local address (hex IP:port), remote address, state (0A: LISTEN), ...,
        # and, tenth, the socket's inode.
        fields = line.split()
        if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
            listening.add(f"socket:[{fields[9]}]")
    with contextlib.suppress(OSError):
        for fd in (Path("/proc") / str(pid) / "fd").iterdir():
            with contextlib.suppress(OSError):
                if os.readlink(fd) in listening:
                    return True
    return False


def http_status(port: int, path: str, timeout: float = 1.0) -> int | None:
    """The status of a GET on a fresh connection, or None when there is no answer."""
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()
    return response.status


@dataclass(frozen=True)
class ServerCertificate:
    """A TLS certificate and its key, and the certificate of the CA that signed it."""

    certificate: Path
    key: Path
    authority: Path


class RedisServer:
    """A real redis-server on its own port, without persistence.

    `arguments` go on its command line as they are (an ACL's `--user` options, say).
    With `tls`, it answers only TLS on its port, and trusts clients without a
    certificate.
    """

    def __init__(
        self,
        workdir: Path,
        arguments: Sequence[str] = (),
        tls: ServerCertificate | None = None,
    ) -> None:
        self.workdir = workdir
        self.arguments = list(arguments)
        self.tls = tls
        self.port = free_port()
        self.log = workdir / "redis-server.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self.tls is not None:
            return self.url_trusting(self.tls.authority)
        return f"redis://{HOST}:{self.port}/0"

    def url_trusting(self, authority: Path) -> str:
        """The TLS server's URL for a client that verifies it against `authority`."""
        assert self.tls is not None, "only a TLS server has a rediss:// URL"
        return f"rediss://{HOST}:{self.port}/0?ssl_ca_certs={quote(str(authority))}"

    def start(self) -> "RedisServer":
        """Start it, and return once it answers PING."""
        executable = shutil.which("redis-server")
        if executable is None:
            raise NotReadyError(
                "redis-server is not on PATH: ./run-tests installs it "
                "(hooks/ensure-tools.sh), or apt-get install redis-server"
            )
        if self.tls is None:
            listener = ["--port", str(self.port)]
        else:
            listener = [
                *("--port", "0", "--tls-port", str(self.port)),
                *("--tls-cert-file", str(self.tls.certificate)),
                *("--tls-key-file", str(self.tls.key)),
                *("--tls-ca-cert-file", str(self.tls.authority)),
                *("--tls-auth-clients", "no"),
            ]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    executable,
                    *listener,
                    *("--bind", HOST),
                    *("--save", ""),
                    *("--appendonly", "no"),
                    *("--dir", str(self.workdir)),
                    *self.arguments,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_until(self.is_up, 10, self.log.read_text, self.process)
        return self

    def is_up(self) -> bool:
        """It answers PING, and it is this one: another redis-server that took the
        port first would answer too (the process then exits: port in use)."""
        return (
            self.process is not None
            and self.answers_ping()
            and listens_on(self.process.pid, self.port)
        )

    def answers_ping(self) -> bool:
        try:
            with socket.create_connection((HOST, self.port), timeout=0.5) as sock:
                if self.tls is None:
                    return self._ping(sock)
                context = ssl.create_default_context(cafile=self.tls.authority)
                with context.wrap_socket(sock, server_hostname=HOST) as tls:
                    return self._ping(tls)
        except OSError:
            return False

    @staticmethod
    def _ping(sock: socket.socket) -> bool:
        sock.sendall(b"PING\r\n")
        # An ACL that turns the default user off answers NOAUTH: it is up all the same.
        return sock.recv(16).startswith((b"+PONG", b"-NOAUTH"))

    def freeze(self) -> None:
        """Stop it answering without closing any connection, as a hung Redis does."""
        if self.process is not None:
            self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """Kill it at once (SIGKILL), as a crashed Redis dies: its connections reset,
        new ones are refused, its data is gone. `start()` brings it back on its port."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def stop(self) -> None:
        self.thaw()
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


class PrometheusServer:
    """A real Prometheus on its own port, scraping one target's /metrics every second.

    The target is HOST:`target_port`, in job `job`; its configuration and its TSDB
    live in `workdir`.
    """

    SCRAPE_INTERVAL_SECONDS = 1

    def __init__(self, workdir: Path, target_port: int, job: str = "service") -> None:
        self.workdir = workdir
        self.target = f"{HOST}:{target_port}"
        self.job = job
        self.port = free_port()
        self.config = workdir / "prometheus.yml"
        self.log = workdir / "prometheus.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def up(self) -> str:
        """The expression for the target's `up`: 1 after a good scrape, 0 after a
        failed one."""
        return f'up{{job="{self.job}"}}'

    def start(self) -> "PrometheusServer":
        """Start it, and return once it is ready to answer queries (not necessarily
        after a first scrape: see `wait_until_up`)."""
        executable = shutil.which("prometheus")
        if executable is None:
            raise NotReadyError(
                "prometheus is not on PATH: ./run-tests installs it "
                "(hooks/ensure-tools.sh), or apt-get install prometheus"
            )
        interval = f"{self.SCRAPE_INTERVAL_SECONDS}s"
        # JSON is YAML: no YAML writer needed.
        configuration = {
            "global": {"scrape_interval": interval, "scrape_timeout": interval},
            "scrape_configs": [
                {
                    "job_name": self.job,
                    "metrics_path": "/metrics",
                    "static_configs": [{"targets": [self.target]}],
                }
            ],
        }
        self.config.write_text(json.dumps(configuration, indent=2))
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    executable,
                    f"--config.file={self.config}",
                    f"--storage.tsdb.path={self.workdir / 'data'}",
                    f"--web.listen-address={HOST}:{self.port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_until(self.is_up, 30, self.log.read_text, self.process)
        return self

    def is_up(self) -> bool:
        """It is ready, and it is this one (see RedisServer.is_up)."""
        return (
            self.process is not None
            and http_status(self.port, "/-/ready") == 200
            and listens_on(self.process.pid, self.port)
        )

    def api(self, endpoint: str, **parameters: str) -> Any:
        """The `data` of a successful answer of `/api/v1/<endpoint>`."""
        url = f"{self.url}/api/v1/{endpoint}"
        if parameters:
            url = f"{url}?{urlencode(parameters)}"
        # The API answers errors (a bad expression, say) as JSON too, with a 4xx.
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                answer = json.load(response)
        except urllib.error.HTTPError as error:
            answer = json.load(error)
        if answer.get("status") != "success":
            raise RuntimeError(f"{url}: {answer}")
        return answer["data"]

    def query(self, expression: str) -> list[tuple[dict[str, str], float]]:
        """An instant query, now: each series' labels and value."""
        data = self.api("query", query=expression)
        if data["resultType"] != "vector":
            raise RuntimeError(f"{expression} is a {data['resultType']}, not a vector")
        return [
            (sample["metric"], float(sample["value"][1])) for sample in data["result"]
        ]

    def value(self, expression: str) -> float | None:
        """The value of an expression that yields at most one series; None for none."""
        results = self.query(expression)
        if len(results) > 1:
            raise RuntimeError(f"{expression} yields {len(results)} series: {results}")
        return results[0][1] if results else None

    def targets(self) -> list[dict[str, Any]]:
        """The active targets, each with its `health`, `lastError`, `lastScrape`..."""
        data = self.api("targets", state="active")
        active: list[dict[str, Any]] = data["activeTargets"]
        return active

    def scrapes(self) -> int:
        """How many scrapes of the target it has made (one `up` sample each)."""
        count = self.value(f"count_over_time({self.up}[1d])")
        return int(count or 0)

    def wait_for_value(
        self, expression: str, expected: float, timeout: float = 30
    ) -> None:
        """Wait until `expression` has the value `expected`."""
        last: float | None = None

        def reached() -> bool:
            nonlocal last
            last = self.value(expression)
            return last == expected

        def describe() -> str:
            return (
                f"{expression} = {last}, not {expected}\n"
                f"targets: {json.dumps(self.targets(), indent=2)}\n"
                f"{self.log.read_text(errors='replace')}"
            )

        wait_until(reached, timeout, describe, self.process, interval=0.2)

    def wait_until_up(self, timeout: float = 30) -> None:
        """Wait until its last scrape of the target succeeded."""
        self.wait_for_value(self.up, 1, timeout)

    def wait_for_scrapes(self, count: int, timeout: float = 30) -> None:
        """Wait until it has scraped the target `count` more times."""
        target = self.scrapes() + count
        wait_until(
            lambda: self.scrapes() >= target,
            timeout,
            lambda: f"{self.scrapes()} scrapes, not {target}",
            self.process,
            interval=0.2,
        )

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None


class ServerProcess:
    """A server started as a subprocess on the port in its environment; its output is
    kept in files."""

    def __init__(self, name: str, logs: Path, env: dict[str, str]) -> None:
        self.env = env
        self.port = int(env["PORT"])
        self.stdout_path = logs / f"{name}-{self.port}.stdout"
        self.stderr_path = logs / f"{name}-{self.port}.stderr"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def started(self) -> subprocess.Popen[bytes]:
        """The process, once launched."""
        if self.process is None:
            raise RuntimeError(f"{self.stdout_path.stem} was never launched")
        return self.process

    def launch(
        self, command: list[str], cwd: Path, timeout: float, interval: float = 0.1
    ) -> None:
        """Start the command in its own session; wait until `is_live()`, asking every
        `interval` seconds."""
        with (
            self.stdout_path.open("wb") as stdout,
            self.stderr_path.open("wb") as stderr,
        ):
            self.process = subprocess.Popen(
                command,
                cwd=cwd,
                env=self.env,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,
            )
        wait_until(self.is_live, timeout, self.output, self.process, interval)

    def is_live(self) -> bool:
        """`/health/live` answers 200."""
        return http_status(self.port, "/health/live") == 200

    def output(self) -> str:
        return (
            f"--- stdout ---\n{self.stdout_path.read_text(errors='replace')}"
            f"--- stderr ---\n{self.stderr_path.read_text(errors='replace')}"
        )

    def kill(self) -> None:
        """Kill the whole process group: workers can outlive a server that exited, and
        must not outlive a test or a benchmark run."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


class Service(ServerProcess):
    """`python -m <package>` of a generated, installed project, on `port`."""

    def __init__(self, project: Path, logs: Path, port: int, **settings: str) -> None:
        self.project = project
        super().__init__("service", logs, uv_environment(PORT=str(port), **settings))

    def command(self, *arguments: str) -> list[str]:
        return [
            str(self.project / ".venv" / "bin" / "python"),
            "-m",
            PACKAGE,
            *arguments,
        ]

    def start(self, timeout: float = 30) -> "Service":
        self.launch(self.command(), self.project, timeout)
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 40) -> tuple[int, float]:
        """Send a signal; return the exit code and the seconds it took to exit."""
        sent = time.monotonic()
        self.started.send_signal(sig)
        code = self.started.wait(timeout=timeout)
        return code, time.monotonic() - sent

    def log_lines(self) -> list[dict[str, Any]]:
        """Every stdout line, parsed; raises ValueError if one is not a JSON object."""
        lines = self.stdout_path.read_text().splitlines()
        parsed = [json.loads(line) for line in lines if line.strip()]
        if not all(isinstance(line, dict) for line in parsed):
            raise ValueError(f"a stdout line is not a JSON object:\n{self.output()}")
        return parsed
