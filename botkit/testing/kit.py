"""Bots under test: each an emulator and a bot process in the test's event loop, on free loopback ports."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp

from botkit.bot import BotProcess
from botkit.config import BotConfig
from botkit.connect.client import ParticipantClient
from botkit.connect.control import ControlPlaneClient
from botkit.connect.retry import RetryPolicy
from botkit.connect.secrets import Secret
from botkit.plugins import new_plugin_manager
from botkit.testing.chat import Chat, Participant
from botkit.testing.errors import BotFailure, ErrorRecorder, Pulse
from botkit.testing.settings import build_config

CALL_TIMEOUT = aiohttp.ClientTimeout(total=5)
"""Every call to the local emulator answers in milliseconds; five seconds means something is wrong."""
CALL_RETRY = RetryPolicy(max_attempts=2, base_delay=0.05, max_delay=0.2)
ERROR_RECORDER_NAME = "botkit.testing.errors"


@dataclass(frozen=True, slots=True)
class Joined:
    participant_id: str
    participant_token: Secret


class RunningBot:
    """A started bot with its embedded emulator; start chats on it. Made by the `botkit_bot` fixture."""

    def __init__(self, config: BotConfig, plugin_objects: Iterable[object], *, allow_errors: bool) -> None:
        self.config = config
        self.allow_errors = allow_errors
        self.pulse = Pulse()
        self._recorder = ErrorRecorder(self.pulse)
        manager = new_plugin_manager()
        manager.register(self._recorder, name=ERROR_RECORDER_NAME)
        for plugin in plugin_objects:
            manager.register(plugin, name=_plugin_name(plugin))
        self.process = BotProcess(config, manager)
        self._participant_client: ParticipantClient | None = None
        self._control: ControlPlaneClient | None = None
        self._http: aiohttp.ClientSession | None = None
        self._participants: list[Participant] = []
        self._watched: set[str] = set()  # contacts whose session's end fires the pulse

    @property
    def errors(self) -> list[BotFailure]:
        """Every exception a plugin raised so far (with `allow_errors=True`, the test may look at them)."""
        return list(self._recorder.failures)

    @property
    def participant_client(self) -> ParticipantClient:
        assert self._participant_client is not None, "the bot is not started"
        return self._participant_client

    @property
    def emulator_url(self) -> str:
        assert self.process.emulator is not None, "the bot is not started"
        return self.process.emulator.base_url

    @property
    def server_url(self) -> str:
        assert self.process.server_url is not None, "the bot is not started"
        return self.process.server_url

    async def start(self) -> None:
        await self.process.start()
        assert self.process.endpoints is not None
        endpoints = self.process.endpoints
        self._participant_client = ParticipantClient(endpoints.participant, retry=CALL_RETRY, timeout=CALL_TIMEOUT)
        self._control = ControlPlaneClient(
            endpoints.control, endpoints.region, retry=CALL_RETRY, total_timeout=CALL_TIMEOUT.total or 5
        )
        self._http = aiohttp.ClientSession(timeout=CALL_TIMEOUT)

    async def start_chat(
        self,
        display_name: str = "Customer",
        *,
        initial_message: str | None = None,
        attributes: Mapping[str, str] | None = None,
    ) -> Chat:
        """A customer starts a chat (StartChatContact); the bot joins it as the contact flow asks it to."""
        __tracebackhide__ = True
        self.raise_errors()
        assert self._control is not None and self.process.emulator is not None, "the bot is not started"
        emulator = self.process.emulator.config
        started = await self._control.start_chat_contact(
            emulator.instance_id,
            emulator.contact_flow_id,
            display_name,
            initial_message=initial_message,
            attributes=dict(attributes) if attributes else None,
        )
        chat = Chat(self, started.contact_id, started.participant_id, "CUSTOMER", display_name)
        self.track(chat)
        await chat.connect(started.participant_token)
        return chat

    async def join_participant(self, contact_id: str, role: str, display_name: str) -> Joined:
        """The emulator's control API adds an agent or supervisor, active at once, as accepting a contact would."""
        assert self._http is not None, "the bot is not started"
        url = f"{self.emulator_url}/emulator/contacts/{contact_id}/participants"
        async with self._http.post(url, json={"ParticipantRole": role, "DisplayName": display_name}) as answer:
            if answer.status != 200:
                raise RuntimeError(f"the emulator refused to add the {role}: {answer.status} {await answer.text()}")
            body = await answer.json()
        return Joined(body["ParticipantId"], Secret(body["ParticipantToken"]))

    def track(self, participant: Participant) -> None:
        self._participants.append(participant)

    def session_over(self, contact_id: str) -> bool | None:
        """True once the bot has no session for the contact (its end hooks have run); None while it has.

        A session may end after the chat's last item arrived, and then no item wakes a waiter: its end does.
        """
        manager = self.process.manager
        if manager is None or contact_id not in manager.sessions:
            return True
        if contact_id not in self._watched:
            self._watched.add(contact_id)

            def over() -> None:
                self._watched.discard(contact_id)
                self.pulse.fire()

            manager.on_session_over(contact_id, over)
        return None

    def raise_errors(self, when: str = "") -> None:
        """Raise a plugin's exception not raised yet, unless the test allows errors."""
        __tracebackhide__ = True
        if not self.allow_errors:
            self._recorder.raise_unreported(when)

    async def stop(self) -> None:
        """Close every participant's socket, then the clients, then the bot and its emulator."""
        participants, self._participants = self._participants, []
        await asyncio.gather(*(participant.close() for participant in participants))
        if self._participant_client is not None:
            await self._participant_client.close()
        if self._control is not None:
            await self._control.close()
        if self._http is not None:
            await self._http.close()
        await self.process.stop()


