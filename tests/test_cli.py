"""The command line, run as a user runs it: a subprocess, its output, its exit status."""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.metadata
import os
import re
import signal
import sys
import textwrap
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from botkit import hookimpl
from botkit.cli import _parser, _set_young_collection_threshold
from tests.runtime.harness import Customer, running_bot

ROOT = Path(__file__).resolve().parent.parent


def cli_env() -> dict[str, str]:
    env = {k: val for k, val in os.environ.items() if not k.startswith("BOTKIT_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "0"  # the CLI must flush by itself
    return env


async def botkit(*args: str, stdin: int | None = None, cwd: Path = ROOT) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "botkit",
        *args,
        stdin=stdin if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=cwd,
        env=cli_env(),
    )


async def run(*args: str, cwd: Path = ROOT, timeout: float = 30) -> tuple[int, str, str]:
    process = await botkit(*args, cwd=cwd)
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def read_line(stream: asyncio.StreamReader, timeout: float = 20) -> str:
    line = await asyncio.wait_for(stream.readline(), timeout)
    assert line, "the process closed its output"
    return line.decode().rstrip("\n")


async def read_until(stream: asyncio.StreamReader, wanted: str, timeout: float = 20) -> list[str]:
    lines: list[str] = []
    async with asyncio.timeout(timeout):
        while True:
            line = await stream.readline()
            assert line, f"the process closed its output before {wanted!r}; it said {lines}"
            lines.append(line.decode().rstrip("\n"))
            if wanted in lines[-1]:
                return lines


# --version, --help, --log-level --------------------------------------------------------------------


async def test_version_prints_the_installed_distributions_version() -> None:
    code, out, err = await run("--version")
    assert code == 0, err
    assert out == f"botkit {importlib.metadata.version('connect-botkit')}\n"


async def test_help_lists_every_subcommand_with_its_one_line_description() -> None:
    commands = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    summaries = {choice.dest: choice.help for choice in commands._choices_actions}
    assert set(summaries) == set(commands.choices) and {"serve", "check", "chat", "emulator", "new"} <= set(summaries)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "botkit", "--help",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=cli_env() | {"COLUMNS": "80"},
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    for name, summary in summaries.items():
        assert summary and "\n" not in summary, name
        assert any(re.fullmatch(rf"\s+{name}\s+{re.escape(summary)}", line) for line in lines), (name, lines)


async def _serve_one_chat(tmp_path: Path, logging_yaml: str, *cli: str) -> tuple[str, str]:
    """`botkit [cli] serve` with the echo plugin, one customer saying hello; its stderr once stopped, and the contact."""
    (tmp_path / "bot.yaml").write_text(
        "connect: {endpoint: embedded}\nemulator: {port: 0}\nserver: {port: 0}\n"
        f"plugins: [{ROOT / 'plugins' / 'echo.py'}]\n{logging_yaml}\n",
        encoding="utf-8",
    )
    process = await botkit(*cli, "serve", "bot.yaml", cwd=tmp_path)
    assert process.stdout is not None and process.stderr is not None
    stderr = asyncio.create_task(process.stderr.read())
    try:
        emulator = (await read_line(process.stdout)).removeprefix("emulator: ")
        customer = Customer(emulator)
        await customer.start()
        await customer.send("hello")
        await customer.wait_for(lambda items: "echo: hello" in customer.bot_messages(), timeout=15)
        await customer.close()
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 15) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return (await stderr).decode(), customer.contact_id


async def test_log_level_debug_shows_botkits_debug_lines_but_not_botocores(tmp_path: Path) -> None:
    err, contact_id = await _serve_one_chat(tmp_path, "logging: {level: INFO}", "--log-level", "debug")
    assert re.search(r" DEBUG botkit\.", err), err
    assert not re.search(r" DEBUG (botocore|urllib3|websockets|aiohttp\.access)", err), err
    assert f"INFO botkit.runtime.manager: contact {contact_id}: joined as bot participant" in err


@pytest.mark.parametrize(
    ("logging_yaml", "extra_env"),
    [("logging: {level: DEBUG, debug_libraries: true}", {}), ("logging: {level: DEBUG}", {"BOTKIT_DEBUG_LIBRARIES": "1"})],
    ids=["bot.yaml", "environment"],
)
async def test_botocores_debug_lines_show_when_asked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, logging_yaml: str, extra_env: dict[str, str]
) -> None:
    plain_env = cli_env  # botkit() reads it at each call; the patch adds the variable cli_env strips
    monkeypatch.setattr(sys.modules[__name__], "cli_env", lambda: plain_env() | extra_env)
    err, _ = await _serve_one_chat(tmp_path, logging_yaml)
    assert re.search(r" DEBUG botocore\.", err), err


