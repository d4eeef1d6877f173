"""`botkit`: the command line. Thin: it parses arguments and hands over to the layers below."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib.metadata
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from botkit.bot import BotProcess, StartupError
from botkit.chat import ChatLost, run_chat
from botkit.config import BotConfig, ConfigError, load_config, plugin_settings
from botkit.config.reference import json_schema_text, markdown
from botkit.connect.errors import ParticipantConnectionError, ParticipantServiceError
from botkit.connect.websocket import SocketFailure
from botkit.emulator import Emulator, EmulatorConfig, FaultSpec
from botkit.emulator.faults import FaultSpecError, load_fault_file
from botkit.emulator.sigv4 import SigV4Key
from botkit.logs import configure_logging
from botkit.plugins import PluginLoadError, config_models, hooks_of, load_plugins, new_plugin_manager
from botkit.reload import Reloader
from botkit.scaffold import DISTRIBUTION, ScaffoldError, new_project
from botkit.status import status_lines
from botkit.store import open_store

log = logging.getLogger(__name__)

HANDLER_THREAD_PREFIX = "botkit-handler"
IDLE_THREADS_EXIT_SECONDS = 0.5


def _load_faults(path: str) -> FaultSpec:
    try:
        return load_fault_file(path)
    except FaultSpecError as error:
        raise SystemExit(f"botkit: {error}") from None


def _sigv4_key(text: str) -> SigV4Key:
    """argparse would echo a plain ValueError's argument, the secret included; this message never holds it."""
    try:
        return SigV4Key.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


