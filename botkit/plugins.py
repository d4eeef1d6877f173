"""The plugin manager: the hook list, and plugins loaded from modules, files, directories and entry points."""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import importlib
import importlib.metadata
import importlib.util
import os
import sys
import sysconfig
import traceback
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import ModuleType

import pluggy
from pydantic import BaseModel

from botkit import hookspecs

ENTRY_POINT_GROUP = "botkit"
_BOTKIT = Path(__file__).resolve().parent


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


def _looks_like_path(spec: str) -> bool:
    return spec.endswith(".py") or "/" in spec or spec.startswith(".")


def _resolve(spec: str, base_dir: Path) -> list[tuple[str, ModuleType]]:
    if _looks_like_path(spec):
        path = (base_dir / spec).resolve()
        if path.is_dir():
            files = sorted(p for p in path.glob("*.py") if not p.name.startswith("_"))
            return [_from_file(p) for p in files]
        if path.is_file():
            return [_from_file(path)]
        raise PluginLoadError(f"plugin path {spec!r} does not exist (looked at {path})")
    try:
        return [(spec, importlib.import_module(spec))]
    except ModuleNotFoundError as error:
        if error.name is not None and (spec == error.name or spec.startswith(error.name + ".")):
            raise PluginLoadError(f"plugin module {spec!r} cannot be imported: {error}") from error
        raise _import_failure(error, spec, f"module {spec!r}") from error
    except (Exception, SystemExit) as error:  # a plugin's sys.exit() at import is a broken plugin, not a stop
        raise _import_failure(error, spec, f"module {spec!r}") from error


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
    except (Exception, SystemExit) as error:  # a plugin's sys.exit() at import is a broken plugin, not a stop
        del sys.modules[module_name]
        raise _import_failure(error, module_name.rpartition(".")[0], _shown(path)) from error
    return path.stem, module


def _import_failure(error: BaseException, package: str, plugin: str) -> PluginLoadError:
    """One line a plugin author can act on: where in their own code the import failed, and the error.

    The place is the last traceback frame in the plugin's code (`package` and the modules under it, so a
    helper beside the plugin counts); a SyntaxError has no such frame and names its own file and line.
    The loader's frames are left out: they say nothing about the plugin.
    """
    where = _failed_line(error, package) or plugin
    reason = error.msg if isinstance(error, SyntaxError) else str(error)
    return PluginLoadError(f"plugin {where}: {type(error).__name__}" + (f": {reason}" if reason else ""))


def _failed_line(error: BaseException, package: str) -> str | None:
    if isinstance(error, SyntaxError) and error.filename and error.lineno:
        return f"{_shown(error.filename)}:{error.lineno}"
    last: str | None = None
    for frame, line in traceback.walk_tb(error.__traceback__):
        if _within(frame.f_globals.get("__name__", ""), (package,)):
            last = f"{_shown(frame.f_code.co_filename)}:{line}"
    return last


def _shown(path: str | os.PathLike[str]) -> str:
    """A path as a person in the working directory would type it; absolute when it lies elsewhere."""
    absolute = Path(path).resolve()
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)


def _package_for(directory: Path) -> str:
    name = _package_name(directory)
    if name not in sys.modules:
        package = ModuleType(name)
        package.__path__ = [str(directory)]
        package.__package__ = name
        sys.modules[name] = package
    return name


def _package_name(directory: Path) -> str:
    return "botkit_plugins_" + hashlib.sha1(str(directory).encode()).hexdigest()[:12]


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


def config_models(manager: pluggy.PluginManager) -> dict[str, type[BaseModel]]:
    """Each plugin's `Config` (a pydantic model in its module) by plugin name: how its `plugin_config` entry is
    checked, and what `session.plugin_config(name)` then returns."""
    models: dict[str, type[BaseModel]] = {}
    for name, plugin in manager.list_name_plugin():
        model = getattr(plugin, "Config", None)
        if isinstance(model, type) and issubclass(model, BaseModel):
            models[name] = model
    return models


def reload_plugins(specs: Iterable[str], base_dir: Path) -> tuple[pluggy.PluginManager, list[str]]:
    """A new plugin manager built from freshly imported plugin code: what live reload swaps in.

    The modules botkit imported for the plugins (plugin files with the helpers beside them, and modules named
    in bot.yaml that live outside site-packages) leave `sys.modules` first, so importing executes them again.
    Should any plugin fail, they are put back as they were and the error is raised: the running manager still
    holds the old modules, so the old code keeps answering.
    """
    specs = list(specs)
    packages = tuple(_reloadable_packages(specs, base_dir))
    saved = {name: module for name, module in sys.modules.items() if _within(name, packages)}
    for name, module in saved.items():
        del sys.modules[name]
        _forget_bytecode(module)
    importlib.invalidate_caches()  # a file added since the last import is found
    manager = new_plugin_manager()
    try:
        names = load_plugins(manager, specs, base_dir)
    except BaseException:
        for name in [name for name in sys.modules if _within(name, packages)]:
            del sys.modules[name]
        sys.modules.update(saved)
        raise
    return manager, names


def _forget_bytecode(module: ModuleType) -> None:
    """A cached .pyc is trusted when its source has the same size and the same mtime in whole seconds, so an
    edit saved within a second of the last import, keeping the size, would bring the old code back."""
    cached = getattr(module, "__cached__", None)
    if cached:
        with contextlib.suppress(OSError):
            Path(cached).unlink(missing_ok=True)


def plugin_sources(specs: Iterable[str], base_dir: Path) -> set[Path]:
    """The files whose change should reload the plugins: every `.py` of a plugin directory (a new file there is
    a new plugin), each plugin file, and the loaded modules of the plugins' own code, helpers included."""
    specs = list(specs)
    files: set[Path] = set()
    for spec in specs:
        if _looks_like_path(spec):
            path = (base_dir / spec).resolve()
            files.update(path.glob("*.py") if path.is_dir() else [path])
    packages = tuple(_reloadable_packages(specs, base_dir))
    for name, module in list(sys.modules.items()):
        source = getattr(module, "__file__", None)
        if source and _within(name, packages):
            files.add(Path(source).resolve())
    return files


def _reloadable_packages(specs: list[str], base_dir: Path) -> Iterator[str]:
    """The module names (each with everything under it) that hold the plugins' own code; installed code is
    left alone, since reloading a library under a running process is how subtle breakage starts."""
    for spec in specs:
        if _looks_like_path(spec):
            path = (base_dir / spec).resolve()
            yield _package_name(path if path.is_dir() else path.parent)
            continue
        source = getattr(sys.modules.get(spec), "__file__", None)
        if source and not _installed(Path(source)):
            yield spec


def _within(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == package or name.startswith(package + ".") for package in packages)


def _installed(path: Path) -> bool:
    """Part of the Python installation, of an installed distribution (site-packages), or of botkit itself."""
    if {"site-packages", "dist-packages"} & set(path.parts):
        return True
    roots = {Path(sysconfig.get_path(key)).resolve() for key in ("stdlib", "platstdlib")} | {_BOTKIT}
    return any(path.resolve().is_relative_to(root) for root in roots)