# check ------------------------------------------------------------------------------------------------


async def test_check_lists_the_plugins_and_hooks_of_the_root_bot_yaml(tmp_path: Path) -> None:
    code, out, err = await run("check", str(ROOT / "bot.yaml"), cwd=tmp_path)  # plugins found from bot.yaml's dir
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].endswith("bot.yaml: ok")
    assert lines[lines.index("plugins:") + 1 : lines.index("plugins:") + 3] == ["  faq", "  echo"]
    hooks = dict(re.findall(r"^  (on_\w+): (.*)$", out, re.M))
    assert hooks["on_message"] == "faq, echo"  # call order: faq is tryfirst
    assert hooks["on_session_start"] == "faq"
    assert hooks["on_typing"] == "-"
    assert len(hooks) == 13  # one per hook in botkit/hookspecs.py


@pytest.mark.parametrize("secret", ["s3cret-intake-value", "918273645"])
async def test_check_never_prints_a_secrets_value(tmp_path: Path, secret: str) -> None:
    config = tmp_path / "bot.yaml"
    config.write_text(
        "connect: {endpoint: 'https://bot-user:url-password@participant.connect.us-east-1.amazonaws.com',"
        " region: us-east-1, instance_id: i-1}\n"
        f"intake: {{secret: {secret}}}\n"
    )
    code, out, err = await run("check", str(config))
    assert code == 0, err
    assert "intake: signed" in out and "participant.connect.us-east-1.amazonaws.com" in out
    for value in (secret, "url-password", "bot-user"):
        assert value not in out + err


async def test_check_on_an_invalid_bot_yaml_fails_pointing_at_key_and_line(tmp_path: Path) -> None:
    config = tmp_path / "bot.yaml"
    config.write_text(
        textwrap.dedent(
            """\
            connect:
              endpoint: embedded
            receipts:
              throttle_seconds: -1
            runtime:
              handler_timeot: 5
            """
        ),
        encoding="utf-8",
    )
    code, out, err = await run("check", str(config), cwd=tmp_path)
    assert code != 0
    assert out == ""
    assert f"{config}:4: receipts.throttle_seconds: must be a number >= 0" in err
    assert f"{config}:6: runtime.handler_timeot: unknown key 'handler_timeot' (did you mean 'handler_timeout'?)" in err
    assert "Traceback" not in err


async def test_check_on_a_plugin_that_cannot_load_fails_naming_it(tmp_path: Path) -> None:
    (tmp_path / "bot.yaml").write_text("plugins: [plugins/missing.py]\n", encoding="utf-8")
    code, out, err = await run("check", "bot.yaml", cwd=tmp_path)
    assert code != 0
    assert "plugins/missing.py" in err and "Traceback" not in err


async def test_check_on_a_missing_file_fails_cleanly(tmp_path: Path) -> None:
    code, _, err = await run("check", str(tmp_path / "nope.yaml"), cwd=tmp_path)
    assert code != 0
    assert "nope.yaml" in err and "Traceback" not in err


# serve ------------------------------------------------------------------------------------------------


async def test_serve_prints_the_emulator_first_joins_chats_there_and_stops_on_sigterm(tmp_path: Path) -> None:
    config = tmp_path / "bot.yaml"
    config.write_text(
        textwrap.dedent(
            f"""\
            connect: {{endpoint: embedded}}
            emulator: {{port: 0}}
            server: {{port: 0}}
            plugins: [{ROOT / "plugins" / "echo.py"}]
            plugin_config:
              echo: {{prefix: "You said: "}}
            logging: {{level: INFO}}
            """
        ),
        encoding="utf-8",
    )
    process = await botkit("serve", str(config), cwd=tmp_path)
    assert process.stdout is not None and process.stderr is not None
    stderr = asyncio.create_task(process.stderr.read())
    try:
        first = await read_line(process.stdout)
        match = re.fullmatch(r"emulator: (http://127\.0\.0\.1:(\d+))", first)
        assert match, f"first line was {first!r}"
        assert int(match.group(2)) > 0
        assert await read_line(process.stdout) == f"chat: {match.group(1)}/chat"
        assert await read_line(process.stdout) == f"agent: {match.group(1)}/agent"
        second = await read_line(process.stdout)
        assert re.fullmatch(r"bot: http://127\.0\.0\.1:\d+ \(plugins: echo\)", second), second
        async with aiohttp.ClientSession() as http:
            for page in ("chat", "agent"):
                async with http.get(f"{match.group(1)}/{page}") as answer:
                    assert answer.status == 200 and "<main" in await answer.text(), page

        customer = Customer(match.group(1))
        await customer.start()
        await customer.send("hello from boto3")
        await customer.wait_for(lambda items: "You said: hello from boto3" in customer.bot_messages(), timeout=15)
        await customer.close()

        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 15)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    err = (await stderr).decode()
    assert code == 0, err
    assert "Traceback" not in err


