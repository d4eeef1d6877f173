"""What a contact flow may post into a chat: its content types, their length limits, and the interactive templates.

Connect checks a flow's interactive message against the template it names ("Add interactive messages to
chat": "the flow validates that the message format follows one of these templates") and the total size of
the content; the field limits (titles, subtitles) are left to the chat client, so they are not checked here.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from botkit.connect import vocabulary as v

FLOW_CONTENT_TYPES = frozenset({v.TEXT_PLAIN, v.TEXT_MARKDOWN, v.APPLICATION_JSON, v.INTERACTIVE})
"""A participant's reply type (interactive.response) is not the flow's to send."""

MAX_CONTENT_BYTES = {
    v.TEXT_PLAIN: 1024,
    v.TEXT_MARKDOWN: 1024,
    v.APPLICATION_JSON: 12000,
    v.INTERACTIVE: 20 * 1024,
}
"""ChatMessage's limits for text and JSON; "less than 20KB" for an interactive message."""

CHOICE_TEMPLATES = frozenset({"ListPicker", "Panel", "QuickReply"})
CAROUSEL_MEMBERS = frozenset({"ListPicker", "Panel"})
TEMPLATES = CHOICE_TEMPLATES | {"TimePicker", "Carousel"}


class FlowMessageError(ValueError):
    """Why a flow message was refused, worded for the caller."""


def check_flow_message(content_type: Any, content: Any) -> None:
    """Raises FlowMessageError unless `content` is a message a contact flow could send as `content_type`."""
    if content_type not in FLOW_CONTENT_TYPES:
        raise FlowMessageError(f"ContentType must be one of {', '.join(sorted(FLOW_CONTENT_TYPES))}")
    if not isinstance(content, str) or not content:
        raise FlowMessageError("Content must be a non-empty string")
    size, limit = len(content.encode("utf-8", "surrogatepass")), MAX_CONTENT_BYTES[content_type]
    if size > limit:
        raise FlowMessageError(f"Content of {content_type} can hold at most {limit} UTF-8 bytes; this holds {size}")
    if content_type == v.APPLICATION_JSON:
        _decoded(content)
    elif content_type == v.INTERACTIVE:
        _check_template(_decoded(content), "", TEMPLATES)


def _decoded(content: str) -> Any:
    try:
        return json.loads(content)
    except (ValueError, RecursionError):
        raise FlowMessageError("Content must be JSON") from None


def _check_template(template: Any, where: str, allowed: frozenset[str]) -> None:
    if not isinstance(template, dict):
        raise FlowMessageError(f"{where or 'Content'} must be a JSON object")
    kind = template.get("templateType")
    if kind not in allowed:
        raise FlowMessageError(f"{where}templateType must be one of {', '.join(sorted(allowed))}")
    if template.get("version") != "1.0":
        raise FlowMessageError(f'{where}version must be "1.0"')
    data = template.get("data")
    body = data.get("content") if isinstance(data, dict) else None
    if not isinstance(body, dict):
        raise FlowMessageError(f"{where}data.content must be an object")
    inside = f"{where}data.content."
    _text(body, "title", inside)
    if kind in CHOICE_TEMPLATES:
        for index, element in enumerate(_list(body, "elements", inside)):
            _text(element, "title", f"{inside}elements[{index}].")
    elif kind == "TimePicker":
        for index, slot in enumerate(_list(body, "timeslots", inside)):
            _timeslot(slot, f"{inside}timeslots[{index}].")
    else:
        for index, member in enumerate(_list(body, "elements", inside)):
            _check_template(member, f"{inside}elements[{index}].", CAROUSEL_MEMBERS)


def _text(body: Any, key: str, where: str) -> None:
    if not isinstance(body, dict) or not isinstance(body.get(key), str) or not body[key]:
        raise FlowMessageError(f"{where}{key} must be a non-empty string")


def _list(body: dict[str, Any], key: str, where: str) -> list[Any]:
    value = body.get(key)
    if not isinstance(value, list) or not value:
        raise FlowMessageError(f"{where}{key} must be a non-empty list")
    return value


def _timeslot(slot: Any, where: str) -> None:
    _text(slot, "date", where)
    try:
        datetime.fromisoformat(slot["date"])
    except ValueError:
        raise FlowMessageError(f"{where}date must be an ISO 8601 date and time") from None
    duration = slot.get("duration")
    if isinstance(duration, bool) or not isinstance(duration, int) or duration <= 0:
        raise FlowMessageError(f"{where}duration must be a positive number of minutes")
