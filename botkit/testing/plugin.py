"""The pytest plugin (entry point `botkit`, group `pytest11`): the `botkit_bot` fixture.

Installed botkit gives every project the fixture. Its module imports nothing of the bot until a test asks
for it, so a pytest run that never uses it does not pay for botkit's imports.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from botkit.testing.kit import BotKit

try:
    import pytest_asyncio
except ImportError:  # the fixture then says what to install, rather than pytest failing to start
    pytest_asyncio = None


if pytest_asyncio is not None:

    @pytest_asyncio.fixture
    async def botkit_bot(request: pytest.FixtureRequest) -> AsyncIterator[BotKit]:
        """Start bots with `await botkit_bot(plugins=[...], ...)`; they all stop when the test ends."""
        from botkit.testing.kit import BotKit

        kit = BotKit(request.config.rootpath, asyncio.get_running_loop())
        try:
            yield kit
        finally:
            await kit.close()

else:

    @pytest.fixture
    def botkit_bot() -> Any:
        pytest.fail("the botkit_bot fixture needs pytest-asyncio: pip install pytest-asyncio", pytrace=False)
