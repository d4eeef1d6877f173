"""Lower layers never import higher ones (design.md): checked on the source, import by import."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "botkit"

FORBIDDEN = {
    "connect": ("botkit.emulator", "botkit.runtime", "botkit.hookspecs", "botkit.plugins", "botkit.config",
                "botkit.server", "botkit.bot", "botkit.cli", "botkit.chat"),
    "emulator": ("botkit.runtime", "botkit.hookspecs", "botkit.plugins", "botkit.config", "botkit.server",
                 "botkit.bot", "botkit.cli", "botkit.chat", "botkit.connect.client", "botkit.connect.websocket",
                 "botkit.connect.control"),
    "store": ("botkit.emulator", "botkit.runtime", "botkit.hookspecs", "botkit.plugins", "botkit.config",
              "botkit.server", "botkit.bot", "botkit.cli", "botkit.chat", "botkit.connect.client",
              "botkit.connect.websocket", "botkit.connect.control"),
    "runtime": ("botkit.emulator", "botkit.plugins", "botkit.config", "botkit.server", "botkit.bot", "botkit.cli",
                "botkit.chat"),
}


def imports_of(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
            names.extend(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_nothing_above_it(layer: str) -> None:
    files = sorted((PACKAGE / layer).glob("*.py"))
    assert files, f"no modules found in botkit/{layer}"
    upward = [
        f"{path.relative_to(PACKAGE.parent)} imports {name}"
        for path in files
        for name in imports_of(path)
        if any(name == banned or name.startswith(banned + ".") for banned in FORBIDDEN[layer])
    ]
    assert not upward, "\n".join(upward)


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("from botkit.runtime.session import Session\nimport botkit.cli\n")
    assert {"botkit.runtime.session", "botkit.cli"} <= set(imports_of(module))
