"""Fixtures for the template's own tests: generated projects, uv, and a real Redis."""

import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

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
        return f"redis://127.0.0.1:{self.port}/0"

    def url_trusting(self, authority: Path) -> str:
        """The TLS server's URL for a client that verifies it against `authority`."""
        assert self.tls is not None, "only a TLS server has a rediss:// URL"
        return f"rediss://127.0.0.1:{self.port}/0?ssl_ca_certs={quote(str(authority))}"

    def start(self) -> None:
        executable = shutil.which("redis-server")
        assert executable, "redis-server is not on PATH: run the README's test command"
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
                    *("--bind", "127.0.0.1"),
                    *("--save", ""),
                    *("--appendonly", "no"),
                    *("--dir", str(self.workdir)),
                    *self.arguments,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if self._answers_ping():
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(
            f"redis-server did not answer on port {self.port}\n{self.log.read_text()}"
        )

    def _answers_ping(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
            if self.tls is None:
                return self._ping(sock)
            context = ssl.create_default_context(cafile=self.tls.authority)
            with context.wrap_socket(sock, server_hostname="127.0.0.1") as tls:
                return self._ping(tls)

    @staticmethod
    def _ping(sock: socket.socket) -> bool:
        sock.sendall(b"PING\r\n")
        # An ACL that turns the default user off answers NOAUTH: it is up all the same.
        return sock.recv(16).startswith((b"+PONG", b"-NOAUTH"))

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
def start_redis(tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    """Starts redis-servers for one test (with `RedisServer`'s `arguments` and `tls`),
    and stops them after it."""
    started: list[RedisServer] = []

    def start(
        arguments: Sequence[str] = (), tls: ServerCertificate | None = None
    ) -> RedisServer:
        workdir = tmp_path / f"redis-{len(started)}"
        workdir.mkdir()
        started.append(RedisServer(workdir, arguments, tls))
        started[-1].start()
        return started[-1]

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def uv_env() -> Callable[..., dict[str, str]]:
    def build(**overrides: str) -> dict[str, str]:
        return uv_environment() | overrides

    return build
