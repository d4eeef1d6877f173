"""Request validation in Amazon Connect's own words.

botocore's ParamValidator checks types and minimums only, so a request the
real service rejects (a 16,385-byte message, an unknown enum value) would pass
the emulator.  This module walks a botocore input shape and reports every
constraint a value breaks, as AWS's ``ValidationException`` message does.

Paths are lowerCamelCase member names joined with ``.``; a list element is
``<list>.<n>.member`` (1-based), the form AWS's JSON services use, e.g.
``attachmentIds.1.member``.  A map key that breaks its constraints is reported
at the map's path as ``Map keys must satisfy constraint: [...]``, a scalar map
value as ``Map value must satisfy constraint: [...]``; a structure or list
inside a map is walked at ``<map>.<key>``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from botocore.model import ListShape, MapShape, Shape, StructureShape

_MAX_SHOWN = 100
_AGGREGATES = frozenset({"structure", "list", "map"})
_INT_BITS = {"integer": 32, "long": 64}


def validate(shape: Shape, value: object) -> list[str]:
    """Every constraint of `shape` that `value` breaks, one AWS-style message each; empty when valid.

    A value checked on its own, outside any structure, is reported at ''.
    """
    return _check(shape, value, _Place(path="", secret=False).guarding(shape))


def validation_message(errors: list[str]) -> str:
    """The message of a ValidationException carrying `errors`, worded as AWS words it."""
    noun = "error" if len(errors) == 1 else "errors"
    return f"{len(errors)} validation {noun} detected: {'; '.join(errors)}"


@dataclass(frozen=True)
class _Place:
    """Where in the request a value sits, and whether it may be shown at all."""

    path: str
    secret: bool

    def member(self, name: str, shape: Shape) -> _Place:
        """Token members (ParticipantToken, NextToken, ...) are secrets: no message shows their values."""
        return self._down(name[:1].lower() + name[1:], shape, token=name.endswith("Token"))

    def element(self, index: int, shape: Shape) -> _Place:
        return self._down(f"{index}.member", shape)

    def entry(self, key: object, shape: Shape) -> _Place:
        return self._down(_shown(key), shape)

    def guarding(self, shape: Shape) -> _Place:
        """The same place, secret as well when the model marks `shape` sensitive."""
        return _Place(self.path, self.secret or bool(shape.metadata.get("sensitive")))

    def showing(self, shape: Shape) -> _Place:
        """The place for a message that prints a whole list or map: secret if anything inside may be."""
        return _Place(self.path, self.secret or _may_hold_secrets(shape, set()))

    def fail(self, value: object, constraint: str) -> str:
        return f"Value{self._subject(value)} at '{self.path}' failed to satisfy constraint: {constraint}"

    def _down(self, segment: str, shape: Shape, *, token: bool = False) -> _Place:
        path = f"{self.path}.{segment}" if self.path else segment
        return _Place(path, self.secret or token).guarding(shape)

    def _subject(self, value: object) -> str:
        if value is None:
            return " null"
        return "" if self.secret else f" '{_shown(value)}'"


def _may_hold_secrets(shape: Shape, seen: set[str]) -> bool:
    """Whether a value of `shape` can carry a token member or a sensitive value anywhere inside."""
    if shape.name in seen:
        return False
    seen.add(shape.name)
    if shape.metadata.get("sensitive"):
        return True
    return any(name.endswith("Token") or _may_hold_secrets(inner, seen) for name, inner in _held(shape))


def _held(shape: Shape) -> list[tuple[str, Shape]]:
    if isinstance(shape, StructureShape):
        return list(shape.members.items())
    if isinstance(shape, ListShape):
        return [("member", shape.member)]
    if isinstance(shape, MapShape):
        return [("key", shape.key), ("value", shape.value)]
    return []


def _check(shape: Shape, value: object, place: _Place) -> list[str]:
    if value is None:
        return []
    if isinstance(shape, StructureShape):
        return _check_structure(shape, value, place)
    if isinstance(shape, ListShape):
        return _check_list(shape, value, place)
    if isinstance(shape, MapShape):
        return _check_map(shape, value, place)
    return [place.fail(value, problem) for problem in _scalar_problems(shape, value)]


def _check_structure(shape: StructureShape, value: object, place: _Place) -> list[str]:
    """Members are checked in model order; keys the model does not know are ignored, as AWS does."""
    if not isinstance(value, dict):
        return [place.fail(value, _must_be("structure"))]
    errors: list[str] = []
    for name, member in shape.members.items():
        where = place.member(name, member)
        item = value.get(name)
        if item is None and name in shape.required_members:
            errors.append(where.fail(None, "Member must not be null"))
        errors += _check(member, item, where)
    return errors


def _check_list(shape: ListShape, value: object, place: _Place) -> list[str]:
    if not isinstance(value, list):
        return [place.fail(value, _must_be("list"))]
    errors = [place.showing(shape).fail(value, problem) for problem in _length_problems(shape, len(value))]
    for index, item in enumerate(value, start=1):
        where = place.element(index, shape.member)
        if item is None:
            errors.append(where.fail(None, "Member must not be null"))
        errors += _check(shape.member, item, where)
    return errors


def _check_map(shape: MapShape, value: object, place: _Place) -> list[str]:
    if not isinstance(value, dict):
        return [place.fail(value, _must_be("map"))]
    errors = [place.showing(shape).fail(value, problem) for problem in _length_problems(shape, len(value))]
    for key, item in value.items():
        errors += _bundled(place.guarding(shape.key), key, "Map keys", _scalar_problems(shape.key, key))
        errors += _check_map_value(shape.value, key, item, place)
    return errors


def _check_map_value(shape: Shape, key: object, item: object, place: _Place) -> list[str]:
    if shape.type_name in _AGGREGATES and item is not None:
        return _check(shape, item, place.entry(key, shape))
    problems = ["Member must not be null"] if item is None else _scalar_problems(shape, item)
    return _bundled(place.guarding(shape), item, "Map value", problems)


def _bundled(place: _Place, value: object, what: str, problems: list[str]) -> list[str]:
    """AWS reports a map entry's problems together: `Map keys must satisfy constraint: [a, b]`."""
    if not problems:
        return []
    return [place.fail(value, f"{what} must satisfy constraint: [{', '.join(problems)}]")]


