"""Contacts, participants and tokens: the state of the emulated service and its rules.

Nothing here knows HTTP. Handlers translate requests into calls on
`ContactCenter`; every item a call produces goes through `ContactCenter.publish`,
which keeps the transcript and hands the item to the listeners (the websocket
hub, message streaming) in one order per contact.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from botkit.connect import vocabulary as v
from botkit.emulator.config import EmulatorConfig
from botkit.emulator.errors import (
    CONNECT,
    ServiceError,
    access_denied,
    contact_conflict,
)
from botkit.emulator.idempotency import ClientTokens
from botkit.emulator.wireformat import iso_ms, new_id, new_token, utcnow

log = logging.getLogger(__name__)

HUMAN_ROLES = frozenset({v.AGENT, v.SUPERVISOR, v.CUSTOMER})

ATTRIBUTES_MAX_BYTES = 32_768
"""Connect's limit: "up to 32,768 UTF-8 bytes across all attributes for a contact"."""
_ATTRIBUTE_KEY = re.compile(r"[A-Za-z0-9_-]+")
"""Connect: "Attribute keys can include only alphanumeric, dash, and underscore characters"."""

FLOW_DISPLAY_NAME = "SYSTEM_MESSAGE"
"""The name Connect shows on messages from the contact flow."""

IN_FLOW = "IN_FLOW"
QUEUED = "QUEUED"
CONNECTED_TO_AGENT = "CONNECTED_TO_AGENT"
ENDED = "ENDED"

Listener = Callable[["Contact", dict[str, Any]], Awaitable[None]]


@dataclass(eq=False, slots=True)
class Participant:
    participant_id: str
    role: str
    display_name: str
    contact: Contact
    participant_token: str
    active: bool = False
    left: bool = False
    connection_tokens: set[str] = field(default_factory=set)
    sockets: set[Any] = field(default_factory=set)

    @property
    def gone(self) -> bool:
        return self.left or self.contact.ended


@dataclass(eq=False, slots=True)
class Attachment:
    attachment_id: str
    name: str
    content_type: str
    size: int
    uploader: Participant
    data: bytes | None = None
    completed: bool = False


@dataclass(eq=False, slots=True)
class Contact:
    contact_id: str
    initial_contact_id: str
    instance_id: str
    contact_flow_id: str
    attributes: dict[str, str]
    supported_content_types: frozenset[str]
    started_at: datetime
    ends_at: datetime
    ended_at: datetime | None = None
    participants: dict[str, Participant] = field(default_factory=dict)
    transcript: list[dict[str, Any]] = field(default_factory=list)
    positions: dict[str, int] = field(default_factory=dict)
    replies: dict[tuple[str, str, str, str], dict[str, Any]] = field(default_factory=dict)
    attachments: dict[str, Attachment] = field(default_factory=dict)
    streaming: dict[str, str] = field(default_factory=dict)
    """Its live streams (StartContactStreaming): StreamingId to the SNS topic's ARN."""
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    timer: asyncio.TimerHandle | None = None
    state: str = IN_FLOW
    """Where the contact flow has it: IN_FLOW, QUEUED (its bot left), CONNECTED_TO_AGENT, ENDED."""
    queue: str | None = None
    queued_at: datetime | None = None
    system_participant_id: str = field(default_factory=new_id)
    """Who the contact flow's own messages come from, one id per contact as Connect gives its SYSTEM participant."""

    @property
    def ended(self) -> bool:
        return self.ended_at is not None

    def active_participants(self) -> list[Participant]:
        """Who counts for the receipts rule: joined, not gone, never SYSTEM."""
        return [p for p in self.participants.values() if p.active and not p.left and p.role != v.SYSTEM]

    def item(self, content_type: str, item_type: str, participant: Participant | None = None, **extra: Any) -> dict[str, Any]:
        item: dict[str, Any] = {
            "AbsoluteTime": iso_ms(utcnow()),
            "ContentType": content_type,
            "Id": new_id(),
            "Type": item_type,
        }
        if participant is not None:
            item["ParticipantId"] = participant.participant_id
            item["DisplayName"] = participant.display_name
            item["ParticipantRole"] = participant.role
        item.update(extra)
        item["InitialContactId"] = self.initial_contact_id
        item["ContactId"] = self.contact_id
        return item

    def summary(self) -> dict[str, Any]:
        return {
            "ContactId": self.contact_id,
            "InitialContactId": self.initial_contact_id,
            "Ended": self.ended,
            "StartedAt": iso_ms(self.started_at),
            "EndedAt": iso_ms(self.ended_at) if self.ended_at else None,
            "Participants": [
                {
                    "ParticipantId": p.participant_id,
                    "ParticipantRole": p.role,
                    "DisplayName": p.display_name,
                    "Active": p.active and not p.left,
                    "Left": p.left,
                    "Sockets": len(p.sockets),
                }
                for p in self.participants.values()
            ],
            "ItemCount": len(self.transcript),
            "State": self.state,
            "Queue": self.queue,
            "QueuedAt": iso_ms(self.queued_at) if self.queued_at else None,
            "Attributes": dict(self.attributes),
            "Streams": [
                {"StreamingId": streaming_id, "StreamingEndpointArn": arn} for streaming_id, arn in self.streaming.items()
            ],
        }


