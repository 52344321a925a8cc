"""The generated Dockerfile builds, and its image runs the way a container runtime runs.

There is no Docker engine and no registry but PyPI and Debian here, so the base images
are stand-ins made once per machine and cached: a Debian root with the Python of the
Debian suite that packages the version (for `PYTHON_IMAGE`) and an image holding the
uv binary at `/uv` (for `UV_IMAGE`), both handed to the build only through
`--build-arg`. The generated Dockerfile is built unchanged with buildah, for the oldest
offered Python and for the default; its image is then run from the image's own
configuration (Cmd, User, Env, WorkingDir) in its own PID and mount namespaces, with the
`/proc`, `/dev` and `/dev/shm` a runtime provides, and the network of the host.
"""

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx2
import pytest

from hooks.pythons import (
    CA_BUNDLE,
    CACHE,
    DEBIAN_SUITES,
    cache_lock,
    debootstrap,
    in_namespaces,
    uv_binary,
)
from hooks.servers import RedisServer, ServerProcess, free_port

from .conftest import Projects
from .support import DEFAULT_PYTHON, PACKAGE, PYTHON_VERSIONS, Variant, by_variant, run

pytestmark = pytest.mark.slow

# Bumped whenever the stand-in Python image is made differently: a cached one from an
# older recipe is then made again.
RECIPE = "3"
RECIPE_LABEL = "twelve-factor-template.standin-recipe"
OLDEST_PYTHON = min(PYTHON_VERSIONS, key=lambda v: tuple(map(int, v.split("."))))
# The image's Python is the one thing that differs between versions (the frameworks run
# on every version in the variant tests): one framework on each.
VARIANTS = [
    Variant("flask", True, "none", python_version=OLDEST_PYTHON),
    Variant("fastapi", False, "none", python_version=DEFAULT_PYTHON),
]
# One xdist group for all: the images share one buildah storage and stand-in bases.
CONTAINER_VARIANTS = by_variant(VARIANTS, group="container")
USER = "10001:10001"
SECRET_KEY = "container-test-secret-key-0123456789abcdef"
DRAIN_SECONDS = 5
GRACEFUL_TIMEOUT = 20
STOP_MARGIN = 10
TOOLS_HINT = "run ./run-tests, whose hooks/ensure-tools.sh installs it"


@contextlib.contextmanager
def storage_lock() -> Iterator[None]:
    """Serialises what creates containers or images in the suite's buildah storage.

    Other test processes (xdist workers, or another session) share the storage; a
    build's leftover containers can only be told apart while nobody else makes any.
    """
    with cache_lock("buildah"):
        yield


def host_tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is not on PATH: {TOOLS_HINT}"
    return path


class Buildah:
    """buildah on a storage root of its own: the suite never touches anyone else's."""

    def __init__(self, storage: Path) -> None:
        # buildah keeps its temporary files and the `RUN --mount=type=cache` folders
        # under TMPDIR: there too, the suite keeps to its own.
        (storage / "tmp").mkdir(parents=True, exist_ok=True)
        self.env = dict(os.environ, TMPDIR=str(storage / "tmp"))
        self.command = [
            host_tool("buildah"),
            "--root",
            str(storage / "root"),
            "--runroot",
            str(storage / "runroot"),
            "--storage-driver",
            "vfs",
        ]

    def __call__(
        self,
        *arguments: str | os.PathLike[str],
        cwd: Path = CACHE,
        timeout: float = 600,
    ) -> str:
        result = run(
            [*self.command, *arguments], cwd=cwd, env=self.env, timeout=timeout
        )
        return result.stdout.strip()

    def has_image(self, name: str) -> bool:
        result = subprocess.run(
            [*self.command, "inspect", "--type", "image", name],
            env=self.env,
            capture_output=True,
            check=False,
        )
        return result.returncode == 0

    def inspect(self, image: str) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self("inspect", "--type", "image", image))
        return found

    def label(self, image: str, name: str) -> str | None:
        labels = self.inspect(image)["OCIv1"]["config"].get("Labels") or {}
        value = labels.get(name)
        return str(value) if value is not None else None

    def containers(self) -> set[str]:
        listed = self("containers", "--all", "--quiet", "--notruncate")
        return set(listed.split())


@dataclass(frozen=True)
class BaseImages:
    buildah: Buildah
    # Each Python version's stand-in image.
    python: dict[str, str]
    uv: str
    uv_version: str


@dataclass(frozen=True)
class Image:
    name: str
    config: dict[str, Any]
    healthcheck: dict[str, Any] | None


# --- stand-in base images, made once per machine --------------------------------


