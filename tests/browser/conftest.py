"""Headless Chromium from Debian's `chromium` package, driven by Playwright with `executable_path`.

No browser is ever downloaded (`playwright install` cannot work here). Where no Chromium is installed, every
browser test is skipped with a warning that says so, so a green run cannot hide that they did not run.
"""

from __future__ import annotations

import shutil
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

ARTIFACTS = Path(__file__).parent / "artifacts"
TIMEOUT_MS = 10_000


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _skip_loudly(reason: str) -> None:
    message = f"BROWSER TESTS NOT RUN: {reason}"
    warnings.warn(pytest.PytestWarning(message), stacklevel=2)
    pytest.skip(message)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Any]:
    """One headless Chromium per test module."""
    executable = _chromium()
    if executable is None:
        _skip_loudly("no chromium on PATH (.ci/run installs Debian's `chromium`; apt-get install -y chromium)")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        _skip_loudly("playwright is not installed (pip install -e '.[test]')")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            await launched.close()


@pytest_asyncio.fixture(loop_scope="module")
async def page(browser: Any) -> AsyncIterator[Any]:
    """A fresh page whose console errors and uncaught exceptions fail the test."""
    context = await browser.new_context(viewport={"width": 520, "height": 820}, device_scale_factor=1)
    opened = await context.new_page()
    opened.set_default_timeout(TIMEOUT_MS)
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
    opened.on("console", lambda message: problems.append(message.text) if _counts(message) else None)
    try:
        yield opened
    finally:
        await context.close()
    assert not problems, f"the page reported errors: {problems}"


def _counts(message: Any) -> bool:
    """A console error counts, except the browser's note on an HTTP error answer: the page shows those itself."""
    return message.type == "error" and not message.text.startswith("Failed to load resource")
