"""Every offered Python version is real here: an interpreter runs it, the shipped locks
install from wheels on it, and a service keeps the version it recorded.

Where each version runs (this machine's interpreter, or a Debian root's) is decided by
hooks/pythons.py; the variant tests run generated services' own checks on each.
"""

import re
import tomllib
from collections import defaultdict
from pathlib import Path
from typing import Any

import copier
import pytest
from packaging.markers import Marker
from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import parse_wheel_filename

from hooks.pythons import interpreter

from .support import (
    CONFIG,
    DEPENDENCY_SETS,
    PYTHON_VERSIONS,
    RELEASES,
    ROOT,
    RULES,
    generate,
    git,
    recorded_answers,
)

LOCKS = ROOT / "template" / ".locks"
# Kubernetes nodes may be Intel or ARM; the images' glibc is at least bookworm's.
ARCHITECTURES = ("x86_64", "aarch64")
GLIBC = (2, 36)


def version_tuple(version: str) -> tuple[int, int]:
    major, minor = version.split(".")
    return int(major), int(minor)


def linux_environment(version: str, architecture: str) -> dict[str, str]:
    """The marker environment of CPython `version`.0 on glibc Linux."""
    return {
        "implementation_name": "cpython",
        "implementation_version": f"{version}.0",
        "os_name": "posix",
        "platform_machine": architecture,
        "platform_python_implementation": "CPython",
        "platform_system": "Linux",
        "python_full_version": f"{version}.0",
        "python_version": version,
        "sys_platform": "linux",
    }


def supported_tags(version: str, architecture: str) -> set[Tag]:
    """The wheel tags pip and uv install on CPython `version` on manylinux (glibc up to
    GLIBC), pure wheels included."""
    major, glibc_minor = GLIBC
    platforms = [
        f"manylinux_{major}_{minor}_{architecture}"
        for minor in range(glibc_minor, 4, -1)
    ]
    # The legacy names of manylinux_2_17, _2_12 and _2_5.
    platforms += [f"manylinux{year}_{architecture}" for year in ("2014", "2010", "1")]
    python = version_tuple(version)
    interpreter_tag = f"cp{python[0]}{python[1]}"
    return set(cpython_tags(python, abis=[interpreter_tag], platforms=platforms)) | set(
        compatible_tags(python, interpreter_tag, platforms)
    )


def installed_packages(
    lock: dict[str, Any], environment: dict[str, str]
) -> list[dict[str, Any]]:
    """The locked packages `uv sync` installs in `environment`: every dependency of
    the project (all its groups) whose marker holds there, with the extras asked for."""
    by_name: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for package in lock["package"]:
        by_name[package["name"]].append(package)

    def holds(dependency: dict[str, Any]) -> bool:
        return "marker" not in dependency or Marker(dependency["marker"]).evaluate(
            environment
        )

    def package_of(dependency: dict[str, Any]) -> dict[str, Any]:
        candidates = [
            package
            for package in by_name[dependency["name"]]
            if dependency.get("version", package["version"]) == package["version"]
        ]
        assert len(candidates) == 1, dependency
        return candidates[0]

    [project] = [p for p in lock["package"] if "editable" in p.get("source", {})]
    groups = project.get("dev-dependencies", {}).values()
    pending = [
        (project, set[str]()),
        *((package_of(d), set(d.get("extra", []))) for g in groups for d in g),
    ]
    installed: dict[tuple[str, str], dict[str, Any]] = {}
    extras_seen: set[tuple[str, str, str]] = set()
    while pending:
        package, extras = pending.pop()
        key = (package["name"], package["version"])
        new_extras = {e for e in extras if (*key, e) not in extras_seen}
        if key in installed and not new_extras:
            continue
        extras_seen.update((*key, e) for e in extras)
        dependencies = [] if key in installed else package.get("dependencies", [])
        installed[key] = package
        for extra in new_extras:
            dependencies = [
                *dependencies,
                *package.get("optional-dependencies", {})[extra],
            ]
        pending.extend(
            (package_of(d), set(d.get("extra", []))) for d in dependencies if holds(d)
        )
    return [p for p in installed.values() if p is not project]