async def test_serve_with_a_bad_plugin_exits_non_zero_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "bot.yaml").write_text(
        "emulator: {port: 0}\nserver: {port: 0}\nplugins: [typo.py]\n", encoding="utf-8"
    )
    (tmp_path / "typo.py").write_text(
        "from botkit import hookimpl\n\n@hookimpl\nasync def on_mesage(session, message):\n    pass\n", encoding="utf-8"
    )
    code, out, err = await run("serve", "bot.yaml", cwd=tmp_path)
    assert code != 0
    assert "on_mesage" in err and "on_message" in err and "Traceback" not in err


# chat -------------------------------------------------------------------------------------------------


class Echo:
    def __init__(self) -> None:
        self.ended: asyncio.Event = asyncio.Event()
        self.reason: str | None = None

    @hookimpl
    async def on_message(self, session: Any, message: Any) -> None:
        await session.send_message(f"echo: {message.content}")

    @hookimpl
    def on_session_end(self, reason: str) -> None:
        self.reason = reason
        self.ended.set()


async def test_chat_through_a_pipe_sends_lines_shows_answers_and_leaves_when_stdin_closes() -> None:
    echo = Echo()
    async with running_bot([echo]) as bot:
        process = await botkit("chat", "--endpoint", bot.emulator.base_url + "/", "--name", "Piped", stdin=asyncio.subprocess.PIPE)
        assert process.stdin is not None and process.stdout is not None and process.stderr is not None
        try:
            started = await read_line(process.stdout)
            assert re.fullmatch(r"chat \S+ started; type a message, Ctrl-D to leave", started), started
            contact_id = started.split()[1]

            process.stdin.write("how are you?\n".encode())
            await process.stdin.drain()
            lines = await read_until(process.stdout, "echo: how are you?")
            assert lines[-1] == "Bot: echo: how are you?"
            assert not any("Piped:" in line for line in lines)  # the customer's own message is not shown back

            process.stdin.close()
            code = await asyncio.wait_for(process.wait(), 15)
            rest = (await process.stdout.read()).decode()
            err = (await process.stderr.read()).decode()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        assert code == 0, err
        assert "[chat.ended]" in rest
        await asyncio.wait_for(echo.ended.wait(), 10)
        assert echo.reason == "chat_ended"
        contact = bot.emulator.center.contacts[contact_id]
        assert contact.ended
        customer = next(p for p in contact.participants.values() if p.role == "CUSTOMER")
        assert customer.left and customer.display_name == "Piped"


def test_serve_sets_the_young_generation_threshold_and_keeps_the_older_ones() -> None:
    before = gc.get_threshold()
    try:
        _set_young_collection_threshold(12_345)
        assert gc.get_threshold() == (12_345, *before[1:])
    finally:
        gc.set_threshold(*before)


async def test_emulator_signs_sns_messages_with_the_key_size_given() -> None:
    """`--sns-key-size`: benchmarks choose the key, since signing is the emulator's heaviest work under load."""
    from cryptography import x509

    process = await botkit("emulator", "--port", "0", "--sns-key-size", "1024", "--sns-signature-version", "2")
    try:
        assert process.stdout is not None
        base_url = (await read_line(process.stdout)).removeprefix("emulator: ")
        async with aiohttp.ClientSession() as http, http.get(base_url + "/emulator/sns/certificate.pem") as answer:
            assert answer.status == 200
            certificate = x509.load_pem_x509_certificate(await answer.read())
        assert certificate.public_key().key_size == 1024
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 20)
    assert process.returncode == 0
