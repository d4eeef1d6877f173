"""Message streaming: AWS's documented custom-bot transport, every item of a contact as a signed SNS Notification.

Topics and their subscribed URLs come from the emulator's config
(`streaming_endpoints`) or `PUT /emulator/streaming-endpoints`. As on SNS, a
new subscription first gets a signed SubscriptionConfirmation whose
SubscribeURL is on the emulator, and nothing else until that URL is fetched.
Once StartContactStreaming names a topic for a contact, each of the contact's
items goes to every confirmed subscriber as the `Message` of a Notification,
signed, in order, with SNS's retries (`sns_delivery`).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Any

from yarl import URL

from botkit.connect.secrets import Secret
from botkit.emulator.config import EmulatorConfig
from botkit.emulator.contacts import Contact, ContactCenter
from botkit.emulator.errors import CONNECT, ServiceError
from botkit.emulator.faults import Faults
from botkit.emulator.sns_delivery import (
    SNS_RETRIES,
    SNS_RETRY_DELAY,
    Courier,
    DeliveryPolicy,
    StreamingStats,
    Subscriber,
    Tasks,
    shown,
)
from botkit.emulator.sns_messages import (
    envelope,
    item_attributes,
    notification,
    subscription_confirmation,
    unsubscribe_confirmation,
)
from botkit.emulator.sns_signing import SnsSigner
from botkit.emulator.wireformat import new_id

log = logging.getLogger(__name__)

CERTIFICATE_PATH = "/emulator/sns/certificate.pem"
CONFIRM_PATH = "/emulator/sns/confirm"
UNSUBSCRIBE_PATH = "/emulator/sns/unsubscribe"


@dataclass(eq=False, slots=True)
class Subscription:
    topic_arn: str
    url: str
    arn: str
    token: Secret
    """Proves a SubscribeURL came from the SubscriptionConfirmation; never logged."""
    subscriber: Subscriber
    base_url: str
    """The emulator as the subscriber's owner reached it: where its SubscribeURL and SigningCertURL point."""
    confirmed: bool = False

    def own_url(self, path: str, **query: str) -> str:
        return str(URL(self.base_url).with_path(path).with_query(query))

    @property
    def certificate_url(self) -> str:
        return self.base_url + CERTIFICATE_PATH

    def summary(self) -> dict[str, Any]:
        return {
            "StreamingEndpointArn": self.topic_arn,
            "Url": shown(self.url),
            "SubscriptionArn": self.arn if self.confirmed else "PendingConfirmation",
            "Confirmed": self.confirmed,
        }


