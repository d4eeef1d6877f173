"""The HTTP requests SNS makes to a subscribed URL: their JSON bodies and headers, field for field.

Unsigned here; `sns_signing` adds the signature. The bodies follow the
samples in AWS's "HTTP/HTTPS notification JSON format" pages.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botkit.emulator.wireformat import dumps, iso_ms, new_id, utcnow

NOTIFICATION = "Notification"
SUBSCRIPTION_CONFIRMATION = "SubscriptionConfirmation"
UNSUBSCRIBE_CONFIRMATION = "UnsubscribeConfirmation"

CONTENT_TYPE = "text/plain; charset=UTF-8"
"""SNS's default for HTTP/S deliveries (a delivery policy's headerContentType could change it; the emulator keeps it)."""
USER_AGENT = "Amazon Simple Notification Service Agent"


@dataclass(frozen=True, slots=True)
class Envelope:
    """One message as it goes to one subscriber: the same bytes and headers at every attempt, as SNS retries it."""

    kind: str
    message_id: str
    topic_arn: str
    body: bytes
    headers: dict[str, str]
    contact_id: str | None = None


def notification(topic_arn: str, item: dict[str, Any]) -> dict[str, str]:
    """The signed part of a chat item's Notification; the same for every subscriber of the topic."""
    return {
        "Type": NOTIFICATION,
        "MessageId": new_id(),
        "TopicArn": topic_arn,
        "Message": dumps(item),
        "Timestamp": iso_ms(utcnow()),
    }


def subscription_confirmation(topic_arn: str, token: str, subscribe_url: str) -> dict[str, str]:
    return {
        "Type": SUBSCRIPTION_CONFIRMATION,
        "MessageId": new_id(),
        "Token": token,
        "TopicArn": topic_arn,
        "Message": (
            f"You have chosen to subscribe to the topic {topic_arn}.\n"
            "To confirm the subscription, visit the SubscribeURL included in this message."
        ),
        "SubscribeURL": subscribe_url,
        "Timestamp": iso_ms(utcnow()),
    }


def unsubscribe_confirmation(topic_arn: str, subscription_arn: str, token: str, subscribe_url: str) -> dict[str, str]:
    return {
        "Type": UNSUBSCRIBE_CONFIRMATION,
        "MessageId": new_id(),
        "Token": token,
        "TopicArn": topic_arn,
        "Message": (
            f"You have chosen to deactivate subscription {subscription_arn}.\n"
            "To cancel this operation and restore the subscription, visit the SubscribeURL included in this message."
        ),
        "SubscribeURL": subscribe_url,
        "Timestamp": iso_ms(utcnow()),
    }


def item_attributes(item: dict[str, Any]) -> dict[str, dict[str, str]]:
    """What Connect's message streaming puts in MessageAttributes, so a subscription filter policy can use it."""
    return {
        "ContactId": {"Type": "String", "Value": item["ContactId"]},
        "ContentType": {"Type": "String", "Value": item["ContentType"]},
        "Type": {"Type": "String", "Value": item["Type"]},
    }


def envelope(
    signed: dict[str, str],
    certificate_url: str,
    subscription_arn: str | None = None,
    unsubscribe_url: str | None = None,
    attributes: dict[str, dict[str, str]] | None = None,
    contact_id: str | None = None,
) -> Envelope:
    """The request for one subscriber: the signed fields, then what SNS adds per subscription (never signed)."""
    document: dict[str, Any] = {**signed, "SigningCertURL": certificate_url}
    if unsubscribe_url is not None:
        document["UnsubscribeURL"] = unsubscribe_url
    if attributes is not None:
        document["MessageAttributes"] = attributes
    headers = {
        "Content-Type": CONTENT_TYPE,
        "User-Agent": USER_AGENT,
        "x-amz-sns-message-type": signed["Type"],
        "x-amz-sns-message-id": signed["MessageId"],
        "x-amz-sns-topic-arn": signed["TopicArn"],
    }
    if subscription_arn is not None:
        headers["x-amz-sns-subscription-arn"] = subscription_arn
    body = json.dumps(document, indent=2, separators=(",", " : "), ensure_ascii=False).encode()
    return Envelope(signed["Type"], signed["MessageId"], signed["TopicArn"], body, headers, contact_id)
