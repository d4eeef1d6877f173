"""Every hook is documented and tested: add one to hookspecs.py and these fail until it is.

Datasette's approach: the hook list is read from hookspecs itself, so a new hook needs no edit here.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from botkit import hookspecs

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
README = ROOT / "README.md"
SPEC_MARK = f"{hookspecs.PROJECT}_spec"

HOOKS = sorted(name for name, value in vars(hookspecs).items() if hasattr(value, SPEC_MARK))


def readme_hook_table() -> dict[str, list[str]]:
    """Hook → its arguments, from the table under README's "Writing a plugin"."""
    text = README.read_text(encoding="utf-8")
    match = re.search(r"^## Writing a plugin\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, 'README.md has no "## Writing a plugin" section'
    table: dict[str, list[str]] = {}
    for row in re.finditer(r"^\|\s*`(\w+)`\s*\|([^|]*)\|", match.group(1), re.M):
        table[row.group(1)] = [arg.strip() for arg in row.group(2).replace("`", "").split(",") if arg.strip()]
    return table


def test_the_hook_list_is_read_from_hookspecs() -> None:
    assert "on_message" in HOOKS and "on_error" in HOOKS
    # hooks are the functions pluggy marked as specs, whatever their names
    assert all(callable(getattr(hookspecs, name)) for name in HOOKS)
    assert "hookimpl" not in HOOKS and "hookspec" not in HOOKS


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_docstring(hook: str) -> None:
    doc = inspect.getdoc(getattr(hookspecs, hook))
    assert doc and doc.strip(), f"{hook} in botkit/hookspecs.py needs a docstring"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_in_the_readme_table_with_its_arguments(hook: str) -> None:
    table = readme_hook_table()
    assert hook in table, f"add `{hook}` to the hook table under '## Writing a plugin' in README.md"
    arguments = list(inspect.signature(getattr(hookspecs, hook)).parameters)
    assert table[hook] == arguments, f"README lists {table[hook]} for {hook}; hookspecs says {arguments}"


def test_the_readme_table_lists_no_hook_that_does_not_exist() -> None:
    assert set(readme_hook_table()) == set(HOOKS)


def _implemented_in_tests() -> set[str]:
    found: set[str] = set()
    this_file = Path(__file__).resolve()
    for path in TESTS.rglob("*.py"):
        if path.resolve() == this_file:
            continue
        text = path.read_text(encoding="utf-8")
        found.update(hook for hook in HOOKS if re.search(rf"\bdef {hook}\(", text))
    return found


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_exercised_by_a_test(hook: str) -> None:
    assert hook in _implemented_in_tests(), f"no test in tests/ implements `def {hook}(`"


HOOKS_DOC = ROOT / "docs" / "hooks.md"


def hook_doc_sections() -> dict[str, str]:
    """Hook → the text of its `## hook` section in docs/hooks.md."""
    text = HOOKS_DOC.read_text(encoding="utf-8")
    return {m.group(1): m.group(2) for m in re.finditer(r"^## (\w+)\n(.*?)(?=^## |\Z)", text, re.M | re.S)}


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_doc_section_with_its_arguments_and_an_example(hook: str) -> None:
    sections = hook_doc_sections()
    assert hook in sections, f"add a '## {hook}' section to docs/hooks.md"
    arguments = list(inspect.signature(getattr(hookspecs, hook)).parameters)
    listed = re.search(r"^Arguments: (.*)\.$", sections[hook], re.M)
    assert listed, f"docs/hooks.md '## {hook}' needs an 'Arguments: ...' line"
    assert re.findall(r"`(\w+)`", listed.group(1)) == arguments, f"docs/hooks.md lists other arguments for {hook}"
    examples = re.findall(r"```python\n(.*?)```", sections[hook], re.S)
    assert examples, f"docs/hooks.md '## {hook}' needs a python example"
    tree = ast.parse(examples[0])
    assert any(isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == hook for node in ast.walk(tree))


def test_the_hook_docs_describe_no_hook_that_does_not_exist() -> None:
    assert set(hook_doc_sections()) == set(HOOKS)