def _scalar_problems(shape: Shape, value: object) -> list[str]:
    """The constraints a non-aggregate value breaks, as `Member must ...` phrases."""
    check = _SCALAR_CHECKS.get(shape.type_name)
    return check(shape, value) if check else []


def _string_problems(shape: Shape, value: object) -> list[str]:
    """Lengths count UTF-8 bytes, so a message of multi-byte characters hits the limit early."""
    if not isinstance(value, str):
        return [_must_be("string")]
    size = len(value.encode("utf-8", "surrogatepass"))
    return _length_problems(shape, size) + _pattern_problems(shape, value) + _enum_problems(shape, value)


def _enum_problems(shape: Shape, value: str) -> list[str]:
    allowed = shape.metadata.get("enum")
    if allowed and value not in allowed:
        return [f"Member must satisfy enum value set: [{', '.join(allowed)}]"]
    return []


def _pattern_problems(shape: Shape, value: str) -> list[str]:
    pattern = _compiled(shape.metadata.get("pattern"))
    if pattern is None or pattern.fullmatch(value):
        return []
    return [f"Member must satisfy regular expression pattern: {pattern.pattern}"]


@cache
def _compiled(pattern: str | None) -> re.Pattern[str] | None:
    """The model's pattern for Python's `re`, or None when `re` cannot express it.

    The models' patterns are Java regular expressions: `\\p{L}` and friends do
    not compile here, and those are skipped rather than guessed.  ASCII mode
    gives `\\d`, `\\w` and `\\s` their Java meanings.
    """
    if pattern is None:
        return None
    try:
        return re.compile(_without_model_quirks(pattern), re.ASCII)
    except re.error:
        return None


