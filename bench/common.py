"""Small shared pieces: percentiles, the machine record, resident memory from /proc, the conversation script."""

from __future__ import annotations

import math
import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"

# A resident's conversation, turn by turn: a greeting, a question for their contact with a postcode, a report
# (a form: the action server validates the area and files the item in the database), thanks and goodbye. Each
# measurement gives each resident this script from the start; a new session starts it again.
SCRIPT: tuple[str, ...] = (
    "hallo",
    "wie is mijn wijkmakelaar?",
    "4911 AB",
    "de lantaarnpaal bij de speeltuin is kapot",
    "4911 AB",
    "bedankt!",
    "wat kun je allemaal?",
    "doei",
)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) with linear interpolation; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary_ms(seconds: Sequence[float]) -> dict[str, Any]:
    """p50, p95, mean, min, max in milliseconds, and the count."""
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": _round(percentile(ms, 50)),
        "p95_ms": _round(percentile(ms, 95)),
        "mean_ms": _round(sum(ms) / len(ms)) if ms else None,
        "min_ms": _round(min(ms)) if ms else None,
        "max_ms": _round(max(ms)) if ms else None,
    }


def ratio(value: float | None, reference: float | None) -> float | None:
    if value is None or reference is None or reference == 0:
        return None
    return round(value / reference, 3)


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


# --- memory -----------------------------------------------------------------------------------------


def _status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children") if Path(f"/proc/{pid}/task").exists() else []:
        try:
            found.extend(int(child) for child in task.read_text().split())
        except (OSError, ValueError):
            continue
    return found


def process_tree(pid: int) -> list[int]:
    """The process and all its descendants (from /proc)."""
    tree, queue = [], [pid]
    while queue:
        current = queue.pop()
        tree.append(current)
        queue.extend(_children(current))
    return tree


def rss_mb(pid: int, *, tree: bool = True) -> dict[str, float]:
    """Resident memory of a process (with its descendants when `tree`) from /proc: now (VmRSS) and the peak of
    each process (VmHWM), in MB."""
    pids = process_tree(pid) if tree else [pid]
    return {
        "rss_mb": round(sum(_status_kb(p, "VmRSS") for p in pids) / 1024, 1),
        "peak_rss_mb": round(sum(_status_kb(p, "VmHWM") for p in pids) / 1024, 1),
        "processes": len(pids),
    }


def cpu_seconds(pid: int | None) -> float | None:
    """CPU time (user + system, all threads) a process has used so far, from /proc/<pid>/stat."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def cpu_ms_per(before: float | None, after: float | None, count: int) -> float | None:
    if before is None or after is None or count <= 0:
        return None
    return round((after - before) * 1000 / count, 2)


# --- the machine --------------------------------------------------------------------------------------


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def rasa_versions() -> dict[str, str | None]:
    """Versions inside .venv-rasa (asked of its own interpreter: Rasa is never imported here)."""
    code = (
        "import json, platform\n"
        "from importlib import metadata\n"
        "def v(n):\n"
        "    try:\n"
        "        return metadata.version(n)\n"
        "    except metadata.PackageNotFoundError:\n"
        "        return None\n"
        "print(json.dumps({'python': platform.python_version(), 'rasa': v('rasa'), 'tensorflow': v('tensorflow'),"
        " 'sqlalchemy': v('SQLAlchemy'), 'sanic': v('sanic')}))\n"
    )
    try:
        out = subprocess.run([str(RASA_PYTHON), "-c", code], capture_output=True, text=True, timeout=60, check=True)
        import json

        return dict(json.loads(out.stdout))
    except (OSError, subprocess.SubprocessError, ValueError):
        return {"python": None, "rasa": None}


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def memory_total_mb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024, 0)
    except (OSError, ValueError):
        pass
    return None


def other_busy_processes() -> list[str]:
    """Rasa servers, training runs and test runs already going on this machine (they make figures noisy)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if any(word in command for word in ("rasa train", "rasa run", "rasa test", "rasa_sdk", "pytest")):
            found.append(command[:120])
    return sorted(found)


def machine() -> dict[str, Any]:
    """What the figures were measured on: CPUs, memory, load, Python and package versions."""
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": cpu_model(),
        "memory_mb": memory_total_mb(),
        "platform": platform.platform(),
        "load_average_at_start": load_average(),
        "other_busy_processes_at_start": other_busy_processes(),
        "app": {
            "python": platform.python_version(),
            "python-telegram-bot": _version("python-telegram-bot"),
            "httpx": _version("httpx"),
            "SQLAlchemy": _version("SQLAlchemy"),
            "rasa-sdk": _version("rasa-sdk"),
            "tornado": _version("tornado"),
        },
        "rasa_env": rasa_versions(),
        "executable": sys.executable,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
