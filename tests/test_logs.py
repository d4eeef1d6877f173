"""Text from outside cannot forge log lines: control characters are escaped, in text and JSON logs alike."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from botkit.logs import configure_logging

FORGED_ID = "abc\nFAKE ERROR forged"


@pytest.fixture
def root_logging() -> Iterator[None]:
    """configure_logging replaces the root logger's handlers; put pytest's back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("root_logging")
def test_a_contact_id_with_a_newline_makes_exactly_one_text_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "text")
    logging.getLogger("botkit.runtime.manager").warning("contact %s: joined", FORGED_ID)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert err.rstrip("\n").endswith(r"botkit.runtime.manager: contact abc\nFAKE ERROR forged: joined")


@pytest.mark.usefixtures("root_logging")
def test_every_control_character_is_escaped_in_the_rendered_message(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "text")
    hostile = "a\r\x1b[2J\x00\x85\u2028\x7f\tb"
    logging.getLogger("botkit").info(f"display name {hostile} (%s)", hostile)  # in the format string and in an argument
    line = capsys.readouterr().err.rstrip("\n")
    assert len(line.splitlines()) == 1
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 or c in "\u2028\u2029" for c in line), repr(line)
    escaped = r"a\r\x1b[2J\x00\x85\u2028\x7f\tb"
    assert line.endswith(f"display name {escaped} ({escaped})")


@pytest.mark.usefixtures("root_logging")
def test_a_traceback_keeps_its_real_newlines_after_the_escaped_message(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "text")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("botkit").exception("contact %s: failed", FORGED_ID)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].endswith(r"contact abc\nFAKE ERROR forged: failed")
    assert lines[1] == "Traceback (most recent call last):"
    assert lines[-1] == "RuntimeError: boom"


@pytest.mark.usefixtures("root_logging")
def test_a_json_log_record_stays_one_line_and_keeps_the_text_exactly(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    hostile = FORGED_ID + "\r\x1b[31m\x85\u2028"
    logging.getLogger("botkit.runtime.manager").warning("contact %s: joined", hostile)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert all(c.isprintable() for c in err.rstrip("\n")), repr(err)
    assert json.loads(err)["message"] == f"contact {hostile}: joined"