def make_python_base(buildah: Buildah, tag: str, version: str) -> None:
    """A Debian root with Python `version`, laid out like the official python image:
    `python` and `python3` in /usr/local/bin, first on PATH, are that version (forky's
    own python3, which Debian's Python packages need to configure, is 3.14)."""
    container = buildah("from", "--quiet", "scratch")
    try:
        root = Path(buildah("mount", container))
        python = f"python{version}"
        # python3-venv brings what python3.11-venv needs on bookworm (debootstrap does
        # not resolve its virtual python3.11-distutils).
        packages = ["python3", "python3-venv", python, f"{python}-venv"]
        debootstrap(DEBIAN_SUITES[version], root, [*packages, "ca-certificates"])
        for name in ("python", "python3"):
            (root / "usr/local/bin" / name).symlink_to(f"/usr/bin/{python}")
        # An image carries no device nodes, package lists or downloaded packages:
        # the runtime provides /dev.
        for leftovers in ("dev", "var/lib/apt/lists", "var/cache/apt"):
            for path in (root / leftovers).iterdir():
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
        buildah(
            "config",
            "--label",
            f"{RECIPE_LABEL}={RECIPE}",
            "--env",
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "--env",
            "LANG=C.UTF-8",
            # uv trusts its built-in roots, not the system's: without this, the build's
            # downloads fail here with "invalid peer certificate: UnknownIssuer".
            "--env",
            f"SSL_CERT_FILE={CA_BUNDLE}",
            "--cmd",
            "python3",
            container,
        )
        buildah("umount", container)
        buildah("commit", "--quiet", "--rm", container, tag)
    except BaseException:
        buildah("rm", container)
        raise


def uv_version(binary: Path) -> str:
    output = run([binary, "--version"], cwd=CACHE).stdout
    match = re.match(r"uv (\S+)", output)
    assert match, output
    return match[1]


def pinned_uv(binary: Path, version: str) -> Path:
    """The uv the Dockerfile pins: this machine's if it matches, else from PyPI."""
    if uv_version(binary) == version:
        return binary
    target = CACHE / f"uv-{version}"
    if not (target / "bin" / "uv").is_file():
        run(
            [binary, "pip", "install", "--quiet", "--target", target, f"uv=={version}"],
            cwd=CACHE,
        )
    installed = target / "bin" / "uv"
    assert uv_version(installed) == version
    return installed


def make_uv_base(buildah: Buildah, tag: str, binary: Path) -> None:
    container = buildah("from", "--quiet", "scratch")
    try:
        buildah("copy", "--chmod", "0755", container, binary, "/uv")
        buildah("commit", "--quiet", "--rm", container, tag)
    except BaseException:
        buildah("rm", container)
        raise


def dockerfile_uv_pin(projects: Projects) -> str:
    dockerfile = (projects.rendered(VARIANTS[0]) / "Dockerfile").read_text()
    match = re.search(r"^ARG UV_IMAGE=\S+:(\S+)$", dockerfile, re.MULTILINE)
    assert match, "the Dockerfile pins no UV_IMAGE default"
    return match[1]


@pytest.fixture(scope="session")
def base_images(projects: Projects) -> BaseImages:
    assert os.geteuid() == 0, (
        "building and running images needs root (debootstrap, PID namespaces)"
    )
    CACHE.mkdir(parents=True, exist_ok=True)
    buildah = Buildah(CACHE / "buildah")
    pythons = {
        variant.python_version: f"localhost/standin-python:{variant.python_version}"
        for variant in VARIANTS
    }
    version = dockerfile_uv_pin(projects)
    uv = f"localhost/standin-uv:{version}"
    # Another test process on this machine may be making the same images.
    with storage_lock():
        for python_version, python in pythons.items():
            if (
                buildah.has_image(python)
                and buildah.label(python, RECIPE_LABEL) != RECIPE
            ):
                buildah("rmi", python)
            if not buildah.has_image(python):
                make_python_base(buildah, python, python_version)
        if not buildah.has_image(uv):
            make_uv_base(buildah, uv, pinned_uv(uv_binary(), version))
    for image in (*pythons.values(), uv):
        assert buildah.has_image(image), f"{image} is missing after it was made"
    return BaseImages(buildah, pythons, uv, version)


# --- the generated project's image ---------------------------------------------


