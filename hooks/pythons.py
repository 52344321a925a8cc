"""Interpreters for every offered Python version: this machine's, or a Debian root's.

A version this machine has (the interpreter running the suite, one on PATH as
`pythonX.Y`, or one pyenv carries) runs on the host. Any other runs inside a Debian
root made once per machine with debootstrap from the suite that packages it, cached
under ~/.cache/twelve-factor-template with a recipe version (a root from an older
recipe is made again), holding that Python, redis-server, PostgreSQL's server
binaries and this machine's CA bundle. Commands run in it as root in their own PID
and mount namespaces, with the host's uv binary, uv cache and network.
"""

import contextlib
import fcntl
import functools
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from hooks.projects import PYTHON_VERSIONS, SYNC, run, uv_environment

CACHE = (
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    / "twelve-factor-template"
)
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
DEBIAN_MIRROR = "http://deb.debian.org/debian"
# The Debian suite that packages each Python version: bookworm's and trixie's default
# python3, forky's (testing) default 3.14 and its python3.15. No suite packages 3.12.
DEBIAN_SUITES = {
    "3.11": "bookworm",
    "3.13": "trixie",
    "3.14": "forky",
    "3.15": "forky",
}
# Bumped whenever a Debian root is made differently: a cached one from an older recipe
# is then made again.
ROOT_RECIPE = "1"
# Where, inside a root, the command's project, temporary files and uv cache are mounted.
PROJECT_MOUNT = Path("/project")
UV_CACHE_MOUNT = Path("/uv-cache")


def in_namespaces(
    script: str, name: str, arguments: Sequence[str], unshare: str = "unshare"
) -> list[str]:
    """A shell `script` (`$0` is `name`, then the arguments) run in PID and mount
    namespaces of its own: its mounts stay inside, and its processes die with it."""
    return [
        unshare,
        "--pid",
        "--fork",
        "--mount",
        "--propagation",
        "private",
        # Should the caller die, the kernel kills the script and its children.
        "--kill-child",
        "/bin/sh",
        "-c",
        script,
        name,
        *arguments,
    ]


