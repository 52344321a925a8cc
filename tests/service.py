"""A generated service run as its production process: `python -m <package>`."""

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2

from .support import PACKAGE, uv_environment


def wait_until_live(
    process: subprocess.Popen[bytes],
    url: str,
    output: Callable[[], str],
    timeout: float,
) -> None:
    """Poll `/health/live` until it answers 200, or fail with the process output."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"exited {process.returncode}\n{output()}")
        try:
            if httpx2.get(f"{url}/health/live", timeout=1).status_code == 200:
                return
        except httpx2.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"no answer within {timeout} s\n{output()}")


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
        return f"http://127.0.0.1:{self.port}"

    def launch(self, command: list[str], cwd: Path, timeout: float) -> None:
        """Start the command in its own session, and wait until it is live."""
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
        wait_until_live(self.process, self.url, self.output, timeout)

    def output(self) -> str:
        return (
            f"--- stdout ---\n{self.stdout_path.read_text()}"
            f"--- stderr ---\n{self.stderr_path.read_text()}"
        )


class Service(ServerProcess):
    """`python -m <package>` of a generated project, on a free port."""

    def __init__(self, project: Path, logs: Path, port: int, **settings: str) -> None:
        self.project = project
        super().__init__(
            "service", logs, uv_environment() | {"PORT": str(port)} | settings
        )

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
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(sig)
        code = self.process.wait(timeout=timeout)
        return code, time.monotonic() - started

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            # The whole group: workers must not outlive a failed test.
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def log_lines(self) -> list[dict[str, Any]]:
        """Every stdout line, parsed: fails if one is not a JSON object."""
        lines = self.stdout_path.read_text().splitlines()
        parsed = [json.loads(line) for line in lines if line.strip()]
        assert all(isinstance(line, dict) for line in parsed)
        return parsed
