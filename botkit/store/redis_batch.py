"""One Lua script called by many tasks at once, sent in batches on a Redis connection of its own.

Saving after every handled event is the Redis store's hot path. Through redis-py's client each call pays for a
pooled connection, a retry wrapper, a timer per write and per read, and a round trip of its own: about as much
CPU as the rest of handling the event. Here a call made while a batch is in flight waits for the next one, and a
batch is one write, one wake-up and one deadline for all its calls, on a connection no other operation waits for.

A batch that fails (the connection dropped, Redis restarted, no answer within the deadline) fails every call in
it, and each caller retries: the script must be safe to repeat (the save is, under its fencing token). When Redis
does not know the script (a restart emptied its cache), it is loaded and those calls are sent again.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Sequence
from typing import Any

from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

__all__ = ["ScriptBatches"]

_Call = tuple[bytes, "asyncio.Future[Any]"]


class ScriptBatches:
    """`await batches(keys, args)` runs the script as EVALSHA would, its answer or its error raised to the caller.

    A call made while nothing is in flight goes out at once, from its own task (no hand-over to another); calls
    made meanwhile queue, and one task sends the queue as a batch once the connection is free, until none waits.
    `connect` makes the connection (unconnected; it connects on first use and again after a failure); it should
    have no socket timeout of its own, since `timeout` bounds each exchange whole.
    """

    def __init__(self, connect: Callable[[], AbstractConnection], script: str, *, timeout: float) -> None:
        self._connect = connect
        self._script = script
        sha = hashlib.sha1(script.encode()).hexdigest().encode()
        self._head = b"$7\r\nEVALSHA\r\n$%d\r\n%s\r\n" % (len(sha), sha)
        self._timeout = timeout
        self._connection: AbstractConnection | None = None
        self._busy = False
        self._waiting: list[_Call] = []
        self._flusher: asyncio.Task[None] | None = None

    async def __call__(self, keys: Sequence[str], args: Sequence[Any]) -> Any:
        command = self._packed(keys, args)
        if self._busy:
            future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            self._waiting.append((command, future))
            return await future
        self._busy = True
        try:
            (answer,) = await self._attempt([command])
        finally:
            self._next()
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
            self._flusher = None
        self._fail(self._waiting, RedisConnectionError("the store was closed"))
        self._waiting = []
        if self._connection is not None:
            await self._connection.disconnect()

    def _next(self) -> None:
        """The connection is free: the calls that queued meanwhile go next, or it is idle."""
        if self._waiting:
            self._flusher = asyncio.get_running_loop().create_task(self._flush(), name="botkit-redis-batches")
        else:
            self._busy = False

    async def _flush(self) -> None:
        while self._waiting:
            batch, self._waiting = [call for call in self._waiting if not call[1].done()], []
            if not batch:
                continue
            try:
                answers = await self._attempt([command for command, _ in batch])
            except asyncio.CancelledError:
                self._fail(batch, RedisConnectionError("the store was closed"))
                raise
            except Exception as error:
                self._fail(batch, error)
                continue
            for (_, future), answer in zip(batch, answers, strict=True):
                if future.done():  # its caller was cancelled
                    continue
                if isinstance(answer, Exception):
                    future.set_exception(answer)
                else:
                    future.set_result(answer)
        self._busy = False
        self._flusher = None

    async def _attempt(self, commands: list[bytes]) -> list[Any]:
        """The commands' answers, retried as redis-py retries a command (the connection's policy: on a dropped
        connection or a timeout, with backoff), so that a Redis restart is ridden out here as by every other call.
        An exchange cut short leaves replies due on the connection: it is dropped, and the next one starts afresh."""
        if self._connection is None:
            self._connection = self._connect()
        connection = self._connection

        async def start_afresh(error: Exception, failures: int) -> None:
            await connection.disconnect(nowait=True)

        try:
            answers: list[Any] = await connection.retry.call_with_retry(
                lambda: self._exchange(commands), start_afresh, with_failure_count=True
            )
            return answers
        except BaseException:
            await connection.disconnect(nowait=True)
            raise

    async def _exchange(self, commands: list[bytes]) -> list[Any]:
        """The batch's answers, within the deadline; the script loaded first if Redis lost it."""
        try:
            async with asyncio.timeout(self._timeout):
                answers = await self._round_trip(commands)
                unknown = [n for n, answer in enumerate(answers) if isinstance(answer, NoScriptError)]
                if unknown:
                    await self._load_script()
                    again = await self._round_trip([commands[n] for n in unknown])
                    for n, answer in zip(unknown, again, strict=True):
                        answers[n] = answer
                return answers
        except TimeoutError:
            raise RedisTimeoutError(f"Redis did not answer within {self._timeout} s") from None

    def _packed(self, keys: Sequence[str], args: Sequence[str | int]) -> bytes:
        """EVALSHA in the protocol's own form. This is the per-event call, so it is packed here in one go rather
        than argument by argument through redis-py's generic packer (a quarter of the call's CPU)."""
        values = [str(len(keys)).encode(), *(str(value).encode() for value in (*keys, *args))]
        return b"".join(
            [b"*%d\r\n" % (len(values) + 2), self._head, *(b"$%d\r\n%s\r\n" % (len(v), v) for v in values)]
        )

    async def _round_trip(self, commands: list[bytes]) -> list[Any]:
        """The commands in one write, and their answers in order (an error answer in its command's place)."""
        connection = self._connection
        assert connection is not None
        await connection.send_packed_command(commands)
        answers: list[Any] = []
        for _ in commands:
            try:
                answers.append(await connection.read_response())
            except ResponseError as error:
                answers.append(error)
        return answers

    async def _load_script(self) -> None:
        assert self._connection is not None
        await self._connection.send_command("SCRIPT", "LOAD", self._script)
        await self._connection.read_response()

    @staticmethod
    def _fail(batch: list[_Call], error: Exception) -> None:
        for _, future in batch:
            if not future.done():
                future.set_exception(error)