class BotKit:
    """What the `botkit_bot` fixture hands a test: call it to start a bot; `close()` stops them all.

    Also usable without pytest: `kit = BotKit(Path.cwd())`, `bot = await kit(plugins=[...])`, `await kit.close()`.
    """

    def __init__(self, rootdir: Path, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """`loop` is the one the bots must run in (the fixture's, which also stops them); else the first caller's."""
        self.rootdir = rootdir
        self.bots: list[RunningBot] = []
        self._loop = loop

    async def __call__(
        self,
        *,
        config: str | os.PathLike[str] | None = None,
        allow_errors: bool = False,
        **settings: Any,
    ) -> RunningBot:
        """Start a bot: `settings` are bot.yaml's keys (`plugins=[...]`, `plugin_config={...}`, `runtime={...}`),
        merged over `config` (a bot.yaml, relative to the rootdir) if given. `plugins` may also hold plugin
        objects (a module, a class instance) beside paths and module names."""
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif loop is not self._loop:
            raise RuntimeError(
                "botkit_bot runs its bots in the fixture's event loop, and this test runs in another one: "
                "give the test the fixtures' loop scope (by default both are function-scoped)"
            )
        plugins = settings.get("plugins")
        objects: list[object] = []
        if plugins is not None:
            specs = [os.fspath(p) if isinstance(p, str | os.PathLike) else p for p in plugins]
            objects = [p for p in specs if not isinstance(p, str)]
            settings = {**settings, "plugins": [p for p in specs if isinstance(p, str)]}
        checked = build_config(settings, config=config, rootdir=self.rootdir)
        bot = RunningBot(checked, objects, allow_errors=allow_errors)
        try:
            await bot.start()
        except BaseException:
            await bot.stop()
            raise
        self.bots.append(bot)
        return bot

    async def close(self) -> None:
        """Stop every bot (all of them, even if one fails to stop), then raise what their plugins raised unseen."""
        bots, self.bots = self.bots, []
        outcomes = await asyncio.gather(*(bot.stop() for bot in bots), return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        for bot in bots:
            bot.raise_errors(" after the test's last call to the chat")


def _plugin_name(plugin: object) -> str:
    if isinstance(plugin, ModuleType):
        return plugin.__name__
    return f"{type(plugin).__name__}-{id(plugin):x}"
