"""A plugin's `Config` model: its `plugin_config` entry validated, handed to handlers as the model, and a bad
entry failing `botkit check` and `botkit serve` with the plugin, the key and the line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from botkit.config import ConfigError, load_config, plugin_settings
from botkit.plugins import config_models, load_plugins, new_plugin_manager
from tests.test_cli import run

PLUGIN = '''
from pydantic import BaseModel, ConfigDict

from botkit import hookimpl


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    greeting: str = "Hello"
    retries: int = 2


@hookimpl
async def on_session_start(session):
    settings = session.plugin_config("orders")
    await session.send_message(f"{settings.greeting} ({type(settings).__name__}, {settings.retries} retries)")
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "orders.py").write_text(PLUGIN, encoding="utf-8")
    (tmp_path / "echo_settings.py").write_text("SETTINGS = 'no model here'\n", encoding="utf-8")
    return tmp_path


def write_bot(project: Path, entry: str) -> Path:
    path = project / "bot.yaml"
    path.write_text(
        "plugins:\n  - orders.py\n  - echo_settings.py\nplugin_config:\n  echo_settings: {prefix: '> '}\n"
        + textwrap.indent(textwrap.dedent(entry), "  "),
        encoding="utf-8",
    )
    return path


def settings_of(path: Path) -> object:
    config = load_config(path, environ={})
    manager = new_plugin_manager()
    load_plugins(manager, config.plugins, config.base_dir, entry_points=False)
    return plugin_settings(config, config_models(manager))


def test_a_plugin_with_a_config_model_gets_the_validated_model(project: Path) -> None:
    settings = settings_of(write_bot(project, "orders:\n  retries: 5\n"))

    orders = settings["orders"]  # type: ignore[index]
    assert type(orders).__name__ == "Config" and (orders.greeting, orders.retries) == ("Hello", 5)
    assert dict(settings["echo_settings"]) == {"prefix": "> "}  # type: ignore[index]


def test_a_plugin_without_an_entry_gets_its_model_defaults(project: Path) -> None:
    settings = settings_of(write_bot(project, ""))

    assert settings["orders"].retries == 2  # type: ignore[index]


def test_a_bad_entry_names_the_plugin_key_and_line_for_every_problem(project: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_of(write_bot(project, "orders:\n  retries: many\n  greting: Hi\n"))

    errors = caught.value.errors
    assert [(e.line, e.key) for e in errors] == [(7, "plugin_config.orders.retries"), (8, "plugin_config.orders.greting")]
    assert "valid integer" in errors[0].reason
    assert errors[1].reason == "unknown key 'greting' (did you mean 'greeting'?)"


async def test_botkit_check_fails_on_a_bad_plugin_entry(project: Path) -> None:
    path = write_bot(project, "orders:\n  retries: many\n")

    status, out, err = await run("check", str(path))

    assert status == 1, out
    assert f"{path}:7: plugin_config.orders.retries: input should be a valid integer" in err


async def test_botkit_check_passes_a_good_plugin_entry(project: Path) -> None:
    status, out, err = await run("check", str(write_bot(project, "orders:\n  retries: 1\n")))

    assert status == 0, err
    assert "  orders" in out


async def test_botkit_serve_refuses_to_start_on_a_bad_plugin_entry(project: Path) -> None:
    path = write_bot(project, "orders:\n  retries: many\n")
    (project / "bot.yaml").write_text(
        path.read_text() + "server: {port: 0}\nemulator: {port: 0}\n", encoding="utf-8"
    )

    status, _, err = await run("serve", str(path))

    assert status == 1
    assert f"{path}:7: plugin_config.orders.retries" in err


async def test_a_handler_reads_the_model(botkit_bot, project: Path) -> None:
    bot = await botkit_bot(plugins=[str(project / "orders.py")], plugin_config={"orders": {"greeting": "Hi"}})
    chat = await bot.start_chat(display_name="Ada")

    await chat.expect_message(text="Hi (Config, 2 retries)")
