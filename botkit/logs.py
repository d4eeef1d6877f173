"""Logging set-up for the command line: plain text or one JSON object per line.

Log messages carry text from outside (contact ids, display names, error
messages from the service). The text formatter escapes control characters in
the rendered message, so a newline or a terminal escape sequence in that text
can neither forge a log line nor rewrite the terminal.
"""

from __future__ import annotations

import copy
import json
import logging
import os

from botkit.runtime.logcontext import CONTACT_ID

_CONTROLS = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029]
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_ESCAPES = {
    code: _NAMED.get(chr(code), f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}") for code in _CONTROLS
}


def escape_controls(text: str) -> str:
    """C0 and C1 control characters and Unicode line separators written as repr writes them (`\\n`, `\\x1b`)."""
    return text.translate(_ESCAPES)


class TextFormatter(logging.Formatter):
    """One physical line per message; an exception's traceback, added after it, keeps its real newlines."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        escaped = copy.copy(record)  # other handlers (and tests' capture) keep the record as it was
        escaped.message = escape_controls(record.message)
        return super().formatMessage(escaped)


class JsonFormatter(logging.Formatter):
    """json.dumps escapes every control character (and, with ensure_ascii, U+2028/U+2029), so one line per record.

    A line logged while handling a contact carries its `contact_id`, so a log search finds the whole chat.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        contact_id = getattr(record, "contact_id", None) or CONTACT_ID.get()
        if contact_id is not None:
            entry["contact_id"] = contact_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


LIBRARIES = ("botocore", "urllib3", "websockets", "aiohttp.access")
"""Libraries whose DEBUG output (every signed request, every frame, every access line) drowns the bot's own."""
DEBUG_LIBRARIES_ENV = "BOTKIT_DEBUG_LIBRARIES"
_TRUE = {"1", "true", "yes", "on"}


def configure_logging(level: str, style: str, *, debug_libraries: bool = False) -> None:
    """Called again by `serve` once bot.yaml is read; the last call wins.

    At DEBUG, LIBRARIES stay at INFO, so `--log-level debug` shows botkit's own story; they follow `level`
    too when `debug_libraries` (bot.yaml's `logging.debug_libraries`) or BOTKIT_DEBUG_LIBRARIES=1 asks for them.
    """
    handler = logging.StreamHandler()
    if style == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    everything = debug_libraries or os.environ.get(DEBUG_LIBRARIES_ENV, "").strip().lower() in _TRUE
    # NOTSET follows the root; a library set to INFO under a WARNING root would show more than asked, hence max.
    library_level = logging.NOTSET if everything else max(root.level, logging.INFO)
    for name in LIBRARIES:
        logging.getLogger(name).setLevel(library_level)
