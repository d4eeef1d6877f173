"""When and how long the participant client waits before trying a call again."""

from __future__ import annotations

import random
from dataclasses import dataclass

import aiohttp

RETRYABLE_EXCEPTIONS: tuple[type[BaseException], ...] = (
    aiohttp.ClientConnectionError,
    aiohttp.ClientPayloadError,
    TimeoutError,
)
"""Network failures and timeouts: the request may not have reached the service, so try again."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Capped exponential backoff with full jitter, as the AWS SDKs do."""

    max_attempts: int = 5
    base_delay: float = 0.1
    max_delay: float = 5.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")

    def should_retry_status(self, status: int) -> bool:
        """Throttling and server errors pass; any other 4xx would fail the same way again."""
        return status == 429 or status >= 500

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        return random.uniform(0.0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))
