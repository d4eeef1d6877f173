"""GetTranscript's paging over a contact's kept items, in both directions and both orders."""

from __future__ import annotations

import base64
import binascii
import json
from bisect import bisect_left, bisect_right
from datetime import UTC, datetime
from typing import Any

from botkit.emulator.errors import ServiceError
from botkit.emulator.wireformat import iso_ms

DEFAULT_PAGE = 10


def page(items: list[dict[str, Any]], positions: dict[str, int], params: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    """One page of `items` (oldest first) and the token of the next one.

    The transcript only grows, so a position taken from a NextToken stays valid.
    """
    limit = params.get("MaxResults") or DEFAULT_PAGE
    start_position = params.get("StartPosition") or {}
    token = params.get("NextToken")
    if token:
        index, forward = _decode(token)
    else:
        forward = params.get("ScanDirection", "FORWARD" if start_position else "BACKWARD") == "FORWARD"
        index = _start_index(items, positions, start_position, forward)
    if forward:
        chosen = items[max(index, 0) : max(index, 0) + limit]
        following = index + limit
        next_token = _encode(following, True) if following < len(items) else None
    else:
        low = max(index - limit + 1, 0)
        chosen = items[low : index + 1] if index >= 0 else []
        next_token = _encode(low - 1, False) if low > 0 else None
    if params.get("SortOrder", "DESCENDING") == "DESCENDING":
        chosen = chosen[::-1]
    return chosen, next_token


def _start_index(items: list[dict[str, Any]], positions: dict[str, int], start: dict[str, Any], forward: bool) -> int:
    if "Id" in start:
        if start["Id"] not in positions:
            raise ServiceError("ValidationException", "StartPosition Id does not match any item of this contact")
        return positions[start["Id"]]
    if "AbsoluteTime" in start:
        moment = _wire_time(start["AbsoluteTime"])
        times = [item["AbsoluteTime"] for item in items]
        if forward:
            return bisect_left(times, moment)
        return bisect_right(times, moment) - 1
    newest = len(items) - 1
    if "MostRecent" in start:
        return max(newest - start["MostRecent"], 0) if items else 0
    return 0 if forward else newest


def _wire_time(text: str) -> str:
    """An ISO 8601 instant in the items' own fixed-width form, so string order is time order."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ServiceError("ValidationException", "StartPosition AbsoluteTime must be an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return iso_ms(moment.astimezone(UTC))


def _encode(index: int, forward: bool) -> str:
    return base64.urlsafe_b64encode(json.dumps([index, forward]).encode()).decode()


def _decode(token: str) -> tuple[int, bool]:
    try:
        index, forward = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, TypeError, binascii.Error):
        raise ServiceError("ValidationException", "Invalid NextToken") from None
    if not isinstance(index, int) or not isinstance(forward, bool) or index < 0:
        raise ServiceError("ValidationException", "Invalid NextToken")
    return index, forward
