"""Markdown tables from loadgen results, for docs/performance.md.

    .venv/bin/python benchmarks/report.py benchmarks/results/idle-*.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen import _fmt, ratio_lines, rows_for


def markdown(report: dict) -> str:
    scenario = "steady" if report["scenario"] == "plugins" else report["scenario"]
    runs = report["runs"]
    keys: list[str] = []
    for run in runs:
        for key, _ in rows_for(run, scenario):
            if key not in keys:
                keys.append(key)
    columns = [dict(rows_for(run, scenario)) for run in runs]
    machine = report.get("machine", {})
    revision = report.get("revision", {})
    command = " ".join(Path(a).name if i == 0 else a for i, a in enumerate(report["argv"]))
    dirty = " (+ uncommitted changes)" if revision.get("botkit_dirty") else ""
    load = machine.get("loadavg_at_start", [0.0])[0]
    heading = f"`{command}` — {report['started']}, botkit {revision.get('commit', '?')}{dirty}, load average at start {load:.1f}"
    lines = [
        heading,
        "",
        "| | " + " | ".join(run["label"] for run in runs) + " |",
        "|---|" + "---:|" * len(runs),
    ]
    for key in keys:
        if all(col.get(key) is None for col in columns):
            continue
        lines.append(f"| {key} | " + " | ".join(_fmt(col.get(key)) for col in columns) + " |")
    ratios = ratio_lines(runs, scenario)
    if ratios:
        lines.append("")
        lines.extend(f"- {line}" for line in ratios)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", nargs="+", type=Path)
    args = parser.parse_args()
    for path in args.results:
        report = json.loads(path.read_text())
        if "runs" not in report:
            continue
        print(markdown(report))
        print()


if __name__ == "__main__":
    main()
