"""The usual first bot: boto3 clients and one thread (and one blocking websocket) per contact.

    python benchmarks/baselines/threaded_bot.py --endpoint http://127.0.0.1:PORT [--prefix "echo: "]

A ThreadingHTTPServer takes the contact-flow webhook; each contact gets a thread that
calls `connect.create_participant` (CUSTOM_BOT) and `connectparticipant.create_participant_connection`
(boto3 with endpoint_url), opens a `websockets.sync` socket, subscribes, heartbeats every
10 s, and answers every customer MESSAGE with `connectparticipant.send_message`.

The boto3 clients are shared by all threads (they are thread-safe) with a connection pool
as large as `--pool`, which is kinder to this baseline than a client per thread.
`websockets.sync` itself runs one background reader thread per connection, so a contact
costs two threads. Prints `bot: <url>` when ready.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
from botocore import UNSIGNED
from botocore.config import Config
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

SUBSCRIBE = json.dumps({"topic": "aws/subscribe", "content": {"topics": ["aws/chat"]}})
HEARTBEAT = json.dumps({"topic": "aws/heartbeat"})
CHAT_ENDED = "application/vnd.amazonaws.connect.event.chat.ended"


class ThreadedBot:
    def __init__(self, endpoint: str, prefix: str, heartbeat: float, pool: int) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.prefix = prefix
        self.heartbeat = heartbeat
        with urllib.request.urlopen(self.endpoint + "/emulator/info", timeout=10) as answer:
            info = json.load(answer)
        self.instance_id = info["instanceId"]
        retries = {"max_attempts": 3, "mode": "standard"}
        self.connect = boto3.client(
            "connect",
            endpoint_url=self.endpoint,
            region_name=info["region"],
            aws_access_key_id="benchmark",
            aws_secret_access_key="benchmark",
            config=Config(max_pool_connections=pool, retries=retries),
        )
        self.participant = boto3.client(
            "connectparticipant",
            endpoint_url=self.endpoint,
            region_name=info["region"],
            config=Config(signature_version=UNSIGNED, max_pool_connections=pool, retries=retries),
        )

    def run_contact(self, contact_id: str) -> None:
        try:
            joined = self.connect.create_participant(
                InstanceId=self.instance_id,
                ContactId=contact_id,
                ParticipantDetails={"ParticipantRole": "CUSTOM_BOT", "DisplayName": "Bot"},
            )
            connection = self.participant.create_participant_connection(
                ParticipantToken=joined["ParticipantCredentials"]["ParticipantToken"],
                Type=["WEBSOCKET", "CONNECTION_CREDENTIALS"],
                ConnectParticipant=True,
            )
            token = connection["ConnectionCredentials"]["ConnectionToken"]
            with connect(
                connection["Websocket"]["Url"], compression=None, ping_interval=None, user_agent_header=None
            ) as ws:
                ws.send(SUBSCRIBE)
                next_beat = 0.0
                while True:
                    now = time.monotonic()
                    if now >= next_beat:
                        ws.send(HEARTBEAT)
                        next_beat = now + self.heartbeat
                    try:
                        raw = ws.recv(timeout=next_beat - now if next_beat > now else 0)
                    except TimeoutError:
                        continue
                    frame = json.loads(raw)
                    if frame.get("topic") != "aws/chat":
                        continue
                    item = json.loads(frame["content"])
                    if item.get("Type") == "MESSAGE" and item.get("ParticipantRole") == "CUSTOMER":
                        self.participant.send_message(
                            ConnectionToken=token, ContentType="text/plain", Content=self.prefix + item.get("Content", "")
                        )
                    elif item.get("ContentType") == CHAT_ENDED:
                        return
        except ConnectionClosed:
            return
        except Exception as error:  # noqa: BLE001 (one contact's failure must not take the others down)
            print(f"contact {contact_id}: {type(error).__name__}: {error}", file=sys.stderr, flush=True)


def serve(bot: ThreadedBot) -> None:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            event = json.loads(self.rfile.read(length) or b"{}")
            contact_id = event["Details"]["ContactData"]["ContactId"]
            threading.Thread(target=bot.run_contact, args=(contact_id,), name=f"contact-{contact_id[:8]}", daemon=True).start()
            body = b"{}"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

    ThreadingHTTPServer.request_queue_size = 1024
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    url = f"http://127.0.0.1:{server.server_address[1]}"
    request = urllib.request.Request(
        bot.endpoint + "/emulator/webhooks",
        data=json.dumps({"Url": url + "/contact-flow"}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10):
        pass

    def stop(signum: int, frame: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"bot: {url}", flush=True)
    server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", required=True, help="the emulator, http://127.0.0.1:PORT")
    parser.add_argument("--prefix", default="echo: ")
    parser.add_argument("--heartbeat", type=float, default=10.0, help="seconds between heartbeats (default 10)")
    parser.add_argument("--pool", type=int, default=100, help="HTTP connections per boto3 client (default 100)")
    args = parser.parse_args()
    serve(ThreadedBot(args.endpoint, args.prefix, args.heartbeat, args.pool))


if __name__ == "__main__":
    main()
