"""Fixtures for the template's own tests: generated projects, a real Redis, and a
scratch clone of the template with its releases."""

import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from pytest_copie.plugin import Copie

from hooks.pythons import interpreter
from hooks.servers import RedisServer, ServerCertificate

from .support import RELEASES, ROOT, Variant, git


def pytest_configure(config: pytest.Config) -> None:
    # pytest-copie resolves its template relative to the working directory: pin it,
    # so the suite runs the same from any folder.
    config.option.template = str(ROOT)


class Projects:
    """Renders each variant once per session, and installs it with uv on demand, on
    the interpreter of its Python version (see hooks/pythons.py)."""

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
            interpreter(variant.python_version).sync(project)
            self._synced.add(variant)
        return project


@pytest.fixture(scope="session")
def projects(copie_session: Copie) -> Projects:
    return Projects(copie_session)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
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
        return started[-1].start()

    yield start
    for server in started:
        server.stop()


def working_tree_files(repository: Path) -> list[str]:
    listed = git(repository, "ls-files", "--cached", "--others", "--exclude-standard")
    return [name for name in listed.splitlines() if (repository / name).is_file()]


def commit_working_tree(source: Path, clone: Path, message: str) -> None:
    """Make the clone's tree exactly the source's working tree, and commit it."""
    for name in working_tree_files(clone):
        (clone / name).unlink()
    for name in working_tree_files(source):
        target = clone / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / name, target)
    git(clone, "add", "--all")
    git(clone, "commit", "--quiet", "--allow-empty", "-m", message)


@pytest.fixture(scope="session")
def template_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scratch clone with the release tags rebuilt; its HEAD commits the working tree.

    What a service generated from it records (`_src_path`, `_commit`) exists for
    `copier update`, which a dirty checkout's temporary commit does not.
    """
    clone = tmp_path_factory.mktemp("template") / "repo"
    git(ROOT, "clone", "--quiet", "--no-local", str(ROOT), str(clone))
    assert git(clone, "rev-parse", "--is-shallow-repository").strip() == "false", (
        "the releases need the full history: clone without --depth"
    )
    # The recorded commit is authoritative, whether or not the tag travelled.
    for tag, commit in RELEASES:
        git(clone, "tag", "--force", tag, commit)
    commit_working_tree(ROOT, clone, "current template")
    return clone
