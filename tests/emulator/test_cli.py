"""`botkit emulator` runs in the foreground, announces its URL at once and stops on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request


def test_emulator_command_prints_url_and_stops_on_sigterm() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "botkit", "emulator", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "0"},
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("emulator: http://127.0.0.1:"), line
        base_url = line.split(" ", 1)[1].strip()
        with urllib.request.urlopen(f"{base_url}/emulator/info", timeout=5) as response:
            info = json.load(response)
        assert set(info) == {"instanceId", "contactFlowId", "region", "endpoint"}
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        process.wait()


def test_invalid_faults_file_is_a_clear_error(tmp_path) -> None:
    faults = tmp_path / "faults.yaml"
    faults.write_text("error_rate: 2\n")
    result = subprocess.run(
        [sys.executable, "-m", "botkit", "emulator", "--port", "0", "--faults", str(faults)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "error_rate must be a number from 0 to 1" in result.stderr


def test_instance_flow_and_region_are_configurable() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "botkit", "emulator", "--port", "0", "--region", "eu-west-2",
         "--instance-id", "my-instance", "--contact-flow-id", "my-flow"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = process.stdout.readline().split(" ", 1)[1].strip()
        with urllib.request.urlopen(f"{base_url}/emulator/info", timeout=5) as response:
            info = json.load(response)
        assert (info["instanceId"], info["contactFlowId"], info["region"]) == ("my-instance", "my-flow", "eu-west-2")
    finally:
        process.terminate()
        process.wait(timeout=10)
