"""The examples are what new users copy: each loads as shipped, is documented, and its own tests run in the suite.

The conversations themselves are tested by each example's `tests/`, written with the test kit; the project's
pytest `testpaths` include `examples`, so `pytest` (and `.ci/run`) runs them with everything else.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

from botkit.config import load_config
from botkit.plugins import load_plugins, new_plugin_manager

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(path.parent for path in (ROOT / "examples").glob("*/bot.yaml"))
FREE_PORTS = {**os.environ, "BOTKIT_EMULATOR_PORT": "0", "BOTKIT_PORT": "0"}


def test_the_examples_are_there() -> None:
    assert {path.name for path in EXAMPLES} >= {"support-desk", "handoff", "streaming-answers", "multilingual"}


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_every_example_loads_with_its_plugins(example: Path) -> None:
    config = load_config(example / "bot.yaml", FREE_PORTS)
    assert load_plugins(new_plugin_manager(), config.plugins, config.base_dir, entry_points=False)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_every_example_has_tests_and_a_readme_saying_how_to_run_and_test_it(example: Path) -> None:
    assert list((example / "tests").glob("test_*.py")), f"{example.name} has no tests/test_*.py"
    readme = (example / "README.md").read_text(encoding="utf-8")
    assert f"botkit serve examples/{example.name}/bot.yaml" in readme
    assert f"pytest examples/{example.name}" in readme


def test_the_suite_runs_every_examples_tests() -> None:
    """`pytest` with no arguments collects `examples/*/tests`; their folders are not packages, so the
    test files need names of their own (pytest refuses two `test_bot.py` in such folders)."""
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "examples" in settings["tool"]["pytest"]["ini_options"]["testpaths"]
    names = [path.name for path in (ROOT / "examples").glob("*/tests/test_*.py")]
    assert len(names) == len(set(names)), f"two examples have a test file of the same name: {sorted(names)}"


def test_the_readme_lists_every_example() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [example.name for example in EXAMPLES if f"(examples/{example.name}/)" not in readme]
    assert not missing, f"add to the README's examples list: {missing}"
