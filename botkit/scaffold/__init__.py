"""`botkit new NAME`: a bot project to start from, tested and runnable the minute it is made.

The template is package data (`template/`). Files ending in `.tmpl` are filled in with
string.Template (`${project}`, `${botkit_requirement}`) and lose the suffix; `gitignore` becomes
`.gitignore`, because a dotfile is easy to lose from a package's data. Everything else is copied as it is.
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import re
import shutil
import string
from importlib.resources.abc import Traversable
from pathlib import Path

DISTRIBUTION = "connect-botkit"
TEMPLATE_SUFFIX = ".tmpl"
RENAMED = {"gitignore": ".gitignore"}
SKIPPED = {"__pycache__"}
# A directory name that is also a valid distribution name once pip normalises it, and a plain word in a shell.
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
RESERVED = {"botkit", "connect-botkit", "connect_botkit"}


class ScaffoldError(Exception):
    """The project cannot be made: a bad name, or its folder exists. The message says which, for the terminal."""


def check_name(name: str) -> None:
    if not NAME.fullmatch(name):
        raise ScaffoldError(
            f"{name!r} is not a valid project name: use a letter, then letters, digits, '-' or '_'"
            " (at most 64 characters, no spaces or slashes), e.g. my-bot"
        )
    if name.lower().replace("_", "-") in RESERVED:
        raise ScaffoldError(f"{name!r} is botkit's own name; the project depends on it, so choose another")


def new_project(name: str, parent: Path) -> Path:
    """Make `parent/name` from the template and return it; an existing file or folder there is never touched."""
    check_name(name)
    target = parent / name
    try:
        target.mkdir()  # exclusive: a folder that appears meanwhile is refused too
    except FileExistsError:
        raise ScaffoldError(f"{target} already exists; botkit new never overwrites it: choose another name") from None
    try:
        _copy(importlib.resources.files(__package__) / "template", target, _values(name))
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)  # half a project would only be refused next time
        raise
    return target


def _values(name: str) -> dict[str, str]:
    version = importlib.metadata.version(DISTRIBUTION)
    return {"project": name, "botkit_requirement": f"{DISTRIBUTION}>={version}"}


def _copy(source: Traversable, target: Path, values: dict[str, str]) -> None:
    for entry in sorted(source.iterdir(), key=lambda e: e.name):
        if entry.name in SKIPPED or entry.name.endswith(".pyc"):
            continue
        name = RENAMED.get(entry.name, entry.name)
        if entry.is_dir():
            (target / name).mkdir()
            _copy(entry, target / name, values)
        elif name.endswith(TEMPLATE_SUFFIX):
            text = string.Template(entry.read_text(encoding="utf-8")).substitute(values)
            (target / name.removesuffix(TEMPLATE_SUFFIX)).write_text(text, encoding="utf-8")
        else:
            (target / name).write_bytes(entry.read_bytes())
