"""Requests and responses as botocore's rest-json models lay them on the wire.

An SDK scatters an operation's input over headers (`X-Amz-Bearer`), the URI,
the query string and a JSON body; the emulator's handlers want one dict keyed
by member name, as botocore itself would build it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from botocore.model import ListShape, MapShape, OperationModel, Shape, StructureShape

from botkit.emulator.wireformat import has_lone_surrogate

# No 64-bit integer needs more than 19 digits; longer text never reaches int().
_INTEGER = re.compile(r"[-+]?[0-9]{1,19}")


class WireError(Exception):
    """A request that cannot even be read; the message is meant for the caller and holds no values."""


def parse_input(
    operation: OperationModel,
    *,
    body: bytes,
    headers: Mapping[str, str],
    path_params: Mapping[str, str],
    query: Mapping[str, str],
) -> dict[str, object]:
    """The operation's input parameters, keyed by member name; unknown body keys are dropped.

    `path_params` are already percent-decoded.  If `query` is a multidict
    (aiohttp's `request.query`), every value of a repeated key reaches a list member.
    """
    shape = operation.input_shape
    if shape is None:
        return {}
    lowered = {key.lower(): value for key, value in headers.items()}
    request = _Request(_json_object(body), lowered, path_params, query)
    params: dict[str, object] = {}
    for name, member in shape.members.items():
        value = request.value_of(member, member.serialization.get("name", name))
        if value is not None:
            params[name] = value
    return params


def serialize_output(shape: Shape | None, value: object) -> object:
    """`value` ready for json.dumps: None members dropped, datetimes as rest-json timestamps."""
    if shape is None:
        return {}
    return _serialized(shape, value)


def _json_object(body: bytes) -> dict[str, object]:
    """An empty body stands for `{}`; anything but a JSON object is refused."""
    if not body.strip():
        return {}
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise WireError("The request body is not valid JSON") from None
    if not isinstance(document, dict):
        raise WireError("The request body must be a JSON object")
    if has_lone_surrogate(document):
        raise WireError("The request body holds an unpaired UTF-16 surrogate escape")
    return document


@dataclass(frozen=True)
class _Request:
    """The places a member can come from; `headers` are keyed in lower case."""

    document: Mapping[str, object]
    headers: Mapping[str, str]
    path_params: Mapping[str, str]
    query: Mapping[str, str]

    def value_of(self, member: Shape, name: str) -> object:
        """The member's value from where the model puts it, or None when the request lacks it."""
        location = member.serialization.get("location")
        if location is None:
            return self.document.get(name)
        if location == "header":
            return _scalar_param(member, self.headers.get(name.lower()), "header", name)
        if location == "uri":
            return _scalar_param(member, self.path_params.get(name), "URI parameter", name)
        if location == "querystring":
            return _query_param(member, self.query, name)
        return None


def _query_param(member: Shape, query: Mapping[str, str], name: str) -> object:
    if isinstance(member, ListShape):
        values = _all_query_values(query, name)
        return [_converted(member.member, text, "query parameter", name) for text in values] or None
    return _scalar_param(member, query.get(name), "query parameter", name)


def _all_query_values(query: Mapping[str, str], name: str) -> list[str]:
    """A repeated key carries a list; only a multidict remembers every value."""
    getall = getattr(query, "getall", None)
    if getall is not None:
        return list(getall(name, []))
    return [query[name]] if name in query else []


def _scalar_param(member: Shape, text: str | None, where: str, name: str) -> object:
    return None if text is None else _converted(member, text, where, name)


def _converted(shape: Shape, text: str, where: str, name: str) -> object:
    """Text from a header, URI or query string as the member's type; the text never reaches the error."""
    if shape.type_name in ("integer", "long"):
        return _integer(text, where, name)
    if shape.type_name == "boolean":
        return _boolean(text, where, name)
    return text


def _integer(text: str, where: str, name: str) -> int:
    """Plain ASCII digits only: `int()` alone would also take `1_000` and other scripts' digits."""
    if not _INTEGER.fullmatch(text):
        raise WireError(f"The {where} '{name}' must be an integer")
    return int(text)


def _boolean(text: str, where: str, name: str) -> bool:
    if text not in ("true", "false"):
        raise WireError(f"The {where} '{name}' must be 'true' or 'false'")
    return text == "true"


def _serialized(shape: Shape, value: object) -> object:
    if isinstance(shape, StructureShape) and isinstance(value, Mapping):
        return {
            member.serialization.get("name", name): _serialized(member, value[name])
            for name, member in shape.members.items()
            if value.get(name) is not None
        }
    if isinstance(shape, ListShape) and isinstance(value, list | tuple):
        return [_serialized(shape.member, item) for item in value]
    if isinstance(shape, MapShape) and isinstance(value, Mapping):
        return {key: _serialized(shape.value, item) for key, item in value.items() if item is not None}
    if shape.type_name == "timestamp" and isinstance(value, datetime):
        return _timestamp(shape, value)
    return value


def _timestamp(shape: Shape, value: datetime) -> float | str:
    """Epoch seconds, rest-json's default, unless the model asks for ISO 8601; naive means UTC."""
    moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    if shape.serialization.get("timestampFormat") == "iso8601":
        return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return moment.timestamp()
