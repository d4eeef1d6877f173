"""Interactive messages as a terminal shows them: the prompt with numbered choices, and the answer to send back.

A contact flow (a Lex bot) sends `application/vnd.amazonaws.connect.message.interactive`, a JSON template:
ListPicker, Panel, QuickReply, TimePicker or Carousel (a row of ListPicker or Panel cards), as in "Add
interactive messages to chat" of the Amazon Connect Administrator Guide. The customer's choice goes back as
`application/vnd.amazonaws.connect.message.interactive.response`, in the shape the emulator's chat page sends:
the template's type and version, and `data.content` with the chosen `title`, the `selectedElement` as the
template gave it, and the prompt's `listTitle`. A "Show more" or "Previous options" element (`actionDetail`)
answers with its action, `listId`, `referenceId` and indexes, as Amazon's chat widget does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

TEMPLATES = frozenset({"ListPicker", "Panel", "QuickReply", "TimePicker", "Carousel"})
VERSION = "1.0"


@dataclass(frozen=True, slots=True)
class Choice:
    """One answer the customer may pick: its label and what the response carries."""

    title: str
    template_type: str
    element: Mapping[str, Any]
    list_title: str
    content: Mapping[str, Any] = field(repr=False)
    template_identifier: str | None = None

    def response(self) -> str:
        """The `interactive.response` content that answers the prompt with this choice."""
        action = self.element.get("actionDetail")
        if isinstance(action, str):
            data = {"actionName": action, "templateType": self.template_type}
            data |= {k: self.content[k] for k in ("preIndex", "nextIndex", "listId", "referenceId") if k in self.content}
            return json.dumps({"version": VERSION, "data": data, "action": action})
        content: dict[str, Any] = {"title": self.title, "selectedElement": dict(self.element), "listTitle": self.list_title}
        if self.template_identifier is not None:
            content["templateIdentifier"] = self.template_identifier
        return json.dumps({"templateType": self.template_type, "version": VERSION, "data": {"content": content}})


@dataclass(frozen=True, slots=True)
class Prompt:
    lines: tuple[str, ...]
    choices: tuple[Choice, ...]


def read_prompt(content: str) -> Prompt | None:
    """The prompt of an interactive message, or None when it is not one of the templates above."""
    try:
        template = json.loads(content)
    except ValueError:
        return None
    if not isinstance(template, dict) or template.get("templateType") not in TEMPLATES:
        return None
    lines: list[str] = []
    choices: list[Choice] = []
    _read(template, lines, choices, indent="")
    return Prompt(tuple(lines), tuple(choices))


def _read(template: Mapping[str, Any], lines: list[str], choices: list[Choice], indent: str) -> None:
    kind = str(template.get("templateType"))
    data = template.get("data")
    content = data.get("content") if isinstance(data, dict) else None
    if not isinstance(content, dict):
        return
    title = _text(content.get("title"))
    for heading in (title, _text(content.get("subtitle"))):
        if heading:
            lines.append(indent + heading)
    if kind == "Carousel":
        for card in _dicts(content.get("elements")):
            _read(card, lines, choices, indent + "  ")
        return
    identifier = template.get("templateIdentifier")
    options = _timeslots(content) if kind == "TimePicker" else _elements(content)
    for element, label, detail in options:
        choices.append(
            Choice(label, kind, element, title, content, identifier if isinstance(identifier, str) else None)
        )
        lines.append(f"{indent}  {len(choices)}. {label}" + (f" ({detail})" if detail else ""))


def _elements(content: Mapping[str, Any]) -> list[tuple[Mapping[str, Any], str, str]]:
    return [(element, _text(element.get("title")), _text(element.get("subtitle"))) for element in _dicts(content.get("elements"))]


def _timeslots(content: Mapping[str, Any]) -> list[tuple[Mapping[str, Any], str, str]]:
    """A TimePicker's slots (`date`, `duration` in minutes); the label is what the response calls the slot's title."""
    slots = []
    for slot in _dicts(content.get("timeslots")):
        date, duration = _text(slot.get("date")), slot.get("duration")
        try:
            when = datetime.fromisoformat(date.replace("Z", "+00:00")).strftime("%a %d %b %Y %H:%M %Z").strip()
        except ValueError:
            when = date
        label = f"{when} ({duration} min)" if isinstance(duration, int) else when
        slots.append(({"title": label, "date": date, "duration": duration}, label, ""))
    return slots


def _dicts(value: Any) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _text(value: Any) -> str:
    return " ".join(value.split()) if isinstance(value, str) else ""