def interpreter_version(executable: str | os.PathLike[str]) -> tuple[str, str] | None:
    """(X.Y, the real executable) of a Python, or None if it does not run (a pyenv
    shim for a version pyenv has not selected, say)."""
    try:
        result = subprocess.run(
            [
                executable,
                "-c",
                "import sys; print('%d.%d' % sys.version_info[:2], sys.executable)",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return None
    version, _, real = result.stdout.strip().partition(" ")
    return (version, real) if result.returncode == 0 and real else None


def pyenv_pythons(version: str) -> list[Path]:
    """The pythonX.Y of each CPython X.Y.Z that pyenv carries, newest first."""
    pyenv = shutil.which("pyenv")
    if pyenv is None and os.environ.get("PYENV_ROOT"):
        pyenv = shutil.which("pyenv", path=str(Path(os.environ["PYENV_ROOT"], "bin")))
    if pyenv is None:
        return []
    listed = subprocess.run(
        [pyenv, "versions", "--bare"],
        capture_output=True,
        text=True,
        check=False,
    )
    root = subprocess.run(
        [pyenv, "root"], capture_output=True, text=True, check=False
    ).stdout.strip()
    releases = [
        name
        for name in listed.stdout.split()
        # CPython releases only: not `3.13.0t`, `3.13-dev`, a virtualenv or PyPy.
        if name.startswith(f"{version}.") and name.split(".")[2].isdigit()
    ]
    releases.sort(key=lambda name: int(name.split(".")[2]), reverse=True)
    return [
        Path(root, "versions", name, "bin", f"python{version}") for name in releases
    ]


def host_python(version: str) -> str | None:
    """This machine's interpreter for a Python version, if it has one."""
    candidates: list[str | os.PathLike[str]] = [sys.executable]
    on_path = shutil.which(f"python{version}")
    if on_path:
        candidates.append(on_path)
    candidates.extend(pyenv_pythons(version))
    for candidate in candidates:
        found = interpreter_version(candidate)
        if found and found[0] == version:
            return found[1]
    return None


def uv_binary() -> Path:
    """The real uv executable (not a shim script), as the official image ships it."""
    for candidate in (os.environ.get("UV"), shutil.which("uv")):
        if candidate and Path(candidate).read_bytes()[:4] == b"\x7fELF":
            return Path(candidate)
    # `uv run` tells its children where uv is, shims and wrappers resolved.
    uv = shutil.which("uv")
    assert uv, (
        "uv is not on PATH: run ./run-tests, whose hooks/ensure-tools.sh installs it"
    )
    found = run([uv, "run", "--no-project", "printenv", "UV"], cwd=Path.cwd())
    assert found.stdout.strip(), "could not find the uv executable"
    return Path(found.stdout.strip())


def uv_cache_dir() -> Path:
    uv = shutil.which("uv")
    assert uv, (
        "uv is not on PATH: run ./run-tests, whose hooks/ensure-tools.sh installs it"
    )
    return Path(run([uv, "cache", "dir"], cwd=Path.cwd()).stdout.strip())


@contextlib.contextmanager
def cache_lock(name: str) -> Iterator[None]:
    """Serialises the making of one cached thing across processes (xdist workers, or
    other sessions on this machine)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def debootstrap_script(suite: str) -> list[str]:
    """debootstrap's fourth argument for a suite it has no script of its own for.

    An older debootstrap (bookworm's) knows no suite newer than itself; Debian's
    testing is made like sid.
    """
    listed = run(["dpkg", "-L", "debootstrap"], cwd=Path("/")).stdout.split()
    scripts = {Path(path).name: path for path in listed if "/scripts/" in path}
    if suite in scripts:
        return []
    assert "sid" in scripts, "debootstrap has no sid script"
    return [scripts["sid"]]


def debootstrap(suite: str, root: Path, packages: Sequence[str]) -> None:
    """A minimal Debian root of `suite` with `packages`, and this machine's CA bundle
    (TLS to PyPI from inside goes through it)."""
    debootstrap = shutil.which("debootstrap")
    assert debootstrap, (
        "debootstrap is not on PATH: run ./run-tests, whose hooks/ensure-tools.sh "
        "installs it"
    )
    run(
        [
            debootstrap,
            "--variant=minbase",
            f"--include={','.join(packages)}",
            suite,
            root,
            DEBIAN_MIRROR,
            *debootstrap_script(suite),
        ],
        cwd=CACHE,
        env=dict(os.environ),
        timeout=900,
    )
    shutil.copyfile(CA_BUNDLE, root / CA_BUNDLE.relative_to("/"))


# Runs as PID 1 of new PID and mount namespaces, on the host's tools: mounts the host's
# /dev, a /proc of its own, the project, a private /tmp, the uv cache and the uv
# binary inside the root, then becomes the command in the root, in the project.
# Nothing mounted here is visible outside the namespace.
IN_ROOT = r"""
set -eu
root=$1 project=$2 tmp=$3 cache=$4 uv=$5
shift 5
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount --bind /etc/resolv.conf "$root/etc/resolv.conf"
mount --bind "$project" "$root{project_mount}"
mount --bind "$tmp" "$root/tmp"
mount --bind "$cache" "$root{cache_mount}"
mount --bind "$uv" "$root/usr/local/bin/uv"
exec unshare --root="$root" --wd={project_mount} -- "$@"
"""


@dataclass(frozen=True)
class DebianRoot:
    """A Debian root with a suite's Pythons, redis-server and PostgreSQL, made once per
    machine."""

    suite: str

    @property
    def path(self) -> Path:
        return CACHE / f"debian-{self.suite}"

    @property
    def packages(self) -> list[str]:
        pythons = [f"python{v}" for v, s in DEBIAN_SUITES.items() if s == self.suite]
        # uv makes the virtualenvs: no -venv package is needed. The generated tests
        # start PostgreSQL servers of their own, from Debian's
        # /usr/lib/postgresql/<major>/bin, as `nobody` (from base-passwd: commands run
        # as root here); debootstrap's policy-rc.d keeps the package's own cluster from
        # starting.
        return ["ca-certificates", "redis-server", "postgresql", "python3", *pythons]

    @property
    def recipe(self) -> str:
        return f"{ROOT_RECIPE} {' '.join(self.packages)}\n"

    def ensure(self) -> "DebianRoot":
        """Make the root unless a cached one of this recipe exists."""
        marker = self.path / ".twelve-factor-template-recipe"
        with cache_lock(self.path.name):
            if marker.is_file() and marker.read_text() == self.recipe:
                return self
            shutil.rmtree(self.path, ignore_errors=True)
            partial = self.path.with_name(f"{self.path.name}.partial")
            shutil.rmtree(partial, ignore_errors=True)
            debootstrap(self.suite, partial, self.packages)
            for mount_point in (PROJECT_MOUNT, UV_CACHE_MOUNT):
                (partial / mount_point.relative_to("/")).mkdir()
            (partial / "usr/local/bin/uv").touch()
            (partial / marker.name).write_text(self.recipe)
            partial.rename(self.path)
        return self

    def command(
        self, command: Sequence[str | os.PathLike[str]], project: Path, tmp: Path
    ) -> list[str]:
        """`command` run in the root with `project` as its working directory."""
        script = IN_ROOT.format(
            project_mount=shlex.quote(str(PROJECT_MOUNT)),
            cache_mount=shlex.quote(str(UV_CACHE_MOUNT)),
        )
        return in_namespaces(
            script,
            "in-root",
            [
                str(self.path),
                str(project),
                str(tmp),
                str(uv_cache_dir()),
                str(uv_binary()),
                *map(str, command),
            ],
        )


@dataclass(frozen=True)
class Interpreter:
    """Where a Python version runs here: a host executable, or one in a Debian root."""

    version: str
    executable: str
    root: DebianRoot | None = None

    @property
    def where(self) -> str:
        return f"Debian {self.root.suite} root" if self.root else "this machine"

    def environment(self, **overrides: str) -> dict[str, str]:
        """uv's and the projects' environment for this interpreter."""
        if self.root is None:
            return uv_environment(UV_PYTHON=self.executable) | overrides
        return {
            "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin",
            "HOME": "/root",
            "LANG": "C.UTF-8",
            "TMPDIR": "/tmp",
            # uv trusts its built-in roots, not the system's.
            "SSL_CERT_FILE": str(CA_BUNDLE),
            "UV_CACHE_DIR": str(UV_CACHE_MOUNT),
            # The cache is another mount: hard links cannot cross it.
            "UV_LINK_MODE": "copy",
            "UV_PYTHON": self.executable,
            "UV_PYTHON_DOWNLOADS": "never",
            "UV_NO_PROGRESS": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        } | overrides

    def sync(self, project: Path) -> Path:
        """Install a generated project with uv on this interpreter."""
        self.run(SYNC, project)
        return project

    def run(
        self,
        command: Sequence[str | os.PathLike[str]],
        project: Path,
        env: Mapping[str, str] | None = None,
        timeout: float = 900,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command in `project` on this interpreter (`environment()` unless told
        otherwise); CommandFailedError with its output when it exits non-zero."""
        env = dict(env) if env is not None else self.environment()
        if self.root is None:
            return run(command, cwd=project, env=env, timeout=timeout)
        tmp = project.with_name(f"{project.name}.tmp")
        tmp.mkdir(exist_ok=True)
        # The namespace's tools (unshare, mount) are the host's, on the same PATH.
        return run(
            self.root.command(command, project, tmp),
            cwd=project,
            env=env,
            timeout=timeout,
        )


@functools.cache
def interpreter(version: str) -> Interpreter:
    """The interpreter a Python version runs on here: the host's if it has one, else
    the Debian root of the suite that packages it (made on first use)."""
    assert version in PYTHON_VERSIONS, f"Python {version} is not offered"
    found = host_python(version)
    if found:
        return Interpreter(version, found)
    suite = DEBIAN_SUITES.get(version)
    assert suite, (
        f"this machine has no Python {version} and no Debian suite packages it: "
        f"install it with pyenv (`pyenv install {version}`)"
    )
    return Interpreter(version, f"/usr/bin/python{version}", DebianRoot(suite).ensure())
