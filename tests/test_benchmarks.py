"""The load generator's own bookkeeping: the figures it reports are only as good as its matching of replies."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

LOADGEN = Path(__file__).resolve().parent.parent / "benchmarks" / "loadgen.py"
sys.path.insert(0, str(LOADGEN.parent))

from loadgen import main, parser, percentiles, replies_by_phase  # noqa: E402


def item(role: str, content: str, at: str) -> dict[str, Any]:
    return {"Type": "MESSAGE", "ParticipantRole": role, "Content": content, "AbsoluteTime": f"2026-11-23T20:00:{at}Z"}


def test_replies_are_matched_to_messages_and_missing_and_duplicate_ones_are_counted() -> None:
    transcripts = {
        "contact-a": [
            item("CUSTOMER", "r0.0.0", "00.000"),
            item("CUSTOM_BOT", "echo: r0.0.0", "00.004"),
            item("CUSTOMER", "r0.0.1", "01.000"),
            item("CUSTOM_BOT", "echo: r0.0.1", "01.010"),
            item("CUSTOM_BOT", "echo: r0.0.1", "01.020"),
            item("CUSTOMER", "r1.0.2", "02.000"),
        ],
        "contact-b": [
            item("CUSTOMER", "r1.1.3", "03.000"),
            item("CUSTOM_BOT", "echo: r1.1.3", "03.007"),
            {"Type": "EVENT", "ContentType": "application/vnd.amazonaws.connect.event.typing", "AbsoluteTime": "2026-11-23T20:00:03.001Z"},
        ],
    }

    phases = replies_by_phase(transcripts)

    assert phases["r0"]["latencies"] == [4, 10]  # the first reply counts for latency
    assert phases["r0"]["duplicates"] == 1 and phases["r0"]["missing"] == 0
    assert phases["r1"]["latencies"] == [7]
    assert phases["r1"]["missing"] == 1 and phases["r1"]["duplicates"] == 0


def test_percentiles_are_nearest_rank() -> None:
    figures = percentiles(list(range(1, 101)))
    assert (figures["p50"], figures["p95"], figures["p99"], figures["max"], figures["n"]) == (50, 95, 99, 100, 100)
    assert percentiles([])["p99"] is None


def test_the_transport_option_takes_streaming_and_refuses_a_socket_storm_on_it() -> None:
    args = parser().parse_args(["steady", "--transport", "websocket,streaming", "--sns-key-size", "1024"])
    assert (args.transport, args.sns_key_size) == (["websocket", "streaming"], 1024)
    assert parser().parse_args(["idle"]).transport == ["websocket"]
    with pytest.raises(SystemExit, match="holds none"):
        main(["storm", "--transport", "streaming"])


def test_a_tiny_steady_run_on_streaming_answers_every_message(tmp_path: Path) -> None:
    """Real emulator and `botkit serve` processes on 127.0.0.1, as every benchmark run; a few seconds."""
    out = tmp_path / "steady.json"
    finished = subprocess.run(
        [
            sys.executable, str(LOADGEN), "steady", "-n", "3", "--rate", "3", "--duration", "1",
            "--transport", "streaming", "--sns-key-size", "1024", "--probes", "1", "--pin", "none",
            "--max-seconds", "60", "--out", str(out),
        ],
        capture_output=True, text=True, timeout=90,
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    (run,) = json.loads(out.read_text())["runs"]
    (phase,) = run["phases"]
    assert (run["transport"], run["sns_key_size"], run["sessions"]) == ("streaming", 1024, 3)
    assert (phase["sent"], phase["replies"], phase["missing_replies"], phase["duplicate_replies"]) == (3, 3, 0, 0)
    assert run["errors"]["start"] == run["errors"]["send"] == 0
