"""`botkit`: the command line. Thin: it parses arguments and hands over to the layers below."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from botkit.emulator import Emulator, EmulatorConfig, FaultSpec
from botkit.emulator.faults import FaultSpecError


def _load_faults(path: str) -> FaultSpec:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        return FaultSpec.from_dict(data)
    except OSError as error:
        raise SystemExit(f"botkit: cannot read faults file {path}: {error.strerror}") from None
    except (yaml.YAMLError, FaultSpecError, TypeError) as error:
        raise SystemExit(f"botkit: invalid faults file {path}: {error}") from None


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()


async def _run_emulator(args: argparse.Namespace) -> None:
    config = EmulatorConfig(host=args.host, port=args.port, webhooks=list(args.webhook))
    async with Emulator(config, _load_faults(args.faults) if args.faults else None) as emulator:
        print(f"emulator: {emulator.base_url}", flush=True)
        await _until_signalled()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="botkit", description="Chatbots for Amazon Connect chat.")
    parser.add_argument("--log-level", default="WARNING", help="DEBUG, INFO, WARNING (default) or ERROR")
    commands = parser.add_subparsers(dest="command", required=True)
    emulator = commands.add_parser("emulator", help="run the local Amazon Connect chat emulator in the foreground")
    emulator.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    emulator.add_argument("--port", type=int, default=8765, help="port to bind (default 8765; 0 picks a free one)")
    emulator.add_argument("--faults", metavar="FILE", help="YAML or JSON file of faults to inject")
    emulator.add_argument(
        "--webhook", metavar="URL", action="append", default=[], help="contact-flow webhook (repeatable)"
    )
    emulator.set_defaults(run=_run_emulator)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(args.run(args))
    except KeyboardInterrupt:
        pass
    except OSError as error:
        print(f"botkit: {error}", file=sys.stderr)
        raise SystemExit(1) from None