async def _until_signalled() -> None:
    """Until SIGINT or SIGTERM; the handlers stay, so a second signal does not interrupt the shutdown."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    received: list[str] = []

    def signalled(signum: signal.Signals) -> None:
        if stop.is_set():
            log.warning("%s: already shutting down", signum.name)
            return
        received.append(signum.name)
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, signalled, signum)
    await stop.wait()
    log.info("%s: shutting down", received[0])


async def _run_emulator(args: argparse.Namespace) -> None:
    config = EmulatorConfig(
        host=args.host,
        port=args.port,
        webhooks=list(args.webhook),
        region=args.region,
        instance_id=args.instance_id,
        contact_flow_id=args.contact_flow_id,
        websocket_idle_timeout=args.idle_timeout,
        sigv4=args.sigv4,
        sns_key_size=args.sns_key_size,
        sns_signature_version=args.sns_signature_version,
    )
    async with Emulator(config, _load_faults(args.faults) if args.faults else None) as emulator:
        print(f"emulator: {emulator.base_url}", flush=True)
        print(f"chat: {emulator.chat_url}\nagent: {emulator.agent_url}", flush=True)
        _freeze_startup_objects()
        await _until_signalled()


def _freeze_startup_objects() -> None:
    """Leave what start-up built (modules, botocore's service models, plugins) out of every later collection.

    They live as long as the process; scanning them again in each full collection only pauses the loop.
    """
    gc.collect()
    gc.freeze()


def _set_young_collection_threshold(allocations: int) -> None:
    """`runtime.gc_threshold`: Python's 700 makes a bot holding many chats collect every few messages,
    and each older-generation pass walks every session; 10,000 cut the p99 at 800 msg/s from
    100-130 ms to 17-20 ms (docs/performance.md). 0 turns automatic collection off.
    """
    gc.set_threshold(allocations, *gc.get_threshold()[1:])


def _load_bot_config(path: str) -> BotConfig:
    try:
        return load_config(path)
    except ConfigError as error:
        raise SystemExit(f"botkit: {error}") from None
    except OSError as error:
        raise SystemExit(f"botkit: cannot read {path}: {error.strerror}") from None


async def _run_serve(args: argparse.Namespace) -> None:
    config = args.loaded_config
    configure_logging(
        config.logging.level if args.log_level is None else args.log_level,
        config.logging.format,
        debug_libraries=config.logging.debug_libraries,
    )
    try:
        async with BotProcess(config) as bot:
            if bot.emulator is not None:
                print(f"emulator: {bot.emulator.base_url}", flush=True)
                print(f"chat: {bot.emulator.chat_url}\nagent: {bot.emulator.agent_url}", flush=True)
            print(f"bot: {bot.server_url} (plugins: {', '.join(bot.plugin_names) or 'none'})", flush=True)
            _freeze_startup_objects()
            _set_young_collection_threshold(config.runtime.gc_threshold)
            async with Reloader(bot, args.config) if args.reload else contextlib.nullcontext():
                await _until_signalled()
            log.info(
                "new contacts refused; running handlers get %s s, then every session %s",
                config.runtime.shutdown_grace_seconds,
                "ends and leaves its chat" if config.on_shutdown == "disconnect" else "is left for another worker",
            )
    except (StartupError, PluginLoadError, FaultSpecError, ConfigError) as error:
        raise SystemExit(f"botkit: {error}") from None


def _without_userinfo(url: str) -> str:
    """A URL as `check` prints it: credentials written into it (user:password@) are not shown."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else "")))


async def _run_status(args: argparse.Namespace) -> None:
    config = _load_bot_config(args.config)
    if config.store.kind == "memory":
        raise SystemExit("botkit: store is memory: each process keeps its own sessions; there is nothing to list")
    store = open_store(config.store, base_dir=config.base_dir)
    try:
        for line in await status_lines(store, config.store):
            print(line)
    except Exception as error:
        raise SystemExit(f"botkit: the store cannot be read: {type(error).__name__}: {error}") from None
    finally:
        await store.close()


async def _run_check(args: argparse.Namespace) -> None:
    config = _load_bot_config(args.config)
    manager = new_plugin_manager()
    try:
        names = load_plugins(manager, config.plugins, config.base_dir)
        plugin_settings(config, config_models(manager))
    except (PluginLoadError, ConfigError) as error:
        raise SystemExit(f"botkit: {error}") from None
    print(f"{args.config}: ok")
    print(f"endpoint: {_without_userinfo(config.connect.endpoint)}")
    print(f"intake: {'signed (intake.secret is set)' if config.intake.secret else 'unsigned'}")
    print("plugins:" + ("" if names else " none"))
    for name in names:
        print(f"  {name}")
    print("hooks:")
    for hook, implementers in hooks_of(manager).items():
        print(f"  {hook}: {', '.join(implementers) if implementers else '-'}")


async def _run_schema(args: argparse.Namespace) -> None:
    sys.stdout.write(markdown() if args.markdown else json_schema_text())


async def _run_chat(args: argparse.Namespace) -> None:
    """Ctrl-C and SIGTERM leave the contact before exiting; a lost emulator is one line on stderr, status 1."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await run_chat(args.endpoint.rstrip("/"), args.name, stop=stop, attributes=dict(args.attribute) or None)
    except ChatLost as error:
        raise SystemExit(f"botkit: {error}") from None
    except (aiohttp.ClientError, SocketFailure, ParticipantConnectionError, ParticipantServiceError, TimeoutError) as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        raise SystemExit(f"botkit: cannot chat on {args.endpoint}: {reason}") from None
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


async def _run_new(args: argparse.Namespace) -> None:
    try:
        project = new_project(args.name, Path.cwd())
    except ScaffoldError as error:
        raise SystemExit(f"botkit: {error}") from None
    print(f"created {project}; next:")
    print(f"  cd {args.name} && pip install -e . && pytest   # install it and run its tests")
    print("  botkit serve bot.yaml   # run the bot; then `botkit chat` in another terminal is the customer")


def _event_loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """`runtime.event_loop: uvloop` in bot.yaml; the extra `connect-botkit[uvloop]` installs it."""
    if name != "uvloop":
        return None
    try:
        import uvloop
    except ImportError:
        raise SystemExit("botkit: runtime.event_loop is uvloop, but uvloop is not installed "
                         "(pip install 'connect-botkit[uvloop]')") from None
    return uvloop.new_event_loop


def _attribute(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not name or not equals:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, not {text!r}")
    return name, value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="botkit", description="Chatbots for Amazon Connect chat.")
    parser.add_argument("--version", action="version", version=f"botkit {importlib.metadata.version(DISTRIBUTION)}")
    parser.add_argument(
        "--log-level",
        default=None,
        help="DEBUG, INFO, WARNING or ERROR (overrides bot.yaml); DEBUG leaves botocore, urllib3, websockets and"
        " aiohttp.access at INFO unless logging.debug_libraries is true or BOTKIT_DEBUG_LIBRARIES=1",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    defaults = EmulatorConfig()
    emulator = _command(commands, "emulator", "run the local Amazon Connect chat emulator")
    emulator.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    emulator.add_argument("--port", type=int, default=8765, help="port to bind (default 8765; 0 picks a free one)")
    emulator.add_argument("--faults", metavar="FILE", help="YAML or JSON file of faults to inject")
    emulator.add_argument(
        "--webhook", metavar="URL", action="append", default=[], help="contact-flow webhook (repeatable)"
    )
    emulator.add_argument("--region", default=defaults.region, help=f"(default {defaults.region})")
    emulator.add_argument("--instance-id", default=defaults.instance_id, help="the one instance's id (stable default)")
    emulator.add_argument("--contact-flow-id", default=defaults.contact_flow_id, help="the one flow's id (stable default)")
    emulator.add_argument(
        "--idle-timeout", type=float, default=defaults.websocket_idle_timeout, help="seconds before a silent socket closes"
    )
    emulator.add_argument(
        "--sigv4",
        metavar="ACCESS_KEY_ID:SECRET",
        type=_sigv4_key,
        help="check every connect call's SigV4 signature against this key (default: accept any signature)",
    )
    emulator.add_argument(
        "--event-loop", choices=("asyncio", "uvloop"), default="asyncio", help="uvloop needs connect-botkit[uvloop]"
    )
    emulator.add_argument(
        "--sns-key-size",
        type=int,
        default=defaults.sns_key_size,
        metavar="BITS",
        help=f"RSA key that signs SNS messages (default {defaults.sns_key_size}; signing is the emulator's heaviest work)",
    )
    emulator.add_argument(
        "--sns-signature-version",
        choices=("1", "2"),
        default=defaults.sns_signature_version,
        help=f"SNS SignatureVersion: 1 (SHA1) or 2 (SHA256) (default {defaults.sns_signature_version})",
    )
    emulator.set_defaults(run=_run_emulator)
    serve = _command(commands, "serve", "run a bot on its Amazon Connect or emulator")
    serve.add_argument("config", metavar="bot.yaml")
    serve.add_argument(
        "--reload", action="store_true", help="reload the plugins when their files or bot.yaml change, keeping live chats"
    )
    serve.set_defaults(run=_run_serve)
    check = _command(commands, "check", "validate a bot.yaml; list its plugins and hooks")
    check.add_argument("config", metavar="bot.yaml")
    check.set_defaults(run=_run_check)
    status = _command(commands, "status", "list live workers, their contacts, orphans")
    status.add_argument("config", metavar="bot.yaml")
    status.set_defaults(run=_run_status)
    schema = _command(commands, "schema", "print the JSON Schema of bot.yaml, for editors")
    schema.add_argument(
        "--markdown", action="store_true", help="print the configuration reference (docs/configuration.md) instead"
    )
    schema.set_defaults(run=_run_schema)
    chat = _command(commands, "chat", "chat with a bot as a customer, in the terminal")
    chat.add_argument("--endpoint", default="http://127.0.0.1:8765", help="the emulator (default http://127.0.0.1:8765)")
    chat.add_argument("--name", default="Customer", help="your display name")
    chat.add_argument(
        "--attribute", action="append", default=[], type=_attribute, metavar="NAME=VALUE",
        help="a contact attribute to start the chat with, such as language=fr (repeatable)",
    )
    chat.set_defaults(run=_run_chat)
    new = _command(commands, "new", "make a bot project in ./NAME, ready to test")
    new.add_argument("name", metavar="NAME", help="the project's folder and distribution name, e.g. my-bot")
    new.set_defaults(run=_run_new)
    return parser


def _command(commands: argparse._SubParsersAction, name: str, summary: str) -> argparse.ArgumentParser:
    """A subcommand whose one-line summary shows both in `botkit --help` and atop its own --help."""
    return commands.add_parser(name, help=summary, description=summary[0].upper() + summary[1:] + ".")


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    configure_logging(args.log_level or "WARNING", "text")
    loop_factory = None
    if args.command == "serve":
        args.loaded_config = _load_bot_config(args.config)
        loop_factory = _event_loop_factory(args.loaded_config.runtime.event_loop)
    elif args.command == "emulator":
        loop_factory = _event_loop_factory(args.event_loop)
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(args.run(args))
    except KeyboardInterrupt:
        pass
    except OSError as error:
        print(f"botkit: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    if args.command == "serve":
        _exit_past_stuck_handlers()


def _exit_past_stuck_handlers() -> None:
    """A plain-function handler still running after the shutdown grace cannot be stopped, and Python would wait
    for its thread before exiting; the sessions are over, so the process exits without it (status 0)."""
    deadline = time.monotonic() + IDLE_THREADS_EXIT_SECONDS
    for thread in threading.enumerate():
        if thread.name.startswith(HANDLER_THREAD_PREFIX):
            thread.join(max(0.0, deadline - time.monotonic()))  # idle pool threads exit at once
    stuck = [t for t in threading.enumerate() if t.name.startswith(HANDLER_THREAD_PREFIX) and t.is_alive()]
    if not stuck:
        return
    log.warning("%d handler thread(s) still running after the shutdown: exiting without them", len(stuck))
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
