"""The plugin manager: the hook list, and plugins loaded from modules, files, directories and entry points."""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.metadata
import importlib.util
import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

import pluggy

from botkit import hookspecs

ENTRY_POINT_GROUP = "botkit"


class PluginLoadError(Exception):
    """A plugin named in bot.yaml could not be found or imported; the message says which and why."""


def new_plugin_manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    return manager


def load_plugins(
    manager: pluggy.PluginManager, specs: Iterable[str], base_dir: Path, *, entry_points: bool = True
) -> list[str]:
    """Register every plugin named in `specs`, then those installed under the `botkit` entry point group.

    Returns the registered plugin names, in load order.
    """
    names: list[str] = []
    for spec in specs:
        for name, module in _resolve(spec, base_dir):
            _register(manager, name, module)
            names.append(name)
    if entry_points:
        for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if manager.has_plugin(entry_point.name):
                continue
            try:
                plugin = entry_point.load()
            except Exception as error:
                raise PluginLoadError(f"entry point {entry_point.name!r} ({entry_point.value}): {error}") from error
            _register(manager, entry_point.name, plugin)
            names.append(entry_point.name)
    return names


def _resolve(spec: str, base_dir: Path) -> list[tuple[str, ModuleType]]:
    looks_like_path = spec.endswith(".py") or "/" in spec or spec.startswith(".")
    if looks_like_path:
        path = (base_dir / spec).resolve()
        if path.is_dir():
            files = sorted(p for p in path.glob("*.py") if not p.name.startswith("_"))
            return [_from_file(p) for p in files]
        if path.is_file():
            return [_from_file(path)]
        raise PluginLoadError(f"plugin path {spec!r} does not exist (looked at {path})")
    try:
        return [(spec, importlib.import_module(spec))]
    except ImportError as error:
        raise PluginLoadError(f"plugin module {spec!r} cannot be imported: {error}") from error
    except Exception as error:
        raise PluginLoadError(f"plugin module {spec!r} failed to import: {error!r}") from error


def _from_file(path: Path) -> tuple[str, ModuleType]:
    """Import a plugin file as a module of a private package for its directory.

    Two files named alike in different directories never collide, and a plugin can
    import its helpers beside it (`from ._helpers import ...`) without touching sys.path.
    """
    module_name = f"{_package_for(path.parent)}.{path.stem}"
    if module_name in sys.modules:
        return path.stem, sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise PluginLoadError(f"plugin file {path} cannot be loaded")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[module_name]
        raise PluginLoadError(f"plugin file {path} failed to import: {error!r}") from error
    return path.stem, module


def _package_for(directory: Path) -> str:
    name = "botkit_plugins_" + hashlib.sha1(str(directory).encode()).hexdigest()[:12]
    if name not in sys.modules:
        package = ModuleType(name)
        package.__path__ = [str(directory)]
        package.__package__ = name
        sys.modules[name] = package
    return name


def _register(manager: pluggy.PluginManager, name: str, plugin: object) -> None:
    if manager.has_plugin(name):
        raise PluginLoadError(f"two plugins are named {name!r}")
    try:
        manager.register(plugin, name=name)
    except pluggy.PluginValidationError as error:
        raise PluginLoadError(f"plugin {name!r} is invalid: {error}") from error
    problem = _unsupported(manager, plugin)
    if problem is not None:
        manager.unregister(plugin, name=name)
        raise PluginLoadError(f"plugin {name!r} is invalid: {problem}")


def _unsupported(manager: pluggy.PluginManager, plugin: object) -> str | None:
    """What pluggy accepts but botkit would silently ignore: unknown hook names, and wrappers.

    pluggy registers an implementation of a hook it has no spec for (it would
    only complain in `check_pending`), and the dispatcher calls implementations
    one by one, so a (hook)wrapper would never wrap anything.
    """
    known = _hook_names()
    for caller in manager.get_hookcallers(plugin) or ():
        if caller.spec is None:
            close = difflib.get_close_matches(caller.name, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (the hooks are: {', '.join(known)})"
            return f"{caller.name!r} is not a botkit hook{hint}"
        for impl in caller.get_hookimpls():
            if impl.plugin is plugin and (impl.hookwrapper or impl.wrapper):
                return f"{caller.name} is a hook wrapper; botkit calls each implementation on its own, so wrappers are not supported"
    return None


def _hook_names() -> list[str]:
    return sorted(name for name, value in vars(hookspecs).items() if hasattr(value, f"{hookspecs.PROJECT}_spec"))


def hooks_of(manager: pluggy.PluginManager) -> dict[str, list[str]]:
    """Which plugins implement which hooks, in call order: what `botkit check` shows."""
    table: dict[str, list[str]] = {}
    for hook_name in _hook_names():
        caller = getattr(manager.hook, hook_name)
        table[hook_name] = [manager.get_name(impl.plugin) or "?" for impl in reversed(caller.get_hookimpls())]
    return table