@dataclass(frozen=True, slots=True)
class ConnectionGrant:
    participant: Participant
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class SocketTicket:
    participant: Participant
    expires_at: datetime


def _reply_key(participant: Participant, operation: str, client_token: str, body: bytes) -> tuple[str, str, str, str]:
    """Idempotency is keyed on participant, operation, token and body: chatjs reuses one token for every receipt."""
    return (participant.participant_id, operation, client_token, hashlib.sha256(body).hexdigest())


class ContactCenter:
    """One Amazon Connect instance's chats, tokens and the rules that bind them."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.contacts: dict[str, Contact] = {}
        self._participant_tokens: dict[str, Participant] = {}
        self._connection_tokens: dict[str, ConnectionGrant] = {}
        self._socket_tickets: dict[str, SocketTicket] = {}
        self._listeners: list[Listener] = []
        self._contact_listeners: list[Callable[[Contact], None]] = []
        self._forget_listeners: list[Callable[[Contact], None]] = []
        self.client_tokens = ClientTokens()
        self._departed: dict[str, Participant] = {}  # revoked connection tokens, kept to answer retries

    def add_listener(self, listener: Listener) -> None:
        """Called with every item of every contact, in order, after it is kept."""
        self._listeners.append(listener)

    def on_contact_started(self, callback: Callable[[Contact], None]) -> None:
        self._contact_listeners.append(callback)

    def on_contact_forgotten(self, callback: Callable[[Contact], None]) -> None:
        self._forget_listeners.append(callback)

    async def publish(self, contact: Contact, item: dict[str, Any]) -> None:
        async with contact.lock:
            if item["ContentType"] not in v.EPHEMERAL_CONTENT_TYPES:
                contact.positions[item["Id"]] = len(contact.transcript)
                contact.transcript.append(item)
            for listener in self._listeners:
                await listener(contact, item)

    # Tokens -----------------------------------------------------------------

    def participant_by_token(self, token: str | None) -> Participant:
        participant = self._participant_tokens.get(token or "")
        if participant is None or participant.gone:
            raise access_denied()
        return participant

    def participant_by_connection(self, token: str | None) -> Participant:
        grant = self._connection_tokens.get(token or "")
        if grant is None or grant.participant.gone:
            raise access_denied()
        if grant.expires_at <= utcnow():
            del self._connection_tokens[token or ""]
            raise access_denied()
        return grant.participant

    def issue_connection_token(self, participant: Participant) -> tuple[str, datetime]:
        token = new_token()
        expires_at = utcnow() + timedelta(seconds=self.config.connection_token_ttl)
        self._connection_tokens[token] = ConnectionGrant(participant, expires_at)
        participant.connection_tokens.add(token)
        return token, expires_at

    def issue_socket_ticket(self, participant: Participant) -> tuple[str, datetime]:
        self._forget_stale_tickets()
        ticket = new_token()
        expires_at = utcnow() + timedelta(seconds=self.config.websocket_connect_window)
        self._socket_tickets[ticket] = SocketTicket(participant, expires_at)
        return ticket, expires_at

    def redeem_socket_ticket(self, ticket: str) -> Participant | None:
        """A URL may be used again and again within its window, as chatjs does."""
        grant = self._socket_tickets.get(ticket)
        if grant is None or grant.expires_at <= utcnow() or grant.participant.gone:
            return None
        return grant.participant

    def _forget_stale_tickets(self) -> None:
        """Every ticket lives the same window, so the oldest come first: drop expired ones from the front."""
        now = utcnow()
        while self._socket_tickets:
            oldest = next(iter(self._socket_tickets))
            if self._socket_tickets[oldest].expires_at > now:
                return
            del self._socket_tickets[oldest]

    def _revoke(self, participant: Participant) -> None:
        self._participant_tokens.pop(participant.participant_token, None)
        for token in participant.connection_tokens:
            self._connection_tokens.pop(token, None)
            self._departed[token] = participant
        participant.connection_tokens.clear()

    # Contacts ---------------------------------------------------------------

    def contact(self, contact_id: str) -> Contact:
        contact = self.contacts.get(contact_id)
        if contact is None:
            raise ServiceError("ResourceNotFoundException", f"Contact not found: {contact_id}", service=CONNECT)
        return contact

    def contact_by_initial_id(self, initial_contact_id: str) -> Contact:
        """The contact a chat started as: here every chat is its own first contact, so its id is the initial one."""
        contact = self.contacts.get(initial_contact_id)
        if contact is None or contact.initial_contact_id != initial_contact_id:
            raise ServiceError(
                "ResourceNotFoundException", f"Contact not found: {initial_contact_id}", service=CONNECT
            )
        return contact

    def update_attributes(self, contact: Contact, attributes: dict[str, str]) -> None:
        """Creates or updates, ended contacts too, as Connect does; an empty value removes the attribute."""
        bad_keys = sorted(key for key in attributes if not _ATTRIBUTE_KEY.fullmatch(key))
        if bad_keys:
            raise ServiceError(
                "InvalidParameterException",
                f"Attribute keys can include only alphanumeric, dash, and underscore characters: {', '.join(bad_keys)}",
                service=CONNECT,
            )
        merged = {**contact.attributes, **attributes}
        merged = {key: value for key, value in merged.items() if value != ""}
        size = sum(len(key.encode()) + len(value.encode()) for key, value in merged.items())
        if size > ATTRIBUTES_MAX_BYTES:
            raise ServiceError(
                "InvalidParameterException",
                f"A contact's attributes can hold at most {ATTRIBUTES_MAX_BYTES} UTF-8 bytes; these would hold {size}",
                service=CONNECT,
            )
        contact.attributes = merged

    def check_instance(self, instance_id: str) -> None:
        if instance_id != self.config.instance_id:
            raise ServiceError(
                "ResourceNotFoundException", f"Instance not found: {instance_id}", service=CONNECT
            )

    async def start_chat(self, params: dict[str, Any]) -> dict[str, Any]:
        self.check_instance(params["InstanceId"])
        if params["ContactFlowId"] != self.config.contact_flow_id:
            raise ServiceError(
                "ResourceNotFoundException", f"Contact flow not found: {params['ContactFlowId']}", service=CONNECT
            )
        return await self.client_tokens.answer(
            "StartChatContact", params, lambda: self._start_chat(params), lambda reply: str(reply["ContactId"])
        )

    async def _start_chat(self, params: dict[str, Any]) -> dict[str, Any]:
        supported = params.get("SupportedMessagingContentTypes") or [v.TEXT_PLAIN]
        if v.TEXT_PLAIN not in supported:
            raise ServiceError(
                "InvalidRequestException",
                "SupportedMessagingContentTypes must include text/plain",
                service=CONNECT,
            )
        started = utcnow()
        contact_id = new_id()
        contact = Contact(
            contact_id=contact_id,
            initial_contact_id=contact_id,
            instance_id=self.config.instance_id,
            contact_flow_id=self.config.contact_flow_id,
            attributes=dict(params.get("Attributes") or {}),
            supported_content_types=frozenset(supported),
            started_at=started,
            ends_at=started + timedelta(minutes=params.get("ChatDurationInMinutes") or 1500),
        )
        self.contacts[contact_id] = contact
        customer = self._add_participant(contact, v.CUSTOMER, params["ParticipantDetails"]["DisplayName"])
        await self._join(customer)
        initial = params.get("InitialMessage")
        if initial:
            await self.publish(
                contact,
                contact.item(initial["ContentType"], v.MESSAGE, customer, Content=initial["Content"]),
            )
        contact.timer = asyncio.get_running_loop().call_later(
            (contact.ends_at - started).total_seconds(), self._expire, contact
        )
        reply = {
            "ContactId": contact_id,
            "ParticipantId": customer.participant_id,
            "ParticipantToken": customer.participant_token,
        }
        for callback in self._contact_listeners:
            callback(contact)
        return reply

    def _expire(self, contact: Contact) -> None:
        asyncio.get_running_loop().create_task(self.end_chat(contact))

    def _add_participant(self, contact: Contact, role: str, display_name: str) -> Participant:
        # A custom bot still waiting to connect already holds its place in the chat.
        present = [p for p in contact.participants.values() if not p.left and p.role != v.SYSTEM]
        if len(present) >= self.config.max_participants:
            raise ServiceError(
                "ServiceQuotaExceededException",
                f"A chat can have at most {self.config.max_participants} participants",
                service=CONNECT,
            )
        participant = Participant(new_id(), role, display_name, contact, new_token())
        contact.participants[participant.participant_id] = participant
        self._participant_tokens[participant.participant_token] = participant
        return participant

    async def _join(self, participant: Participant) -> None:
        if participant.active:
            return
        participant.active = True
        contact = participant.contact
        await self.publish(contact, contact.item(v.EVENT_PARTICIPANT_JOINED, v.EVENT, participant))
        if participant.role == v.AGENT:
            contact.state = CONNECTED_TO_AGENT
            for bot in [p for p in contact.active_participants() if p.role == v.CUSTOM_BOT]:
                await self.leave(bot)

    async def add_custom_bot(self, params: dict[str, Any]) -> dict[str, Any]:
        """CreateParticipant: the bot must connect with ConnectParticipant within its window."""
        self.check_instance(params["InstanceId"])
        contact = self.contact(params["ContactId"])
        return await self.client_tokens.answer(
            "CreateParticipant", params, lambda: self._add_custom_bot(contact, params), lambda _: contact.contact_id
        )

    async def _add_custom_bot(self, contact: Contact, params: dict[str, Any]) -> dict[str, Any]:
        details = params["ParticipantDetails"]
        if details.get("ParticipantRole") != v.CUSTOM_BOT:
            raise ServiceError(
                "InvalidRequestException", "Only CUSTOM_BOT participants can be created", service=CONNECT
            )
        if contact.ended:
            raise ServiceError("InvalidRequestException", "Contact is not active", service=CONNECT)
        if any(p.role == v.AGENT for p in contact.active_participants()):
            raise ServiceError(
                "ConflictException",
                "A custom participant can not be added while an agent is on the contact",
                service=CONNECT,
            )
        bot = self._add_participant(contact, v.CUSTOM_BOT, details.get("DisplayName") or "Bot")
        window = self.config.custom_participant_connect_window
        asyncio.get_running_loop().call_later(window, self._forget_unconnected, bot)
        return {
            "ParticipantCredentials": {
                "ParticipantToken": bot.participant_token,
                "Expiry": iso_ms(utcnow() + timedelta(seconds=window)),
            },
            "ParticipantId": bot.participant_id,
        }

    def _forget_unconnected(self, participant: Participant) -> None:
        if not participant.active and not participant.left:
            participant.left = True
            self._revoke(participant)
            participant.contact.participants.pop(participant.participant_id, None)

    async def add_human(self, contact: Contact, role: str, display_name: str) -> Participant:
        """The control API's join: active at once, as an agent accepting the contact would be."""
        if contact.ended:
            raise ServiceError("InvalidRequestException", "Contact is not active", service=CONNECT)
        participant = self._add_participant(contact, role, display_name)
        await self._join(participant)
        return participant

    async def connect(
        self, participant: Participant, types: list[str], connect_participant: bool, websocket_base: str
    ) -> dict[str, Any]:
        if v.WEBRTC_CONNECTION in types:
            raise ServiceError("ValidationException", "WEBRTC_CONNECTION is not supported for chat contacts")
        if connect_participant:
            await self._join(participant)
        reply: dict[str, Any] = {}
        if v.WEBSOCKET in types:
            ticket, expires_at = self.issue_socket_ticket(participant)
            reply["Websocket"] = {
                "Url": f"{websocket_base}?X-Amz-Security-Token={ticket}",
                "ConnectionExpiry": iso_ms(expires_at),
            }
        if v.CONNECTION_CREDENTIALS in types:
            token, expires_at = self.issue_connection_token(participant)
            reply["ConnectionCredentials"] = {"ConnectionToken": token, "Expiry": iso_ms(expires_at)}
        return reply

    async def leave(self, participant: Participant) -> None:
        """A participant goes; a customer going ends the chat for everyone."""
        if participant.gone:
            return
        contact = participant.contact
        await self.publish(contact, contact.item(v.EVENT_PARTICIPANT_LEFT, v.EVENT, participant))
        participant.left = True
        self._revoke(participant)
        if participant.role == v.CUSTOMER and not contact.ended:
            await self.end_chat(contact)  # the customer's sockets too get chat.ended, then close
            return
        await self._close_sockets(participant)
        if participant.role == v.CUSTOM_BOT:
            self._after_bot_left(contact)

    def _after_bot_left(self, contact: Contact) -> None:
        """The flow's "bot participant disconnected" branch: with the customer still there, it queues the contact.

        The queue is the contact's `queue` attribute, as a flow's routing on the bot's attributes would pick it,
        or the flow's default queue; an agent joining then takes it out of the queue.
        """
        present = {p.role for p in contact.active_participants()}
        if contact.ended or v.CUSTOMER not in present or present & {v.AGENT, v.CUSTOM_BOT}:
            return
        contact.state = QUEUED
        contact.queue = contact.attributes.get("queue") or self.config.default_queue
        contact.queued_at = utcnow()
        log.info("contact %s queued in %s", contact.contact_id, contact.queue)

    async def end_chat(self, contact: Contact) -> None:
        if contact.ended:
            return
        await self.publish(contact, contact.item(v.EVENT_CHAT_ENDED, v.EVENT))
        contact.ended_at = utcnow()
        contact.state = ENDED
        if contact.timer is not None:
            contact.timer.cancel()
        contact.timer = asyncio.get_running_loop().call_later(
            self.config.ended_contact_retention, self._forget, contact
        )
        for participant in contact.participants.values():
            self._revoke(participant)
            await self._close_sockets(participant)

    def _forget(self, contact: Contact) -> None:
        """An ended contact stays visible for `ended_contact_retention`, then goes, so a long run stays small."""
        self.contacts.pop(contact.contact_id, None)
        self.client_tokens.forget_contact(contact.contact_id)
        for callback in self._forget_listeners:
            callback(contact)

    async def _close_sockets(self, participant: Participant) -> None:
        for socket in list(participant.sockets):
            await socket.close()

    # Messages and events ---------------------------------------------------

    async def send_message(self, participant: Participant, content_type: str, content: str) -> dict[str, Any]:
        contact = participant.contact
        if content_type not in v.SENDABLE_MESSAGE_CONTENT_TYPES or content_type not in contact.supported_content_types:
            raise ServiceError(
                "ValidationException", f"Content type {content_type} is not supported for this contact"
            )
        item = contact.item(content_type, v.MESSAGE, participant, Content=content)
        await self.publish(contact, item)
        return {"Id": item["Id"], "AbsoluteTime": item["AbsoluteTime"]}

    async def send_event(self, participant: Participant, content_type: str, content: str | None) -> dict[str, Any]:
        contact = participant.contact
        if content_type not in v.SENDABLE_EVENT_CONTENT_TYPES:
            raise ServiceError("ValidationException", f"Content type {content_type} is not a supported event")
        if content_type in (v.EVENT_MESSAGE_DELIVERED, v.EVENT_MESSAGE_READ):
            return await self._receipt(participant, content_type, content)
        extra = {"Content": content} if content is not None else {}
        item = contact.item(content_type, v.EVENT, participant, **extra)
        await self.publish(contact, item)
        return {"Id": item["Id"], "AbsoluteTime": item["AbsoluteTime"]}

    async def post_as_flow(self, contact: Contact, content_type: str, content: str) -> dict[str, Any]:
        """A message the contact flow sends (a Send message block, a Lex bot's interactive template): role SYSTEM."""
        if contact.ended:
            raise ServiceError("InvalidRequestException", "Contact is not active", service=CONNECT)
        if content_type not in contact.supported_content_types:
            raise ServiceError(
                "ValidationException", f"Content type {content_type} is not supported for this contact"
            )
        item = contact.item(
            content_type,
            v.MESSAGE,
            Content=content,
            ParticipantId=contact.system_participant_id,
            DisplayName=FLOW_DISPLAY_NAME,
            ParticipantRole=v.SYSTEM,
        )
        await self.publish(contact, item)
        return {"Id": item["Id"], "AbsoluteTime": item["AbsoluteTime"]}

    async def _receipt(self, participant: Participant, content_type: str, content: str | None) -> dict[str, Any]:
        contact = participant.contact
        if len(contact.active_participants()) > 2:
            raise contact_conflict()
        message_id = _receipt_message_id(content)
        now = iso_ms(utcnow())
        receipts = self._record_receipt(contact, message_id, participant.participant_id, content_type, now)
        item = contact.item(
            v.EVENT_MESSAGE_METADATA,
            v.MESSAGEMETADATA,
            MessageMetadata={"MessageId": message_id, "Receipts": receipts},
        )
        item["AbsoluteTime"] = now
        await self.publish(contact, item)
        return {"Id": item["Id"], "AbsoluteTime": now}

    def _record_receipt(
        self, contact: Contact, message_id: str, recipient: str, content_type: str, when: str
    ) -> list[dict[str, str]]:
        """Receipts accumulate on the message item itself, as GetTranscript shows them."""
        position = contact.positions.get(message_id)
        message = contact.transcript[position] if position is not None else {}
        metadata = message.setdefault("MessageMetadata", {"MessageId": message_id, "Receipts": []})
        receipts: list[dict[str, str]] = metadata.setdefault("Receipts", [])
        receipt = next((r for r in receipts if r["RecipientParticipantId"] == recipient), None)
        if receipt is None:
            receipt = {"RecipientParticipantId": recipient}
            receipts.append(receipt)
        key = "ReadTimestamp" if content_type == v.EVENT_MESSAGE_READ else "DeliveredTimestamp"
        receipt.setdefault(key, when)
        if key == "ReadTimestamp":
            receipt.setdefault("DeliveredTimestamp", when)
        return [dict(r) for r in receipts]

    # Idempotency -----------------------------------------------------------

    def remembered(self, participant: Participant, operation: str, client_token: str | None, body: bytes) -> dict[str, Any] | None:
        if not client_token:
            return None
        return participant.contact.replies.get(_reply_key(participant, operation, client_token, body))

    def replayed(self, token: str | None, operation: str, client_token: str | None, body: bytes) -> dict[str, Any] | None:
        """The first answer to a retry sent with a token revoked since (a DisconnectParticipant whose answer was lost)."""
        participant = self._departed.get(token or "")
        return self.remembered(participant, operation, client_token, body) if participant else None

    def remember(
        self, participant: Participant, operation: str, client_token: str | None, body: bytes, reply: dict[str, Any]
    ) -> None:
        if client_token:
            participant.contact.replies[_reply_key(participant, operation, client_token, body)] = reply


def _receipt_message_id(content: str | None) -> str:
    try:
        decoded = json.loads(content or "")
    except (ValueError, RecursionError):
        decoded = None
    if not isinstance(decoded, dict) or not isinstance(decoded.get("messageId"), str) or not decoded["messageId"]:
        raise ServiceError("ValidationException", 'Receipt content must be a JSON object with a "messageId"')
    return decoded["messageId"]
