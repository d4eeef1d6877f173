"""`botkit serve` will not open an unsigned intake beyond loopback: anyone reaching it could hand the bot a contact."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from botkit.bot import StartupError, _refuse_an_open_intake
from botkit.config import parse_config
from tests.test_cli import run


def config(host: str, extra: str = "", endpoint: str = "http://127.0.0.1:9") -> object:
    return parse_config(f"connect: {{endpoint: '{endpoint}'}}\nserver: {{host: '{host}', port: 0}}\n{extra}")


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "localhost"])
def test_a_loopback_intake_may_go_unsigned(host: str) -> None:
    _refuse_an_open_intake(config(host))


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "192.168.1.20", "bot.internal.example", "fe80::1"])
def test_any_other_host_needs_a_secret(host: str) -> None:
    with pytest.raises(StartupError, match=r"intake\.secret"):
        _refuse_an_open_intake(config(host))


@pytest.mark.parametrize(
    ("extra", "endpoint"),
    [
        ("intake: {secret: a-long-enough-secret}", "http://127.0.0.1:9"),
        ("intake: {allow_unauthenticated: true}", "http://127.0.0.1:9"),
        ("", "embedded"),
    ],
    ids=["secret", "allow-unauthenticated", "embedded-emulator"],
)
def test_a_secret_an_explicit_opt_out_or_an_embedded_emulator_lets_it_start(extra: str, endpoint: str) -> None:
    _refuse_an_open_intake(config("0.0.0.0", extra, endpoint))


async def test_serve_refuses_to_start_naming_the_key_and_exits_1(tmp_path: Path) -> None:
    """Refused before anything is bound or called: the endpoint below has nothing listening."""
    (tmp_path / "bot.yaml").write_text(
        textwrap.dedent(
            """\
            connect: {endpoint: "http://127.0.0.1:9"}
            server: {host: 0.0.0.0, port: 0}
            """
        ),
        encoding="utf-8",
    )
    code, out, err = await run("serve", "bot.yaml", cwd=tmp_path)
    assert code == 1, err
    assert err.startswith("botkit: ") and "intake.secret" in err and "0.0.0.0" in err
    assert "Traceback" not in err
    assert out == ""