def _without_model_quirks(pattern: str) -> str:
    """Undo two slips in the published models that would otherwise reject every value.

    Some patterns are escaped twice (`\\\\+[1-9]\\\\d{1,14}$` for a phone
    number, whose single-escaped twin is `SensitivePhoneNumber`'s), and
    `Password`'s is wrapped in JavaScript's `/.../` delimiters.
    """
    if len(pattern) > 1 and pattern.startswith("/") and pattern.endswith("/"):
        pattern = pattern[1:-1]
    return pattern.replace("\\\\", "\\")


def _integer_problems(shape: Shape, value: object) -> list[str]:
    """A bool is not a number, and an integer must fit the shape's 32 or 64 bits as in Java."""
    limit = 1 << (_INT_BITS[shape.type_name] - 1)
    if isinstance(value, bool) or not isinstance(value, int) or not -limit <= value < limit:
        return [_must_be(shape.type_name)]
    return _range_problems(shape, value)


def _float_problems(shape: Shape, value: object) -> list[str]:
    if not _is_number(value):
        return [_must_be(shape.type_name)]
    return _range_problems(shape, value)


def _boolean_problems(shape: Shape, value: object) -> list[str]:
    return [] if isinstance(value, bool) else [_must_be("boolean")]


def _timestamp_problems(shape: Shape, value: object) -> list[str]:
    """rest-json sends epoch seconds; ISO 8601 text and datetimes are accepted as well."""
    if isinstance(value, datetime) or _is_number(value):
        return []
    if isinstance(value, str) and _is_iso_timestamp(value):
        return []
    return [_must_be("timestamp")]


def _blob_problems(shape: Shape, value: object) -> list[str]:
    """A blob travels as base64 text; its length constraints count the decoded bytes."""
    data = _decoded_blob(value)
    if data is None:
        return [_must_be("blob")]
    return _length_problems(shape, len(data))


def _decoded_blob(value: object) -> bytes | None:
    if isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def _is_iso_timestamp(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _length_problems(shape: Shape, size: int) -> list[str]:
    problems = []
    if "max" in shape.metadata and size > shape.metadata["max"]:
        problems.append(f"Member must have length less than or equal to {shape.metadata['max']}")
    if "min" in shape.metadata and size < shape.metadata["min"]:
        problems.append(f"Member must have length greater than or equal to {shape.metadata['min']}")
    return problems


def _range_problems(shape: Shape, value: int | float) -> list[str]:
    problems = []
    if "max" in shape.metadata and value > shape.metadata["max"]:
        problems.append(f"Member must have value less than or equal to {shape.metadata['max']}")
    if "min" in shape.metadata and value < shape.metadata["min"]:
        problems.append(f"Member must have value greater than or equal to {shape.metadata['min']}")
    return problems


def _must_be(type_name: str) -> str:
    return f"Member must be of type {type_name}"


_SCALAR_CHECKS: dict[str, Callable[[Shape, object], list[str]]] = {
    "string": _string_problems,
    "integer": _integer_problems,
    "long": _integer_problems,
    "float": _float_problems,
    "double": _float_problems,
    "boolean": _boolean_problems,
    "timestamp": _timestamp_problems,
    "blob": _blob_problems,
}


def _shown(value: object) -> str:
    """`value` as AWS prints it, cut to 100 characters so a 16 KB message never fills an error."""
    text = _rendered(value, _MAX_SHOWN + 1)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def _rendered(value: object, budget: int) -> str:
    """Java's toString of a JSON-like value; it stops once past `budget`, so depth and size stay bounded."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return _rendered_entries("[", [("", item) for item in value], "]", budget)
    if isinstance(value, dict):
        return _rendered_entries("{", [(f"{key}=", item) for key, item in value.items()], "}", budget)
    return str(value)


def _rendered_entries(opening: str, entries: list[tuple[str, object]], closing: str, budget: int) -> str:
    text = opening
    for index, (label, item) in enumerate(entries):
        if len(text) > budget:
            break
        text += (", " if index else "") + label + _rendered(item, budget - len(text))
    return text + closing
