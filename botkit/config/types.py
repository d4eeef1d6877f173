"""The kinds of value bot.yaml holds, as pydantic types that say in their errors what they expected.

Each type ends in `Expect(...)`: whatever pydantic finds wrong with a value is reported as
"must be <what>, got <value as written>", the wording bot.yaml's errors have always had.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import annotated_types
from pydantic import (
    AfterValidator,
    AllowInfNan,
    BeforeValidator,
    GetCoreSchemaHandler,
    PlainValidator,
    Strict,
    ValidationError,
)
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from botkit.config.yamltree import describe
from botkit.connect.secrets import Secret

EXPECTED = "botkit_expected"
"""The pydantic error type of our own messages, which `Expect` passes on as they are."""


@dataclass(frozen=True, slots=True)
class Expect:
    """Turns pydantic's complaint about the value itself into "must be {says}, got {value}".

    Errors inside the value (an item of a list, a key of a section) keep their own place and message.
    `says` is also the type column of docs/configuration.md.
    """

    says: str

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_wrap_validator_function(self._validate, handler(source))

    def _validate(self, value: Any, handler: Callable[[Any], Any]) -> Any:
        try:
            return handler(value)
        except ValidationError as error:
            if any(detail["loc"] or detail["type"] == EXPECTED for detail in error.errors()):
                raise
            raise expected(f"must be {self.says}, got {describe(value)}") from None


def expected(message: str) -> PydanticCustomError:
    """An error whose message is said as it is (no braces are interpreted)."""
    return PydanticCustomError(EXPECTED, "{message}", {"message": message})


def _rule(test: Callable[[Any], bool]) -> AfterValidator:
    """A check beyond the type; its failure is reported by the `Expect` after it."""

    def check(value: Any) -> Any:
        if not test(value):
            raise ValueError("rejected")
        return value

    return AfterValidator(check)


def integer(low: int, high: int | None = None) -> Any:
    says = f"an integer >= {low}" if high is None else f"an integer from {low} to {high}"
    return Annotated[int, Strict(), annotated_types.Interval(ge=low, le=high), Expect(says)]


def number(low: float, *, inclusive: bool) -> Any:
    """A finite number, ints included (kept as floats, so `handler_timeout: 30` reads back as 30.0)."""
    bound = annotated_types.Ge(low) if inclusive else annotated_types.Gt(low)
    says = f"a number {'>=' if inclusive else '>'} {low:g}"
    return Annotated[float, Strict(), AllowInfNan(False), bound, Expect(says)]


def choice(*options: str) -> Any:
    """One of `options`, in any case; normalised to the spelling given here."""
    by_folded = {option.casefold(): option for option in options}

    def fold(value: Any) -> Any:
        return by_folded.get(value.casefold(), value) if isinstance(value, str) else value

    return Annotated[Literal[options], BeforeValidator(fold), Expect(f"one of {', '.join(options)}")]  # type: ignore[valid-type]


def text(says: str, test: Callable[[str], bool] = lambda value: bool(value.strip())) -> Any:
    """A string that passes `test` (by default: not blank)."""
    return Annotated[str, Strict(), _rule(test), Expect(says)]


def optional_text(says: str, test: Callable[[str], bool] = lambda value: bool(value.strip())) -> Any:
    return Annotated[str | None, Strict(), _rule(lambda value: value is None or test(value)), Expect(f"{says}, or null")]


Boolean = Annotated[bool, Strict(), Expect("true or false")]
Port = integer(0, 65535)


def is_http_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
        port = parts.port  # raises ValueError unless the port is a number from 0 to 65535
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and port != 0


_MODULE_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d+")
_INSTANCE_ID = re.compile(r"[A-Za-z0-9-]{1,100}")


def is_plugin_spec(value: str) -> bool:
    """What plugins.load_plugins can resolve: a dotted module name, a .py file or a directory."""
    if not value.strip():
        return False
    looks_like_path = value.endswith(".py") or "/" in value or value.startswith(".")
    return looks_like_path or _MODULE_NAME.fullmatch(value) is not None


def is_region(value: str) -> bool:
    return _REGION.fullmatch(value) is not None


def is_instance_id(value: str) -> bool:
    return _INSTANCE_ID.fullmatch(value) is not None


def is_sns_topic_arn(value: str) -> bool:
    parts = value.split(":")
    return len(parts) == 6 and parts[0] == "arn" and parts[2] == "sns" and all(parts[3:])


def _to_secret(value: Any) -> Secret | None:
    """A secret YAML reads as a number is taken as its text, so no error ever has to echo it."""
    if value is None or isinstance(value, Secret):
        return value
    if isinstance(value, str | int | float) and not isinstance(value, bool) and str(value) != "":
        return Secret(str(value))
    raise ValueError("not a secret")


OptionalSecret = Annotated[
    Secret | None,
    PlainValidator(_to_secret, json_schema_input_type=str | None),
    Expect("a non-empty string (use ${BOTKIT_INTAKE_SECRET}), or null"),
]
