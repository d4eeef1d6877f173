"""Charts from loadgen results: reply latency against load, bot memory against sessions.

    .venv/bin/python benchmarks/plot.py benchmarks/results/steady-*.json benchmarks/results/idle-*.json \
        --out docs/performance

Writes <out>-latency.png (from steady/plugins results: p50 and p99 against the
offered rate, one line per bot) and <out>-memory.png (from idle results: bot RSS
against open sessions). Needs matplotlib (`pip install -e '.[bench]'`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:  # pragma: no cover - optional
    raise SystemExit("plot.py needs matplotlib: .venv/bin/pip install matplotlib (or pip install -e '.[bench]')") from None


def load(paths: list[Path]) -> list[dict[str, Any]]:
    reports = []
    for path in paths:
        try:
            reports.append(json.loads(path.read_text()))
        except (OSError, ValueError) as error:
            raise SystemExit(f"plot.py: cannot read {path}: {error}") from None
    return reports


def latency_chart(reports: list[dict[str, Any]], out: Path) -> bool:
    series: dict[str, list[tuple[float, float, float]]] = {}
    for report in reports:
        if report.get("scenario") not in ("steady", "plugins"):
            continue
        for run in report["runs"]:
            label = f"{run['label']} (N={run.get('sessions')})"
            for phase in run.get("phases") or []:
                lat = phase.get("latency_ms") or {}
                if lat.get("p99") is None:
                    continue
                series.setdefault(label, []).append((phase["offered_per_second"], lat["p50"], lat["p99"]))
    if not series:
        return False
    figure, axis = plt.subplots(figsize=(7, 4.5))
    for label, points in sorted(series.items()):
        points.sort()
        xs = [p[0] for p in points]
        line = axis.plot(xs, [p[2] for p in points], marker="o", label=f"{label} p99")[0]
        axis.plot(xs, [p[1] for p in points], marker=".", linestyle="--", color=line.get_color(), label=f"{label} p50")
    axis.set_xlabel("offered load (messages/s, all customers)")
    axis.set_ylabel("reply latency (ms, service timestamps)")
    axis.set_yscale("log")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=7)
    axis.set_title("Reply latency against load")
    figure.tight_layout()
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return True


def memory_chart(reports: list[dict[str, Any]], out: Path) -> bool:
    series: dict[str, list[tuple[int, float]]] = {}
    for report in reports:
        if report.get("scenario") != "idle":
            continue
        for run in report["runs"]:
            for point in run.get("memory_points") or []:
                label = f"{run['label']} (N={run.get('sessions')})"
                series.setdefault(label, []).append((point["sessions"], point["rss_kib"] / 1024))
    if not series:
        return False
    figure, axis = plt.subplots(figsize=(7, 4.5))
    for label, points in sorted(series.items()):
        points.sort()
        axis.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label)
    axis.set_xlabel("open idle sessions")
    axis.set_ylabel("bot RSS (MiB)")
    axis.grid(True, alpha=0.3)
    axis.legend(fontsize=8)
    axis.set_title("Bot memory against sessions")
    figure.tight_layout()
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", nargs="+", type=Path, help="loadgen JSON files")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/chart"), help="prefix of the PNG files")
    args = parser.parse_args()
    reports = load(args.results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    wrote = []
    for name, chart in (("latency", latency_chart), ("memory", memory_chart)):
        path = args.out.with_name(f"{args.out.name}-{name}.png")
        if chart(reports, path):
            wrote.append(str(path))
    print("wrote " + (", ".join(wrote) if wrote else "nothing: no steady or idle results given"))


if __name__ == "__main__":
    main()