class Images:
    """Builds each variant's image once per session, from its unchanged Dockerfile."""

    def __init__(self, projects: Projects, bases: BaseImages) -> None:
        self.projects = projects
        self.bases = bases
        self.built: dict[Variant, Image] = {}

    def __getitem__(self, variant: Variant) -> Image:
        if variant not in self.built:
            self.built[variant] = self.build(variant)
        return self.built[variant]

    def build(self, variant: Variant) -> Image:
        buildah = self.bases.buildah
        project = self.projects.rendered(variant)
        # Named per session, so that two sessions on one machine never share a tag.
        name = (
            f"localhost/order-service-test:{variant.id.replace('.', '')}-{os.getpid()}"
        )
        with storage_lock():
            self.build_locked(buildah, project, name, variant.python_version)
        found = buildah.inspect(name)
        docker_config = found["Docker"].get("config") or {}
        return Image(name, found["OCIv1"]["config"], docker_config.get("Healthcheck"))

    def build_locked(
        self, buildah: Buildah, project: Path, name: str, python_version: str
    ) -> None:
        before = buildah.containers()
        try:
            buildah(
                "bud",
                "--isolation",
                "chroot",
                # Docker's format keeps the HEALTHCHECK, which OCI's drops.
                "--format",
                "docker",
                "--build-arg",
                f"PYTHON_IMAGE={self.bases.python[python_version]}",
                "--build-arg",
                f"UV_IMAGE={self.bases.uv}",
                "--tag",
                name,
                project,
                cwd=project,
            )
        finally:
            # buildah 1.28 leaves the working container of a FROM-only stage behind.
            left = buildah.containers() - before
            if left:
                buildah("rm", *sorted(left))


@pytest.fixture(scope="session")
def images(projects: Projects, base_images: BaseImages) -> Iterator[Images]:
    built = Images(projects, base_images)
    yield built
    # The stand-in bases stay cached; the service images go.
    for image in built.built.values():
        base_images.buildah("rmi", image.name)


class Mounted(Protocol):
    def __call__(self, variant: Variant) -> Path: ...


@pytest.fixture
def mounted(images: Images) -> Iterator[Mounted]:
    """Mounts a fresh container of an image; unmounts and removes it afterwards."""
    buildah = images.bases.buildah
    made: list[str] = []

    def mount(variant: Variant) -> Path:
        image = images[variant]
        with storage_lock():
            container = buildah("from", "--quiet", image.name)
        made.append(container)
        return Path(buildah("mount", container))

    yield mount
    for container in made:
        buildah("umount", container)
        buildah("rm", container)


# --- running an image as a runtime does -------------------------------------------

# Runs as PID 1 of a new PID and mount namespace, on the host's tools: mounts what a
# runtime provides inside the image's root, then becomes the image's command (keeping
# PID 1) inside that root, in its working directory, as its user, with no supplementary
# groups. Nothing mounted here is visible outside the namespace.
RUNTIME = r"""
set -eu
root=$1 workdir=$2 uid=$3 gid=$4
shift 4
{mount} -t proc -o nosuid,nodev,noexec proc "$root/proc"
{mount} -t tmpfs -o nosuid,mode=755 tmpfs "$root/dev"
for device in null zero full random urandom tty; do
    : > "$root/dev/$device"
    {mount} --bind "/dev/$device" "$root/dev/$device"
done
mkdir "$root/dev/shm" "$root/dev/pts"
{mount} -t tmpfs -o nosuid,nodev,mode=1777,size=64m shm "$root/dev/shm"
ln -s /proc/self/fd "$root/dev/fd"
ln -s /proc/self/fd/0 "$root/dev/stdin"
ln -s /proc/self/fd/1 "$root/dev/stdout"
ln -s /proc/self/fd/2 "$root/dev/stderr"
exec {unshare} --root="$root" --wd="$workdir" --setuid "$uid" --setgid "$gid" -- "$@"
"""


def container_command(
    image: Image, root: Path, command: Sequence[str] | None = None
) -> list[str]:
    config = image.config
    uid, _, gid = config["User"].partition(":")
    assert uid.isdigit(), config["User"]
    assert gid.isdigit(), config["User"]
    unshare = host_tool("unshare")
    script = RUNTIME.format(
        mount=shlex.quote(host_tool("mount")), unshare=shlex.quote(unshare)
    )
    return in_namespaces(
        script,
        "runtime",
        [
            str(root),
            config["WorkingDir"],
            uid,
            gid,
            *(command if command is not None else config["Cmd"]),
        ],
        unshare=unshare,
    )


def container_env(image: Image, **settings: str) -> dict[str, str]:
    env = dict(entry.partition("=")[::2] for entry in image.config["Env"])
    return env | settings


