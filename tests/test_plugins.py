"""Loading plugins: by module name, file, directory and entry point; what is refused, and why."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from botkit.config import parse_config
from botkit.plugins import (
    PluginLoadError,
    hooks_of,
    load_plugins,
    new_plugin_manager,
    plugin_sources,
    reload_plugins,
)

ROOT = Path(__file__).resolve().parent.parent


def write(path: Path, source: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


GREETER = """
    from botkit import hookimpl

    @hookimpl
    async def on_session_start(session):
        await session.send_message("hello")
"""


@pytest.fixture
def importable(tmp_path: Path) -> Iterator[Path]:
    """A directory on sys.path for plugin modules made by the test; their modules are forgotten after."""
    folder = tmp_path / "site"
    folder.mkdir()
    sys.path.insert(0, str(folder))
    before = set(sys.modules)
    yield folder
    sys.path.remove(str(folder))
    for name in set(sys.modules) - before:
        del sys.modules[name]


def load(specs: list[str], base_dir: Path, *, entry_points: bool = False) -> tuple[object, list[str]]:
    manager = new_plugin_manager()
    return manager, load_plugins(manager, specs, base_dir, entry_points=entry_points)


# Finding plugins ----------------------------------------------------------------------------------


def test_a_plugin_by_module_name(importable: Path, tmp_path: Path) -> None:
    write(importable / "acme_greeter.py", GREETER)
    write(importable / "acme" / "__init__.py", "")
    write(importable / "acme" / "bots" / "__init__.py", "")
    write(importable / "acme" / "bots" / "greeter.py", GREETER)
    manager, names = load(["acme_greeter", "acme.bots.greeter"], tmp_path)
    assert names == ["acme_greeter", "acme.bots.greeter"]
    assert hooks_of(manager)["on_session_start"] == ["acme.bots.greeter", "acme_greeter"]


def test_the_shipped_plugins_by_module_path_and_file(tmp_path: Path) -> None:
    manager, names = load([str(ROOT / "plugins" / "faq.py"), str(ROOT / "plugins" / "echo.py")], tmp_path)
    assert names == ["faq", "echo"]
    assert hooks_of(manager)["on_message"] == ["faq", "echo"]  # faq is tryfirst, whatever the order given


def test_a_plugin_by_file_path_relative_to_the_base_dir(tmp_path: Path) -> None:
    write(tmp_path / "bots" / "greeter.py", GREETER)
    manager, names = load(["bots/greeter.py"], tmp_path)
    assert names == ["greeter"]
    assert hooks_of(manager)["on_session_start"] == ["greeter"]


def test_paths_in_bot_yaml_are_relative_to_its_directory_not_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    write(project / "plugins" / "greeter.py", GREETER)
    (project / "bot.yaml").write_text("plugins: [plugins/greeter.py, ./plugins]\n", encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    from botkit.config import load_config

    config = load_config(project / "bot.yaml")
    assert config.base_dir == project
    with pytest.raises(PluginLoadError, match="two plugins are named 'greeter'"):
        # the file and the directory holding it name the same plugin twice
        load(list(config.plugins), config.base_dir)
    manager, names = load(list(config.plugins)[:1], config.base_dir)
    assert names == ["greeter"]


def test_a_directory_loads_every_file_in_name_order_skipping_underscored_ones(tmp_path: Path) -> None:
    folder = tmp_path / "plugins.d"
    write(folder / "b_second.py", GREETER)
    write(folder / "a_first.py", GREETER)
    write(folder / "_helpers.py", "raise RuntimeError('a helper module must not be loaded as a plugin')\n")
    write(folder / "__init__.py", "raise RuntimeError('nor the package file')\n")
    write(folder / "notes.txt", "not python")
    write(folder / "sub" / "c_nested.py", GREETER)
    _, names = load(["./plugins.d"], tmp_path)
    assert names == ["a_first", "b_second"]


def test_two_files_named_alike_in_different_directories_do_not_share_a_module(tmp_path: Path) -> None:
    write(tmp_path / "one" / "bot.py", "from botkit import hookimpl\nWHO = 'one'\n")
    write(tmp_path / "two" / "bot.py", "from botkit import hookimpl\nWHO = 'two'\n")
    first = new_plugin_manager()
    load_plugins(first, ["one/bot.py"], tmp_path, entry_points=False)
    second = new_plugin_manager()
    load_plugins(second, ["two/bot.py"], tmp_path, entry_points=False)
    assert first.get_plugin("bot").WHO == "one"
    assert second.get_plugin("bot").WHO == "two"


def test_the_root_bot_yaml_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    from botkit.config import load_config

    config = load_config(ROOT / "bot.yaml", environ={})
    _, names = load(list(config.plugins), config.base_dir)
    assert names == ["faq", "echo"]


# What is refused ------------------------------------------------------------------------------------


def test_a_missing_module_is_a_load_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(PluginLoadError) as raised:
        load(["acme_no_such_plugin"], tmp_path)
    assert "acme_no_such_plugin" in str(raised.value)


def test_a_module_whose_own_import_fails_names_the_plugin(importable: Path, tmp_path: Path) -> None:
    write(importable / "acme_broken_import.py", "import acme_dependency_that_is_not_installed\n")
    with pytest.raises(PluginLoadError) as raised:
        load(["acme_broken_import"], tmp_path)
    assert "acme_broken_import" in str(raised.value)
    assert "acme_dependency_that_is_not_installed" in str(raised.value)


def test_a_module_raising_on_import_is_a_load_error(importable: Path, tmp_path: Path) -> None:
    write(importable / "acme_raises.py", "raise RuntimeError('misconfigured at import')\n")
    with pytest.raises(PluginLoadError) as raised:
        load(["acme_raises"], tmp_path)
    assert "acme_raises" in str(raised.value) and "misconfigured at import" in str(raised.value)


@pytest.mark.parametrize("spec", ["missing.py", "plugins/missing.py", "./missing_dir"])
def test_a_missing_file_or_directory_is_a_load_error_naming_it(spec: str, tmp_path: Path) -> None:
    with pytest.raises(PluginLoadError) as raised:
        load([spec], tmp_path)
    assert repr(spec) in str(raised.value)
    assert str(tmp_path) in str(raised.value)  # where it looked


def test_a_file_that_fails_to_import_is_a_load_error_naming_it(tmp_path: Path) -> None:
    write(tmp_path / "broken.py", "def on_message(:\n")
    with pytest.raises(PluginLoadError) as raised:
        load(["broken.py"], tmp_path)
    assert "broken.py" in str(raised.value)
    # a failed import leaves nothing behind: fixing the file and loading again works
    write(tmp_path / "broken.py", GREETER)
    _, names = load(["broken.py"], tmp_path)
    assert names == ["broken"]


def test_an_implementation_with_an_argument_not_in_the_spec_is_refused(tmp_path: Path) -> None:
    write(
        tmp_path / "wrong_args.py",
        """
        from botkit import hookimpl

        @hookimpl
        async def on_message(session, message, customer):
            pass
        """,
    )
    with pytest.raises(PluginLoadError) as raised:
        load(["wrong_args.py"], tmp_path)
    text = str(raised.value)
    assert "wrong_args" in text and "on_message" in text and "customer" in text


def test_an_implementation_of_an_unknown_hook_is_refused(tmp_path: Path) -> None:
    """A misspelt hook would otherwise never be called, silently."""
    write(
        tmp_path / "typo.py",
        """
        from botkit import hookimpl

        @hookimpl
        async def on_mesage(session, message):
            pass
        """,
    )
    with pytest.raises(PluginLoadError) as raised:
        load(["typo.py"], tmp_path)
    text = str(raised.value)
    assert "typo" in text and "on_mesage" in text and "on_message" in text  # suggests the right name


def test_a_refused_plugin_leaves_the_manager_as_it_was(tmp_path: Path) -> None:
    write(tmp_path / "good.py", GREETER)
    write(tmp_path / "typo.py", "from botkit import hookimpl\n\n@hookimpl\ndef on_sesion_start(session):\n    pass\n")
    manager = new_plugin_manager()
    with pytest.raises(PluginLoadError):
        load_plugins(manager, ["good.py", "typo.py"], tmp_path, entry_points=False)
    assert manager.get_plugin("typo") is None
    assert [name for name, _ in manager.list_name_plugin()] == ["good"]


@pytest.mark.parametrize("option", ["hookwrapper", "wrapper"])
def test_wrappers_are_refused_since_the_dispatcher_calls_each_implementation_itself(
    option: str, tmp_path: Path
) -> None:
    write(
        tmp_path / "wrapping.py",
        f"""
        from botkit import hookimpl

        @hookimpl({option}=True)
        def on_message(session, message):
            yield
        """,
    )
    with pytest.raises(PluginLoadError) as raised:
        load(["wrapping.py"], tmp_path)
    assert "wrapping" in str(raised.value) and "on_message" in str(raised.value)


def test_two_plugins_with_the_same_name_are_refused(importable: Path, tmp_path: Path) -> None:
    write(importable / "greeter.py", GREETER)
    write(tmp_path / "greeter.py", GREETER)
    with pytest.raises(PluginLoadError, match="two plugins are named 'greeter'"):
        load(["greeter", "greeter.py"], tmp_path)


def test_a_plugin_listed_twice_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "greeter.py", GREETER)
    with pytest.raises(PluginLoadError, match="two plugins are named 'greeter'"):
        load(["greeter.py", "./greeter.py"], tmp_path)


# Entry points -----------------------------------------------------------------------------------------


@pytest.fixture
def installed_distribution(importable: Path) -> Iterator[Path]:
    """A distribution installed on sys.path the way pip leaves one: a module and a dist-info with entry points."""
    write(
        importable / "acme_installed_plugin.py",
        """
        from botkit import hookimpl

        @hookimpl(trylast=True)
        async def on_message(session, message):
            pass

        class Auditor:
            @hookimpl(tryfirst=True)
            def on_message(self, message):
                pass

        auditor = Auditor()
        """,
    )
    dist_info = importable / "acme_botkit_plugins-1.0.dist-info"
    write(dist_info / "METADATA", "Metadata-Version: 2.1\nName: acme-botkit-plugins\nVersion: 1.0\n")
    write(
        dist_info / "entry_points.txt",
        """
        [botkit]
        acme-echo = acme_installed_plugin
        acme-auditor = acme_installed_plugin:auditor

        [console_scripts]
        not-a-plugin = acme_installed_plugin:main
        """,
    )
    yield importable


def test_entry_points_in_the_botkit_group_are_loaded(installed_distribution: Path, tmp_path: Path) -> None:
    found = {ep.name for ep in importlib.metadata.entry_points(group="botkit")}
    assert {"acme-echo", "acme-auditor"} <= found
    write(tmp_path / "greeter.py", GREETER)
    manager, names = load(["greeter.py"], tmp_path, entry_points=True)
    assert names[0] == "greeter"  # bot.yaml's plugins first, then the installed ones
    assert {"acme-echo", "acme-auditor"} <= set(names[1:])
    assert "not-a-plugin" not in names
    order = hooks_of(manager)["on_message"]
    assert order[0] == "acme-auditor" and order[-1] == "acme-echo"


def test_entry_points_can_be_switched_off(installed_distribution: Path, tmp_path: Path) -> None:
    _, names = load([], tmp_path, entry_points=False)
    assert names == []


def test_an_entry_point_already_loaded_by_name_is_not_loaded_twice(installed_distribution: Path, tmp_path: Path) -> None:
    write(tmp_path / "acme-echo.py", GREETER)
    _, names = load(["acme-echo.py"], tmp_path, entry_points=True)
    assert names.count("acme-echo") == 1


def test_a_broken_entry_point_is_a_load_error_naming_it(importable: Path, tmp_path: Path) -> None:
    dist_info = importable / "acme_broken-1.0.dist-info"
    write(dist_info / "METADATA", "Metadata-Version: 2.1\nName: acme-broken\nVersion: 1.0\n")
    write(dist_info / "entry_points.txt", "[botkit]\nacme-broken = acme_module_that_does_not_exist\n")
    with pytest.raises(PluginLoadError) as raised:
        load([], tmp_path, entry_points=True)
    assert "acme-broken" in str(raised.value)


# hooks_of ----------------------------------------------------------------------------------------------


def test_hooks_of_lists_every_hook_with_its_implementers_in_call_order(tmp_path: Path) -> None:
    write(tmp_path / "late.py", "from botkit import hookimpl\n\n@hookimpl(trylast=True)\ndef on_message():\n    pass\n")
    write(tmp_path / "early.py", "from botkit import hookimpl\n\n@hookimpl(tryfirst=True)\ndef on_message():\n    pass\n")
    write(tmp_path / "plain_a.py", "from botkit import hookimpl\n\n@hookimpl\ndef on_message():\n    pass\n")
    write(tmp_path / "plain_b.py", "from botkit import hookimpl\n\n@hookimpl\nasync def on_message():\n    pass\n")
    manager, _ = load(["late.py", "early.py", "plain_a.py", "plain_b.py"], tmp_path)
    table = hooks_of(manager)
    # pluggy's order: tryfirst, then the others last-registered first, then trylast.
    assert table["on_message"] == ["early", "plain_b", "plain_a", "late"]
    assert table["on_typing"] == []
    from botkit import hookspecs

    specs = {name for name in vars(hookspecs) if hasattr(getattr(hookspecs, name), "botkit_spec")}
    assert set(table) == specs


def test_hooks_of_follows_the_dispatcher_order(tmp_path: Path) -> None:
    """What `botkit check` prints is the order the dispatcher calls."""
    write(tmp_path / "late.py", "from botkit import hookimpl\n\n@hookimpl(trylast=True)\ndef on_typing():\n    pass\n")
    write(tmp_path / "early.py", "from botkit import hookimpl\n\n@hookimpl(tryfirst=True)\ndef on_typing():\n    pass\n")
    manager, _ = load(["late.py", "early.py"], tmp_path)
    called = [impl.plugin_name for impl in reversed(manager.hook.on_typing.get_hookimpls())]
    assert hooks_of(manager)["on_typing"] == called == ["early", "late"]


def test_parse_config_keeps_plugin_specs_for_the_loader() -> None:
    config = parse_config("plugins: [plugins/echo.py, acme.plugin, ./plugins.d]\n")
    assert list(config.plugins) == ["plugins/echo.py", "acme.plugin", "./plugins.d"]


def test_a_plugin_file_imports_its_helpers_beside_it_without_touching_sys_path(tmp_path: Path) -> None:
    folder = tmp_path / "plugins.d"
    write(folder / "_phrases.py", "HELLO = 'hello from a helper'\n")
    write(
        folder / "greeter.py",
        """
        from botkit import hookimpl
        from ._phrases import HELLO

        @hookimpl
        async def on_session_start(session):
            await session.send_message(HELLO)
        """,
    )
    path_before = list(sys.path)
    manager, names = load(["./plugins.d"], tmp_path)
    assert names == ["greeter"]
    assert manager.get_plugin("greeter").HELLO == "hello from a helper"
    assert sys.path == path_before


# Import errors: where in the plugin's code, and what ---------------------------------------------------------


def test_a_syntax_error_names_the_file_and_line_as_the_user_would_type_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    source = "from botkit import hookimpl\n\n\ndef on_message(:\n"
    write(tmp_path / "plugins" / "orders.py", source)
    with pytest.raises(SyntaxError) as compiled:
        compile(source, "orders.py", "exec")
    with pytest.raises(PluginLoadError) as raised:
        load(["plugins/orders.py"], tmp_path)
    assert str(raised.value) == f"plugin plugins/orders.py:4: SyntaxError: {compiled.value.msg}"


def test_an_error_raised_in_a_helper_beside_the_plugin_names_the_helper_s_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ACME_ORDERS_URL", raising=False)
    write(tmp_path / "plugins" / "_settings.py", "import os\n\nURL = os.environ['ACME_ORDERS_URL']\n")
    write(tmp_path / "plugins" / "orders.py", "from ._settings import URL\n")
    with pytest.raises(PluginLoadError) as raised:
        load(["plugins/orders.py"], tmp_path)
    assert str(raised.value) == "plugin plugins/_settings.py:3: KeyError: 'ACME_ORDERS_URL'"


def test_a_module_by_name_that_fails_to_import_names_its_file_and_line(importable: Path, tmp_path: Path) -> None:
    write(importable / "acme_orders.py", "import os\n\nimport acme_dependency_that_is_not_installed\n")
    with pytest.raises(PluginLoadError) as raised:
        load(["acme_orders"], tmp_path)
    assert str(raised.value) == (
        f"plugin {(importable / 'acme_orders.py').resolve()}:3: "
        "ModuleNotFoundError: No module named 'acme_dependency_that_is_not_installed'"
    )


def test_a_plugin_calling_sys_exit_at_import_is_a_load_error_not_an_exit(tmp_path: Path) -> None:
    write(tmp_path / "quits.py", "import sys\n\nsys.exit(3)\n")
    with pytest.raises(PluginLoadError) as raised:
        load(["quits.py"], tmp_path)
    assert str(raised.value).endswith("quits.py:3: SystemExit: 3")


# Reloading: fresh code, or the old code untouched -------------------------------------------------------------


def test_a_reload_runs_the_edited_file_even_when_its_bytecode_cache_looks_current(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An edit saved within the second of the last import, keeping the size: the .pyc's check cannot tell."""
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    plugin = write(tmp_path / "plugins" / "orders.py", "VERSION = 'v1'\n")
    running, _ = load(["plugins/orders.py"], tmp_path)
    assert Path(importlib.util.cache_from_source(str(plugin))).exists()  # there is a cache to be fooled by
    status = plugin.stat()
    plugin.write_text("VERSION = 'v2'\n", encoding="utf-8")
    os.utime(plugin, ns=(status.st_atime_ns, status.st_mtime_ns))

    reloaded, names = reload_plugins(["plugins/orders.py"], tmp_path)
    assert names == ["orders"]
    assert reloaded.get_plugin("orders").VERSION == "v2"
    assert running.get_plugin("orders").VERSION == "v1"  # the running manager keeps its own module