class Streaming:
    def __init__(self, center: ContactCenter, config: EmulatorConfig, faults: Faults) -> None:
        self._config = config
        self._faults = faults
        self.stats = StreamingStats()
        self.signer = SnsSigner(config.sns_key_size, config.sns_signature_version)
        policy = DeliveryPolicy(
            retries=SNS_RETRIES,
            retry_delay=SNS_RETRY_DELAY * config.sns_retry_delay_factor,
            timeout=config.sns_delivery_timeout,
        )
        self._courier = Courier(policy, self.stats)
        self._topics: dict[str, dict[str, Subscription]] = {}
        self._lapsed: list[Subscription] = []
        """Unsubscribed after confirmation: their UnsubscribeConfirmation's SubscribeURL restores them, as on SNS."""
        self._tasks = Tasks()
        self._client_tokens = center.client_tokens
        center.add_listener(self.deliver)

    async def open(self, base_url: str) -> None:
        """Subscribes the URLs of the config, once the emulator listens at `base_url` (their SubscribeURL names it)."""
        for topic_arn, urls in self._config.streaming_endpoints.items():
            await self.subscribe(topic_arn, urls, base_url)

    # Topics and subscriptions ----------------------------------------------

    def urls(self, topic_arn: str) -> list[str]:
        return [shown(url) for url in self._topics.get(topic_arn, {})]

    def subscriptions(self) -> list[dict[str, Any]]:
        return [s.summary() for topic in self._topics.values() for s in topic.values()]

    async def subscribe(self, topic_arn: str, urls: list[str], base_url: str) -> list[str]:
        """Adds the URLs not yet subscribed; one still pending gets its SubscriptionConfirmation again, as on SNS.

        `base_url` is the emulator's address as the caller reached it, which its subscribers can reach too.
        """
        topic = self._topics.setdefault(topic_arn, {})
        for url in urls:
            subscription = topic.get(url)
            if subscription is None:
                subscription = topic[url] = Subscription(
                    topic_arn,
                    url,
                    f"{topic_arn}:{new_id()}",
                    Secret(secrets.token_hex(64)),
                    self._subscriber(url),
                    base_url,
                )
            if not subscription.confirmed:
                await self._send_subscription_confirmation(subscription)
        return self.urls(topic_arn)

    def _subscriber(self, url: str) -> Subscriber:
        return Subscriber(url, self._courier)

    async def _send_subscription_confirmation(self, subscription: Subscription) -> None:
        signed = subscription_confirmation(
            subscription.topic_arn, subscription.token.reveal(), self._subscribe_url(subscription)
        )
        await self.signer.sign(signed)
        subscription.subscriber.dispatch(envelope(signed, subscription.certificate_url))
        log.info(
            "SNS: SubscriptionConfirmation %s for %s sent to %s; nothing goes there until its SubscribeURL is fetched",
            signed["MessageId"], subscription.topic_arn, shown(subscription.url),
        )

    def confirm(self, topic_arn: str, token: str) -> str | None:
        """ConfirmSubscription: the subscription's ARN, or None for a token this topic never sent."""
        wanted = Secret(token)
        for subscription in self._topics.get(topic_arn, {}).values():
            if subscription.token == wanted:
                if not subscription.confirmed:
                    subscription.confirmed = True
                    log.info("SNS: %s confirmed %s for %s", shown(subscription.url), subscription.arn, topic_arn)
                return subscription.arn
        for lapsed in self._lapsed:
            if lapsed.topic_arn == topic_arn and lapsed.token == wanted:
                return self._restore(lapsed)
        return None

    def _restore(self, lapsed: Subscription) -> str:
        self._lapsed.remove(lapsed)
        topic = self._topics.setdefault(lapsed.topic_arn, {})
        if lapsed.url not in topic:
            topic[lapsed.url] = Subscription(
                lapsed.topic_arn,
                lapsed.url,
                lapsed.arn,
                lapsed.token,
                self._subscriber(lapsed.url),
                lapsed.base_url,
                confirmed=True,
            )
            log.info("SNS: %s restored %s for %s", shown(lapsed.url), lapsed.arn, lapsed.topic_arn)
        return topic[lapsed.url].arn

    async def unsubscribe(self, topic_arn: str, url: str) -> bool:
        subscription = self._topics.get(topic_arn, {}).pop(url, None)
        if subscription is None:
            return False
        await subscription.subscriber.close()
        log.info("SNS: %s unsubscribed from %s", shown(url), topic_arn)
        if subscription.confirmed:
            self._lapsed.append(subscription)
            await self._send_unsubscribe_confirmation(subscription)
        return True

    async def unsubscribe_arn(self, subscription_arn: str) -> bool:
        for topic in self._topics.values():
            for subscription in topic.values():
                if subscription.confirmed and subscription.arn == subscription_arn:
                    return await self.unsubscribe(subscription.topic_arn, subscription.url)
        return False

    async def _send_unsubscribe_confirmation(self, subscription: Subscription) -> None:
        signed = unsubscribe_confirmation(
            subscription.topic_arn, subscription.arn, subscription.token.reveal(), self._subscribe_url(subscription)
        )
        await self.signer.sign(signed)
        request = envelope(signed, subscription.certificate_url, subscription.arn)
        self._tasks.spawn(self._courier.deliver(subscription.url, request, self._tasks))

    @staticmethod
    def _subscribe_url(subscription: Subscription) -> str:
        """ConfirmSubscription on the emulator: in a SubscriptionConfirmation it confirms, in an
        UnsubscribeConfirmation it restores."""
        return subscription.own_url(
            CONFIRM_PATH,
            Action="ConfirmSubscription",
            TopicArn=subscription.topic_arn,
            Token=subscription.token.reveal(),
        )

    # Contacts --------------------------------------------------------------

    async def start(self, contact: Contact, params: dict[str, Any]) -> str:
        """StartContactStreaming: its StreamingId; a retry under the same ClientToken gets the first one again."""
        reply = await self._client_tokens.answer(
            "StartContactStreaming", params, lambda: self._start(contact, params), lambda _: contact.contact_id
        )
        return str(reply["StreamingId"])

    async def _start(self, contact: Contact, params: dict[str, Any]) -> dict[str, Any]:
        topic_arn = params["ChatStreamingConfiguration"]["StreamingEndpointArn"]
        if topic_arn not in self._topics:
            raise ServiceError(
                "InvalidParameterException", f"No streaming endpoint is configured for {topic_arn}", service=CONNECT
            )
        streaming_id = new_id()
        contact.streaming[streaming_id] = topic_arn
        return {"StreamingId": streaming_id}

    def stop(self, contact: Contact, streaming_id: str) -> None:
        if contact.streaming.pop(streaming_id, None) is None:
            raise ServiceError("InvalidParameterException", "Unknown StreamingId", service=CONNECT)

    async def deliver(self, contact: Contact, item: dict[str, Any]) -> None:
        """Signed once per topic (the signature covers nothing per subscriber), then queued for each subscriber."""
        for topic_arn in contact.streaming.values():
            if not any(s.confirmed for s in self._topics.get(topic_arn, {}).values()):
                continue
            signed = notification(topic_arn, item)
            await self.signer.sign(signed)
            attributes = item_attributes(item)
            for subscription in [s for s in self._topics.get(topic_arn, {}).values() if s.confirmed]:
                unsubscribe_url = subscription.own_url(
                    UNSUBSCRIBE_PATH, Action="Unsubscribe", SubscriptionArn=subscription.arn
                )
                request = envelope(
                    signed, subscription.certificate_url, subscription.arn, unsubscribe_url, attributes, contact.contact_id
                )
                subscription.subscriber.notify(request, self._faults.streaming_delivery())

    async def close(self) -> None:
        await self._tasks.cancel()
        for topic in self._topics.values():
            for subscription in topic.values():
                await subscription.subscriber.close()
        await self._courier.close()
