"""Fault injection: the trouble a real network and a real service give a bot, on demand.

Off by default. Set from a file at start (`--faults FILE`) or at run time
(`PUT /emulator/faults`); a `seed` makes a run repeatable.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from botkit.emulator.errors import CONNECT, PARTICIPANT, service_model

_ERROR_CODES = {429: "ThrottlingException", 500: "InternalServerException"}
"""The Participant Service's spelling; `operations` answers a 500 in each service's own (see errors.internal_error)."""


class FaultSpecError(ValueError):
    """A faults file or request that names an unknown knob or a value out of range."""


@dataclass(slots=True)
class StreamingFaultSpec:
    """What message streaming does to notifications, per delivery to a subscriber; rates are fractions from 0 to 1.

    A duplicate is the same request sent twice (same MessageId), as SNS's at-least-once delivery does. A reordered
    notification is held back until the contact's next one has gone out (or `reorder_hold_seconds` pass with none).
    A delayed one goes out `delay_seconds` late, while the contact's later ones go on without it.
    """

    duplicate_rate: float = 0.0
    reorder_rate: float = 0.0
    reorder_hold_seconds: float = 1.0
    delay_rate: float = 0.0
    delay_seconds: float = 1.0

    @classmethod
    def from_dict(cls, data: Any) -> StreamingFaultSpec:
        if not isinstance(data, dict):
            raise FaultSpecError("streaming must be a mapping of knob to value")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise FaultSpecError(
                f"unknown streaming fault knob(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        spec = cls(**data)
        spec.check()
        return spec

    def check(self) -> None:
        for name in ("duplicate_rate", "reorder_rate", "delay_rate"):
            value = getattr(self, name)
            if not _is_number(value) or not 0 <= value <= 1:
                raise FaultSpecError(f"streaming.{name} must be a number from 0 to 1, not {value!r}")
        for name in ("reorder_hold_seconds", "delay_seconds"):
            value = getattr(self, name)
            if not _is_number(value) or value < 0:
                raise FaultSpecError(f"streaming.{name} must be a number >= 0, not {value!r}")


@dataclass(frozen=True, slots=True)
class DeliveryFaults:
    """What happens to one notification on its way to one subscriber."""

    duplicate: bool = False
    reorder: bool = False
    hold: float = 0.0
    """How long a reordered notification waits for the contact's next one."""
    delay: float = 0.0


NO_DELIVERY_FAULTS = DeliveryFaults()


