"""The declared dependency ranges are the tested ones (README, "Dependency ranges").

.ci/run tests the newest allowed versions and, with .ci/oldest-constraints.txt, the oldest; these
tests keep that file equal to pyproject's floors, make sure every package whose internals the code
relies on has an upper bound, and that whichever leg is running really installed versions in range.
"""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
# packages whose internals basepersona subclasses, patches or reads: each needs an upper bound
INTERNALS_USED = ("transformers", "gguf", "vllm", "llama-cpp-python", "inspect-ai")


def _requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lines = list(project["dependencies"])
    for extras in project["optional-dependencies"].values():
        lines += extras
    return [Requirement(line) for line in lines]


def _floor(requirement: Requirement) -> Version | None:
    floors = [Version(spec.version) for spec in requirement.specifier if spec.operator == ">="]
    return max(floors) if floors else None


def _constraints() -> dict[str, Version]:
    pins = {}
    for line in (ROOT / ".ci" / "oldest-constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.strip().lower()] = Version(version.strip())
    return pins


def _ci_installed() -> list[Requirement]:
    """What `pip install -e ".[test]"` brings: the core, the test extra and the extras it names."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    lines = list(project["dependencies"]) + extras["test"]
    for line in extras["test"]:
        requirement = Requirement(line)
        if requirement.name == "basepersona":
            for extra in sorted(requirement.extras):
                lines += extras[extra]
    return [r for r in map(Requirement, lines) if r.name != "basepersona" and (r.marker is None or r.marker.evaluate())]


def test_the_oldest_constraints_are_exactly_the_declared_floors():
    pins = _constraints()
    floors = {r.name.lower(): _floor(r) for r in _ci_installed() if _floor(r) is not None and r.name != "torch"}
    assert set(pins) == set(floors), "pin every floor of the CI-installed packages in .ci/oldest-constraints.txt"
    for name, floor in floors.items():
        assert pins[name] == floor, f"{name}: constraints pin {pins[name]}, pyproject's floor is {floor}"


def test_every_package_whose_internals_we_use_has_an_upper_bound():
    declared = {r.name.lower(): r for r in _requirements()}
    for name in INTERNALS_USED:
        assert any(spec.operator in ("<", "<=", "==") for spec in declared[name].specifier), name


@pytest.mark.parametrize("requirement", _ci_installed(), ids=lambda r: r.name)
def test_the_installed_version_is_inside_the_declared_range(requirement: Requirement):
    try:
        installed = metadata.version(requirement.name)
    except metadata.PackageNotFoundError:
        pytest.fail(f"{requirement.name} is declared but not installed")
    assert requirement.specifier.contains(installed, prereleases=True), \
        f"{requirement.name} {installed} is outside {requirement.specifier}"
