"""CI installs what the README says, pinned to the versions it tested, above the floors of pyproject.toml."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent


def readme_test_command() -> str:
    setup = (ROOT / "README.md").read_text(encoding="utf-8").split("## Set up", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```sh\n(.*?)\n```", setup, re.S)
    assert len(commands) == 2, "the set-up section has the run command, then the test command"
    return commands[1]


def requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [Requirement(text) for text in project["dependencies"] + project["optional-dependencies"]["test"]]


def constraints() -> dict[str, Version]:
    pinned: dict[str, Version] = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"constraints.txt pins exact versions, not {line!r}"
            pinned[canonicalize_name(name)] = Version(version)
    return pinned


def test_ci_runs_exactly_the_readmes_test_command_with_the_constraints() -> None:
    command = readme_test_command()
    assert "-c constraints.txt" in command
    ci_lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert command in ci_lines


def test_the_constraints_pin_every_dependency_at_a_version_its_floor_allows() -> None:
    pinned = constraints()
    for requirement in requirements():
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement.name} is not in constraints.txt: regenerate it (see its first line)"
        assert requirement.specifier.contains(pinned[name]), f"constraints.txt pins {name} {pinned[name]}: {requirement}"
    assert "connect-botkit" not in pinned


def test_the_aiohttp_floor_excludes_releases_with_published_advisories() -> None:
    aiohttp = next(r for r in requirements() if r.name == "aiohttp")
    assert not aiohttp.specifier.contains("3.13.2") and not aiohttp.specifier.contains("3.13.3")
    assert aiohttp.specifier.contains("3.14.0")
