"""The browser pages in headless Chromium: a customer on /chat talking to a real bot, an agent joining from /agent."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import aiohttp
import pytest

from botkit import hookimpl
from tests.browser.conftest import ARTIFACTS
from tests.runtime.harness import Customer, running_bot

pytestmark = pytest.mark.asyncio(loop_scope="module")

INTERACTIVE = "application/vnd.amazonaws.connect.message.interactive"
INTERACTIVE_RESPONSE = INTERACTIVE + ".response"
MENU = {
    "templateType": "ListPicker",
    "version": "1.0",
    "data": {
        "content": {
            "title": "What can I help you with?",
            "subtitle": "Tap a topic",
            "elements": [
                {"title": "Billing", "subtitle": "Invoices and payments"},
                {"title": "Delivery", "subtitle": "Where is my order?"},
                {"title": "Talk to a person"},
            ],
        }
    },
}
HOSTILE_MARKDOWN = "**Careful**: <script>window.pwned = 1</script> <img src=x onerror=\"window.pwned = 2\">"


async def post_flow_message(base_url: str, contact_id: str, content_type: str, content: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{base_url}/emulator/contacts/{contact_id}/flow-messages",
            json={"ContentType": content_type, "Content": content},
        ) as answer:
            assert answer.status == 200, await answer.text()
            return await answer.json()


class MenuBot:
    """Answers "menu" with a ListPicker from the contact flow (a participant may not send one), and the pick."""

    def __init__(self) -> None:
        self.emulator_url = ""
        self.picks: list[dict[str, Any]] = []
        self.attachments: list[Any] = []
        self.customer_typed = asyncio.Event()
        self.picked = asyncio.Event()
        self.attached = asyncio.Event()
        self.finish_thinking = asyncio.Event()

    @hookimpl
    async def on_message(self, session: Any, message: Any) -> None:
        if message.content_type == INTERACTIVE_RESPONSE:
            pick = json.loads(message.content)
            self.picks.append(pick)
            self.picked.set()
            await session.send_message(f"You picked **{pick['data']['content']['title']}**.", "text/markdown")
        elif message.content == "menu":
            await post_flow_message(self.emulator_url, session.contact_id, INTERACTIVE, json.dumps(MENU))
        elif message.content == "think":
            await session.send_typing()
            await asyncio.wait_for(self.finish_thinking.wait(), 5)
            await session.send_message("Done thinking.")
        elif message.content == "markdown":
            await session.send_message(HOSTILE_MARKDOWN, "text/markdown")
        elif message.participant_role == "CUSTOMER":
            await session.send_message(f"You said: {message.content}")

    @hookimpl
    async def on_typing(self, session: Any, event: Any) -> None:
        self.customer_typed.set()

    @hookimpl
    async def on_attachment(self, session: Any, attachment: Any) -> None:
        self.attachments.append(attachment)
        self.attached.set()


async def say(page: Any, text: str) -> None:
    await page.fill("#text", text)
    await page.press("#text", "Enter")


def bot_bubble(page: Any, text: str) -> Any:
    return page.locator(".row[data-role=CUSTOM_BOT] .bubble", has_text=text)


async def test_a_customer_chats_with_the_bot_in_a_browser(page: Any) -> None:
    from playwright.async_api import expect

    plugin = MenuBot()
    async with running_bot([plugin]) as bot:
        assert bot.emulator is not None
        plugin.emulator_url = bot.emulator.base_url
        await page.goto(bot.emulator.chat_url)
        await page.fill("#name", "Ada")
        await page.click("#start button")
        await expect(page.locator(".notice-joined", has_text="Ada joined")).to_be_visible()
        contact_id = await page.get_attribute("#widget", "data-contact-id")
        assert contact_id

        await say(page, "hello")
        await expect(bot_bubble(page, "You said: hello")).to_be_visible()
        await page.fill("#text", "men")  # typing goes out as the customer types (the bot listens by now)
        await asyncio.wait_for(plugin.customer_typed.wait(), 5)
        await expect(page.locator(".row.own .receipt").first).to_have_text(re.compile("Delivered|Read"))

        await say(page, "menu")
        menu = page.locator(".template-listpicker")
        await expect(menu.locator("button.choice")).to_have_count(3)
        await expect(menu.locator(".template-title")).to_have_text("What can I help you with?")
        await menu.locator("button.choice", has_text="Delivery").click()
        await asyncio.wait_for(plugin.picked.wait(), 5)
        assert plugin.picks[0]["templateType"] == "ListPicker"
        assert plugin.picks[0]["data"]["content"]["title"] == "Delivery"
        answer = bot_bubble(page, "You picked Delivery.")
        await expect(answer).to_be_visible()
        await expect(answer.locator("strong")).to_have_text("Delivery")
        await expect(menu.locator("button.choice.chosen")).to_have_text(re.compile("Delivery"))
        await expect(menu.locator("button.choice:enabled")).to_have_count(0)
        ARTIFACTS.mkdir(exist_ok=True)
        screenshot = ARTIFACTS / "chat.png"
        await page.screenshot(path=str(screenshot))
        print(f"screenshot of the conversation: {screenshot}")

        await say(page, "think")
        await expect(page.locator("#typing")).to_have_text(re.compile(r"is typing"))
        plugin.finish_thinking.set()
        await expect(bot_bubble(page, "Done thinking.")).to_be_visible()
        await expect(page.locator("#typing")).to_be_hidden()

        await post_flow_message(bot.emulator.base_url, contact_id, "text/plain", "Your order ships today.")
        await expect(page.locator(".row[data-role=SYSTEM] .bubble", has_text="Your order ships today.")).to_be_visible()
        quick = {
            "templateType": "QuickReply",
            "version": "1.0",
            "data": {"content": {"title": "Was this helpful?", "elements": [{"title": "Yes"}, {"title": "No"}]}},
        }
        await post_flow_message(bot.emulator.base_url, contact_id, INTERACTIVE, json.dumps(quick))
        await expect(page.locator(".template-quickreply button.choice")).to_have_count(2)

        await say(page, "markdown")
        hostile = bot_bubble(page, "Careful")
        await expect(hostile).to_contain_text("<script>window.pwned = 1</script>")
        await expect(hostile.locator("strong")).to_have_text("Careful")
        assert await hostile.locator("script, img").count() == 0
        assert await page.evaluate("window.pwned") is None

        await page.set_input_files("#file", files=[{"name": "receipt.txt", "mimeType": "text/plain", "buffer": b"paid"}])
        await asyncio.wait_for(plugin.attached.wait(), 5)
        assert plugin.attachments[0].attachments[0].attachment_name == "receipt.txt"
        await expect(page.locator(".row.own .download", has_text="receipt.txt")).to_be_visible()

        await page.click("#end")
        await expect(page.locator(".notice-ended")).to_have_text("Chat ended")
        await expect(page.locator("#composer")).to_be_hidden()


async def test_an_agent_joins_a_running_chat_from_the_agent_page(page: Any) -> None:
    from playwright.async_api import expect

    async with running_bot([MenuBot()]) as bot:
        assert bot.emulator is not None
        customer = Customer(bot.emulator.base_url)
        await customer.start()
        try:
            await customer.wait_for_transcript(lambda items: any(i.get("ParticipantRole") == "CUSTOM_BOT" for i in items))
            await page.goto(bot.emulator.agent_url)
            await page.fill("#name", "Grace")
            contact = page.locator(f"li.contact[data-contact-id='{customer.contact_id}']")
            await contact.locator("button.join-agent").click()
            await expect(page.locator(".notice-joined", has_text="Grace joined")).to_be_visible()

            await customer.send("I need a person")
            await expect(page.locator(".row[data-role=CUSTOMER] .bubble", has_text="I need a person")).to_be_visible()
            await say(page, "Hi Ada, Grace here.")
            await customer.wait_for(
                lambda items: any(
                    i.get("ParticipantRole") == "AGENT" and i.get("Content") == "Hi Ada, Grace here." for i in items
                )
            )
        finally:
            await customer.close()