def test_a_failed_reload_leaves_the_running_modules_as_they_were(tmp_path: Path) -> None:
    write(tmp_path / "plugins" / "_phrases.py", "HELLO = 'hello'\n")
    plugin = write(tmp_path / "plugins" / "greeter.py", "from ._phrases import HELLO\n")
    running, _ = load(["plugins/greeter.py"], tmp_path)
    module = running.get_plugin("greeter")
    helper = module.__name__.rpartition(".")[0] + "._phrases"
    before = {name: sys.modules[name] for name in (module.__name__, helper)}

    write(plugin, "from ._phrases import HELLO\nraise RuntimeError('half-way through an edit')\n")
    with pytest.raises(PluginLoadError, match="greeter.py:2: RuntimeError: half-way through an edit"):
        reload_plugins(["plugins/greeter.py"], tmp_path)
    assert all(sys.modules[name] is value for name, value in before.items())

    write(plugin, "from ._phrases import HELLO\nEDITED = True\n")
    reloaded, _ = reload_plugins(["plugins/greeter.py"], tmp_path)
    assert reloaded.get_plugin("greeter").EDITED and reloaded.get_plugin("greeter") is not module


def test_a_reload_takes_in_a_file_added_to_a_plugin_directory(tmp_path: Path) -> None:
    write(tmp_path / "plugins.d" / "first.py", "")
    load(["./plugins.d"], tmp_path)
    write(tmp_path / "plugins.d" / "second.py", "")
    _, names = reload_plugins(["./plugins.d"], tmp_path)
    assert names == ["first", "second"]


def test_the_watched_sources_are_the_plugins_files_their_helpers_and_their_directories(
    importable: Path, tmp_path: Path
) -> None:
    folder = write(tmp_path / "plugins.d" / "a.py", "").parent
    write(folder / "_unused.py", "")
    single = write(tmp_path / "single" / "b.py", "from ._helper import X\n")
    write(tmp_path / "single" / "_helper.py", "X = 1\n")
    write(tmp_path / "single" / "notes.py", "")  # beside a plugin file, but never imported: not watched
    named = write(importable / "acme_named.py", "")
    specs = ["./plugins.d", "single/b.py", "acme_named", "yaml"]  # yaml: installed, so never watched nor reloaded
    load(specs, tmp_path)
    assert plugin_sources(specs, tmp_path) == {
        (folder / "a.py").resolve(),
        (folder / "_unused.py").resolve(),
        single.resolve(),
        (tmp_path / "single" / "_helper.py").resolve(),
        named.resolve(),
    }
    import yaml

    reload_plugins(specs, tmp_path)
    assert sys.modules["yaml"] is yaml