def packages_without_a_wheel(
    lock: dict[str, Any], version: str, architecture: str
) -> list[str]:
    """`name version` of each package installed on that Python and platform that has
    no wheel for it, so would be built from source (in an image without a compiler)."""
    tags = supported_tags(version, architecture)
    missing = []
    for package in installed_packages(lock, linux_environment(version, architecture)):
        wheel_tags = {
            tag
            for wheel in package.get("wheels", [])
            for tag in parse_wheel_filename(wheel["url"].rsplit("/", 1)[-1])[3]
        }
        if not wheel_tags & tags:
            missing.append(f"{package['name']} {package['version']}")
    return missing


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize(
    "dependency_set", sorted(path.stem for path in LOCKS.glob("*.lock"))
)
def test_every_locked_package_installs_from_a_wheel_on_every_offered_python(
    dependency_set: str, architecture: str
) -> None:
    lock = tomllib.loads((LOCKS / f"{dependency_set}.lock").read_text())

    missing = {
        version: packages_without_a_wheel(lock, version, architecture)
        for version in PYTHON_VERSIONS
    }

    assert missing == {version: [] for version in PYTHON_VERSIONS}


def test_the_wheel_check_names_a_compiled_package_built_for_older_pythons_only() -> (
    None
):
    wheel = "https://files.example/native-1.0-cp311-cp311-manylinux_2_17_{}.whl"
    lock = {
        "package": [
            {
                "name": "service",
                "version": "0.1.0",
                "source": {"editable": "."},
                "dependencies": [
                    {"name": "native"},
                    {"name": "windows-only", "marker": "sys_platform == 'win32'"},
                ],
            },
            {
                "name": "native",
                "version": "1.0",
                "wheels": [{"url": wheel.format(arch)} for arch in ARCHITECTURES],
            },
            {"name": "windows-only", "version": "1.0", "wheels": []},
        ]
    }

    assert packages_without_a_wheel(lock, "3.11", "x86_64") == []
    assert packages_without_a_wheel(lock, "3.12", "x86_64") == ["native 1.0"]
    assert packages_without_a_wheel(lock, "3.11", "riscv64") == ["native 1.0"]


def test_every_dependency_set_has_its_lock() -> None:
    assert sorted(path.stem for path in LOCKS.glob("*.lock")) == sorted(
        variant.dependency_set for variant in DEPENDENCY_SETS
    )


@pytest.mark.slow
@pytest.mark.parametrize("version", PYTHON_VERSIONS)
def test_reserved_package_names_cover_the_standard_library_of_every_offered_python(
    tmp_path: Path, version: str
) -> None:
    python = interpreter(version)
    script = (
        "import sys; print('%d.%d' % sys.version_info[:2], *sys.stdlib_module_names)"
    )

    [ran, *modules] = python.run(
        [python.executable, "-c", script], tmp_path
    ).stdout.split()

    assert ran == version, python
    reserved = RULES["package_name"]["reserved"]
    names = set(reserved["standard_library"]["names"]) | set(
        reserved["keywords"]["names"]
    )
    assert {m.lower() for m in modules if not m.startswith("_")} - names == set()


def release_with_another_default(default: str) -> str:
    """The newest release whose copier.yml defaulted python_version to another
    version than `default`."""
    for tag, commit in RELEASES:
        questions = git(ROOT, "show", f"{commit}:copier.yml")
        match = re.search(
            r'^python_version:\n(?:  .*\n)*?  default: "([^"]+)"', questions, re.M
        )
        assert match, f"no python_version default in {tag}'s copier.yml"
        if match[1] != default:
            return tag
    raise AssertionError(f"every release defaulted to Python {default}")


@pytest.mark.slow
@pytest.mark.xdist_group("update")
def test_a_service_keeps_the_python_it_recorded_when_the_default_changes(
    template_repo: Path, tmp_path: Path
) -> None:
    default = CONFIG["python_version"]["default"]
    release = release_with_another_default(default)
    project = tmp_path / "service"
    answers = {"project_name": "Order Service"}
    recorded = generate(project, answers, template_repo, release)["python_version"]
    git(project, "init", "--quiet")
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "-m", f"generated from {release}")

    copier.run_update(
        project, defaults=True, overwrite=True, vcs_ref="HEAD", quiet=True
    )

    assert recorded != default
    assert recorded_answers(project)["python_version"] == recorded
    assert (project / ".python-version").read_text().strip() == recorded
    dockerfile = (project / "Dockerfile").read_text()
    assert f"ARG PYTHON_IMAGE=python:{recorded}-slim" in dockerfile
    fresh = generate(tmp_path / "fresh", answers, template_repo)
    assert fresh["python_version"] == default
