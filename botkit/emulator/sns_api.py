"""The URLs SNS's own messages point at: the signing certificate, SubscribeURL and UnsubscribeURL.

They answer as SNS's query API does (XML), so a bot that confirms a
subscription by fetching its SubscribeURL sees what it would see on AWS.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from aiohttp import web

from botkit.emulator.streaming import CERTIFICATE_PATH, CONFIRM_PATH, UNSUBSCRIBE_PATH, Streaming
from botkit.emulator.wireformat import new_id

_XMLNS = "http://sns.amazonaws.com/doc/2010-03-31/"


class SnsApi:
    def __init__(self, streaming: Streaming) -> None:
        self._streaming = streaming

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(CERTIFICATE_PATH, self.certificate),
            web.get(CONFIRM_PATH, self.confirm_subscription),
            web.get(UNSUBSCRIBE_PATH, self.unsubscribe),
        ]

    async def certificate(self, request: web.Request) -> web.Response:
        pem = await self._streaming.signer.certificate_pem()
        return web.Response(body=pem, content_type="application/x-x509-ca-cert")

    async def confirm_subscription(self, request: web.Request) -> web.Response:
        query = request.query
        if query.get("Action") != "ConfirmSubscription":
            return _error(400, "InvalidAction", "Action must be ConfirmSubscription")
        arn = self._streaming.confirm(query.get("TopicArn", ""), query.get("Token", ""))
        if arn is None:
            return _error(400, "InvalidParameter", "Invalid token")
        return _result("ConfirmSubscription", f"<SubscriptionArn>{escape(arn)}</SubscriptionArn>")

    async def unsubscribe(self, request: web.Request) -> web.Response:
        query = request.query
        if query.get("Action") != "Unsubscribe":
            return _error(400, "InvalidAction", "Action must be Unsubscribe")
        if not await self._streaming.unsubscribe_arn(query.get("SubscriptionArn", "")):
            return _error(404, "NotFound", "Subscription does not exist")
        return _result("Unsubscribe", None)


def _result(action: str, result: str | None) -> web.Response:
    inner = f"<{action}Result>{result}</{action}Result>" if result is not None else ""
    body = (
        f'<{action}Response xmlns="{_XMLNS}">{inner}'
        f"<ResponseMetadata><RequestId>{new_id()}</RequestId></ResponseMetadata></{action}Response>"
    )
    return web.Response(text=body, content_type="text/xml")


def _error(status: int, code: str, message: str) -> web.Response:
    body = (
        f'<ErrorResponse xmlns="{_XMLNS}"><Error><Type>Sender</Type><Code>{code}</Code>'
        f"<Message>{escape(message)}</Message></Error><RequestId>{new_id()}</RequestId></ErrorResponse>"
    )
    return web.Response(status=status, text=body, content_type="text/xml")
