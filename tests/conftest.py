"""Fixtures for the template's own tests: generated projects, uv, and a real Redis."""

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pytest_copie.plugin import Copie

from .support import ROOT, Variant, run, uv_environment


def pytest_configure(config: pytest.Config) -> None:
    # pytest-copie resolves its template relative to the working directory: pin it,
    # so the suite runs the same from any folder.
    config.option.template = str(ROOT)


class Projects:
    """Renders each variant once per session, and installs it with uv on demand."""

    def __init__(self, copie: Copie) -> None:
        self._copie = copie
        self._rendered: dict[Variant, Path] = {}
        self._synced: set[Variant] = set()

    def rendered(self, variant: Variant) -> Path:
        if variant not in self._rendered:
            result = self._copie.copy(extra_answers=variant.answers)
            assert result.exit_code == 0, result.exception
            assert result.project_dir is not None
            self._rendered[variant] = result.project_dir
        return self._rendered[variant]

    def synced(self, variant: Variant) -> Path:
        project = self.rendered(variant)
        if variant not in self._synced:
            # --locked: the shipped uv.lock must already match pyproject.toml.
            run(["uv", "sync", "--locked", "--quiet"], cwd=project)
            self._synced.add(variant)
        return project


@pytest.fixture(scope="session")
def projects(copie_session: Copie) -> Projects:
    return Projects(copie_session)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A real redis-server on its own port, without persistence."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        executable = shutil.which("redis-server")
        assert executable, "redis-server is not on PATH: run the README's test command"
        self.process = subprocess.Popen(
            [
                executable,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(
                    ("127.0.0.1", self.port), timeout=0.5
                ) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"redis-server did not answer on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def uv_env() -> Callable[..., dict[str, str]]:
    def build(**overrides: str) -> dict[str, str]:
        return uv_environment() | overrides

    return build
