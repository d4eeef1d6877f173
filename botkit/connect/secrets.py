"""A wrapper that keeps tokens out of logs, reprs and error messages."""

from __future__ import annotations

import hmac

_MASK = "****"


class Secret:
    """A string that never prints itself: only `reveal()` hands out the value.

    Not a `str` subclass on purpose: f-strings, `json.dumps` and `%s` would all
    show a str subclass's value.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"Secret wraps a str, not {type(value).__name__}")
        self._value = value

    def reveal(self) -> str:
        """The value, for the one place that must put it on the wire."""
        return self._value

    def redact(self, text: str) -> str:
        """`text` with every occurrence of the value masked, for text that came from elsewhere."""
        return text.replace(self._value, _MASK) if self._value else text

    def __repr__(self) -> str:
        return f"Secret('{_MASK}')"

    __str__ = __repr__

    def __format__(self, format_spec: str) -> str:
        return format(repr(self), format_spec)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)
