"""The kit as a package: what it imports, and what loading its pytest plugin costs a project's pytest run."""

from __future__ import annotations

import ast
import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from botkit.testing import BotKit

KIT = Path(__file__).resolve().parents[2] / "botkit" / "testing"


def test_the_kit_imports_neither_tests_nor_the_cli() -> None:
    found = []
    for path in sorted(KIT.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names.append(node.module)
            found += [f"{path.name}: {name}" for name in names if name.split(".")[0] == "tests" or name == "botkit.cli"]
    assert found == []


def test_loading_the_pytest_plugin_imports_no_bot() -> None:
    """pytest loads the plugin in every project that has botkit installed; the bot loads only when a test asks."""
    probe = "import sys, botkit.testing.plugin; print(sorted(m for m in sys.modules if m.startswith('botkit')))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    heavy = ("botkit.bot", "botkit.emulator", "botkit.runtime", "botkit.connect", "botkit.testing.kit")
    modules = loaded.stdout.strip().strip("[]").replace("'", "").split(", ")
    assert "botkit.testing.plugin" in modules
    assert [name for name in modules if name.startswith(heavy)] == []


async def test_a_bot_asked_for_from_another_loop_is_refused() -> None:
    other = asyncio.new_event_loop()
    try:
        kit = BotKit(KIT, other)
        with pytest.raises(RuntimeError, match="fixture's event loop"):
            await kit()
        assert kit.bots == []
    finally:
        other.close()