@dataclass(slots=True)
class FaultSpec:
    """What to inject. Rates are fractions of calls or frames, from 0 to 1."""

    error_rate: float = 0.0
    error_statuses: list[int] = field(default_factory=lambda: [429, 500])
    lost_response_rate: float = 0.0
    latency_ms: list[float] = field(default_factory=lambda: [0.0, 0.0])
    answer_latency_ms: list[float] = field(default_factory=lambda: [0.0, 0.0])
    """Added once the call is done, before its answer goes out: an answer slow on its way back."""
    operations: list[str] = field(default_factory=list)
    drop_websocket_rate: float = 0.0
    refuse_websockets_seconds: float = 0.0
    streaming: StreamingFaultSpec = field(default_factory=StreamingFaultSpec)
    seed: int | None = None

    @classmethod
    def from_dict(cls, data: Any) -> FaultSpec:
        if not isinstance(data, dict):
            raise FaultSpecError("faults must be a mapping of knob to value")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise FaultSpecError(f"unknown fault knob(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        if "streaming" in data:
            data = {**data, "streaming": StreamingFaultSpec.from_dict(data["streaming"])}
        spec = cls(**data)
        spec.check()
        return spec

    def check(self) -> None:
        """Every knob's type and range; the message names the knob, as a faults file's author needs."""
        for name in ("error_rate", "lost_response_rate", "drop_websocket_rate"):
            value = getattr(self, name)
            if not _is_number(value) or not 0 <= value <= 1:
                raise FaultSpecError(f"{name} must be a number from 0 to 1, not {value!r}")
        statuses = self.error_statuses
        if not isinstance(statuses, list) or not statuses or any(s not in _ERROR_CODES for s in statuses):
            raise FaultSpecError(f"error_statuses must be a non-empty list of {sorted(_ERROR_CODES)}")
        for name in ("latency_ms", "answer_latency_ms"):
            latency = getattr(self, name)
            if not (
                isinstance(latency, list)
                and len(latency) == 2
                and all(_is_number(ms) for ms in latency)
                and 0 <= latency[0] <= latency[1]
            ):
                raise FaultSpecError(f"{name} must be [min, max] with 0 <= min <= max")
        if not isinstance(self.operations, list) or not all(isinstance(name, str) for name in self.operations):
            raise FaultSpecError("operations must be a list of operation names")
        unknown = sorted(set(self.operations) - _operation_names())
        if unknown:
            raise FaultSpecError(f"operations names unknown operation(s): {', '.join(unknown)}")
        if not _is_number(self.refuse_websockets_seconds) or self.refuse_websockets_seconds < 0:
            raise FaultSpecError("refuse_websockets_seconds must be a number >= 0")
        if self.seed is not None and (not isinstance(self.seed, int) or isinstance(self.seed, bool)):
            raise FaultSpecError("seed must be an integer or null")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _operation_names() -> set[str]:
    """What `operations` may name: every operation of the two services the emulator speaks."""
    return {name for service in (PARTICIPANT, CONNECT) for name in service_model(service).operation_names}


class Faults:
    """The live fault state that the middleware and the hub consult."""

    def __init__(self, spec: FaultSpec | None = None) -> None:
        self.spec = FaultSpec()
        self._random = random.Random()
        self._streaming_random = random.Random()
        self._refuse_until = 0.0
        self.apply(spec or FaultSpec())

    def apply(self, spec: FaultSpec) -> None:
        self.spec = spec
        self._random = random.Random(spec.seed)
        # Its own generator, so the pattern of streaming faults for a seed does not shift with the API calls made.
        self._streaming_random = random.Random(spec.seed)
        self._refuse_until = time.monotonic() + spec.refuse_websockets_seconds

    def applies_to(self, operation: str) -> bool:
        return not self.spec.operations or operation in self.spec.operations

    def latency(self) -> float:
        low, high = self.spec.latency_ms
        return self._random.uniform(low, high) / 1000 if high else 0.0

    def answer_latency(self) -> float:
        low, high = self.spec.answer_latency_ms
        return self._random.uniform(low, high) / 1000 if high else 0.0

    def error_before(self) -> tuple[int, str] | None:
        """An error to answer instead of doing the work."""
        if self.spec.error_rate and self._random.random() < self.spec.error_rate:
            status = self._random.choice(self.spec.error_statuses)
            return status, _ERROR_CODES[status]
        return None

    def lose_response(self) -> bool:
        """Do the work, then answer the service's 500: the case that only idempotent retries survive."""
        return bool(self.spec.lost_response_rate) and self._random.random() < self.spec.lost_response_rate

    def drop_websocket_now(self) -> bool:
        return bool(self.spec.drop_websocket_rate) and self._random.random() < self.spec.drop_websocket_rate

    def refusing_websockets(self) -> bool:
        return time.monotonic() < self._refuse_until

    def streaming_delivery(self) -> DeliveryFaults:
        """The faults for the next notification to a subscriber; three draws each time, so a seed fixes the pattern."""
        spec = self.spec.streaming
        if not (spec.duplicate_rate or spec.reorder_rate or spec.delay_rate):
            return NO_DELIVERY_FAULTS
        draw = self._streaming_random.random
        duplicate, reorder, delay = draw() < spec.duplicate_rate, draw() < spec.reorder_rate, draw() < spec.delay_rate
        return DeliveryFaults(duplicate, reorder, spec.reorder_hold_seconds, spec.delay_seconds if delay else 0.0)


def load_fault_file(path: str | Path) -> FaultSpec:
    """A faults file, YAML or JSON; every problem is a FaultSpecError that names the file."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        return FaultSpec.from_dict(data)
    except OSError as error:
        raise FaultSpecError(f"cannot read faults file {path}: {error.strerror}") from None
    except (yaml.YAMLError, FaultSpecError, TypeError) as error:
        raise FaultSpecError(f"invalid faults file {path}: {error}") from None
