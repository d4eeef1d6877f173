"""Child processes of a benchmark run: start, wait for their ready line, pin, measure, and always stop.

Every child runs in its own session (process group), so stopping it stops
whatever it spawned too; `stop_all` is called from `finally`, from `atexit`
and on SIGTERM, so no emulator or bot outlives the load generator.
"""

from __future__ import annotations

import atexit
import os
import queue
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_RUNNING: list[Proc] = []


class ProcError(RuntimeError):
    """A child did not start or died; the message carries the tail of its stderr."""


def _child_setup(cpus: frozenset[int] | None) -> None:
    """Runs in the child before exec: lift the open-files limit, pin to `cpus`."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if cpus:
        os.sched_setaffinity(0, cpus)


class Proc:
    """One child process that announces readiness with a stdout line starting with `ready_prefix`."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        ready_prefix: str,
        log_dir: Path,
        cpus: Iterable[int] | None = None,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.ready_prefix = ready_prefix
        self.cpus = frozenset(cpus) if cpus else None
        self.env = env
        self.cwd = cwd
        self.stderr_path = log_dir / f"{name}.stderr.log"
        self.popen: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def start(self, timeout: float = 20.0) -> str:
        """Start the child and return the rest of its ready line (e.g. the URL it serves)."""
        self.stderr_path.parent.mkdir(parents=True, exist_ok=True)
        stderr = self.stderr_path.open("w")
        cpus = self.cpus
        try:
            self.popen = subprocess.Popen(
                self.argv,
                stdout=subprocess.PIPE,
                stderr=stderr,
                stdin=subprocess.DEVNULL,
                text=True,
                bufsize=1,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
                preexec_fn=lambda: _child_setup(cpus),  # noqa: PLW1509 (only the limit and affinity calls run there)
            )
        finally:
            stderr.close()
        _RUNNING.append(self)
        threading.Thread(target=self._pump, name=f"{self.name}-stdout", daemon=True).start()
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ProcError(f"{self.name} printed no '{self.ready_prefix}' line within {timeout:.0f} s{self._tail()}")
            try:
                line = self._lines.get(timeout=min(remaining, 0.2))
            except queue.Empty:
                continue
            if line is None:
                raise ProcError(f"{self.name} exited with code {self.popen.wait()} before it was ready{self._tail()}")
            if line.startswith(self.ready_prefix):
                return line[len(self.ready_prefix) :].strip()

    def _pump(self) -> None:
        assert self.popen is not None and self.popen.stdout is not None
        for line in self.popen.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def check_alive(self) -> None:
        if self.popen is not None and self.popen.poll() is not None:
            raise ProcError(f"{self.name} died with code {self.popen.returncode}{self._tail()}")

    def _tail(self, lines: int = 15) -> str:
        try:
            text = self.stderr_path.read_text(errors="replace").strip().splitlines()[-lines:]
        except OSError:
            return ""
        return ("; its stderr ends with:\n    " + "\n    ".join(text)) if text else ""

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM to the child's own process group, SIGKILL after `grace` seconds."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            _signal_group(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                _signal_group(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)
        # Whatever the child left in its group (it should be nothing) goes too.
        _signal_group(self.popen.pid, signal.SIGKILL)
        if self in _RUNNING:
            _RUNNING.remove(self)

    # Measurements ------------------------------------------------------------

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def memory(self) -> dict[str, int]:
        return memory(self.pid)


def _signal_group(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def stop_all() -> None:
    for proc in reversed(list(_RUNNING)):
        try:
            proc.stop()
        except Exception as error:  # noqa: BLE001 (cleanup must go on for the others)
            print(f"warning: could not stop {proc.name}: {error}", file=sys.stderr)


def _on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def install_cleanup() -> None:
    atexit.register(stop_all)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGHUP, _on_sigterm)


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (all its threads), from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def memory(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM (peak RSS) in KiB and the thread count, from /proc/<pid>/status."""
    wanted = {"VmRSS": "rss_kib", "VmHWM": "hwm_kib", "Threads": "threads"}
    found: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in wanted:
                found[wanted[key]] = int(value.split()[0])
    return found


def machine() -> dict[str, object]:
    """What the figures were measured on."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "mem_total_gib": round(mem_kib / 1024 / 1024, 1),
        "loadavg_at_start": os.getloadavg(),
        "python": sys.version.split()[0],
        "kernel": os.uname().release,
    }


def git_revision(repo: Path) -> dict[str, object]:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], check=False, cwd=repo, capture_output=True, text=True, timeout=5
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "botkit"],
            check=False,
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {}
    return {"commit": commit, "botkit_dirty": bool(dirty)}