class Container(ServerProcess):
    """The image's CMD, run from its mounted root as PID 1 of a new PID namespace."""

    def __init__(
        self, image: Image, root: Path, logs: Path, env: dict[str, str]
    ) -> None:
        self.image = image
        self.root = root
        super().__init__("container", logs, env)

    def start(self, timeout: float = 30) -> "Container":
        self.launch(container_command(self.image, self.root), Path("/"), timeout)
        return self

    def init_pid(self) -> int:
        """The host's PID of the container's first process (the unshare's child)."""
        assert self.process is not None
        children = Path(
            f"/proc/{self.process.pid}/task/{self.process.pid}/children"
        ).read_text()
        [child] = children.split()
        return int(child)

    def stop(self, timeout: float) -> tuple[int, float]:
        """SIGTERM to the container's PID 1, as `docker stop` and kubelets send it."""
        assert self.process is not None
        started = time.monotonic()
        os.kill(self.init_pid(), signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        return code, time.monotonic() - started

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            # --kill-child takes the container's PID 1, and with it the namespace.
            self.process.kill()
            self.process.wait(timeout=10)


def status_fields(pid: int) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.split()
    return fields


def production_settings(
    variant: Variant, redis_server: RedisServer, **settings: str
) -> dict[str, str]:
    env = {"PORT": str(free_port()), "SECRET_KEY": SECRET_KEY}
    if variant.redis_sessions:
        env["REDIS_URL"] = redis_server.url
    return env | settings


# --- tests --------------------------------------------------------------------------


@pytest.mark.parametrize("variant", CONTAINER_VARIANTS)
def test_image_declares_its_user_command_and_environment_and_carries_no_uv(
    images: Images, mounted: Mounted, variant: Variant
) -> None:
    image = images[variant]
    config = image.config

    assert config["User"] == USER
    assert config["Cmd"] == ["python", "-m", PACKAGE]
    assert config["WorkingDir"] == "/app"
    env = container_env(image)
    assert env["APP_ENV"] == "production"
    assert env["PATH"].startswith("/app/.venv/bin:")
    assert "SECRET_KEY" not in env
    assert "REDIS_URL" not in env
    assert image.healthcheck is not None
    assert "/health/live" in " ".join(image.healthcheck["Test"])

    root = mounted(variant)
    uv_files = [
        Path(folder, name).relative_to(root)
        for folder, _, names in os.walk(root)
        for name in names
        if name in {"uv", "uvx"}
    ]
    assert uv_files == [], "the runtime stage must carry no uv"
    # Owned by root: the service cannot rewrite its own code.
    venv = root / "app" / ".venv"
    assert venv.stat().st_uid == 0
    # ...and runs on the Python version the service chose.
    config = dict(
        line.partition(" = ")[::2]
        for line in (venv / "pyvenv.cfg").read_text().splitlines()
    )
    assert config["version_info"].startswith(f"{variant.python_version}."), config


@pytest.mark.parametrize("variant", CONTAINER_VARIANTS)
def test_container_serves_as_pid_1_non_root_and_exits_0_on_sigterm(
    images: Images,
    mounted: Mounted,
    redis_server: RedisServer,
    tmp_path: Path,
    variant: Variant,
) -> None:
    image = images[variant]
    root = mounted(variant)
    env = container_env(image, **production_settings(variant, redis_server))
    container = Container(image, root, tmp_path, env)
    try:
        container.start()

        ready = httpx2.get(f"{container.url}/health/ready", timeout=5)
        assert ready.status_code == 200, ready.text
        pid = container.init_pid()
        status = status_fields(pid)
        # The image's command itself is PID 1 of the container's PID namespace...
        assert status["NSpid"][-1] == "1", status["NSpid"]
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]
        assert [part.decode() for part in cmdline] == image.config["Cmd"]
        # ...inside the image's root, as the image's user with no other group.
        assert os.readlink(f"/proc/{pid}/root") == str(root)
        assert status["Uid"] == ["10001"] * 4
        assert status["Gid"] == ["10001"] * 4
        assert status["Groups"] == []
        # The HEALTHCHECK command works inside the image, against the server.
        health = image.healthcheck
        assert health is not None
        assert health["Test"][0] == "CMD"
        check = subprocess.run(
            container_command(image, root, health["Test"][1:]),
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert check.returncode == 0, check.stderr

        code, seconds = container.stop(
            timeout=DRAIN_SECONDS + GRACEFUL_TIMEOUT + STOP_MARGIN
        )

        assert code == 0, container.output()
        assert seconds < DRAIN_SECONDS + GRACEFUL_TIMEOUT + STOP_MARGIN
        lines = [
            json.loads(line)
            for line in container.stdout_path.read_text().splitlines()
            if line.strip()
        ]
        assert any(line["message"] == "shutdown complete" for line in lines)
    finally:
        container.kill()


@pytest.mark.parametrize("variant", CONTAINER_VARIANTS)
def test_container_refuses_to_start_without_a_secret_key(
    images: Images,
    mounted: Mounted,
    redis_server: RedisServer,
    variant: Variant,
) -> None:
    image = images[variant]
    root = mounted(variant)
    settings = production_settings(variant, redis_server)
    del settings["SECRET_KEY"]

    result = subprocess.run(
        container_command(image, root),
        env=container_env(image, **settings),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 78, result
    assert result.stderr == ""
    [line] = result.stdout.splitlines()
    parsed = json.loads(line)
    assert parsed["variables"] == ["SECRET_KEY"]
    assert parsed["level"] == "critical"
