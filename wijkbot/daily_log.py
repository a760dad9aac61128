"""Child-process logs that rotate daily and are kept only for the retention period.

Rasa's and the action server's logs can hold what residents typed. `wijkbot run` pipes each child's output
through a DailyLog: `var/logs/<name>.log` is today's file; at the first line of a new day (UTC) it becomes
`<name>.log.<YYYY-MM-DD>` and a new file starts, and rotated files older than the retention period
(`RETENTION_DAYS`, the same as the conversations) are deleted. Every moment comes from the injected clock.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from db.models import utcnow


class DailyLog:
    """Appends bytes to `<directory>/<name>.log`, rotating it when the day changes."""

    def __init__(
        self, directory: Path, name: str, *, retention_days: int, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.directory = directory
        self.name = name
        self.retention = timedelta(days=retention_days)
        self.clock = clock
        self.path = directory / f"{name}.log"
        self._rotated = re.compile(re.escape(self.path.name) + r"\.(\d{4}-\d{2}-\d{2})")
        self._lock = threading.Lock()
        self._file: BinaryIO | None = None
        self._day: date | None = None

    def write(self, data: bytes) -> None:
        """Append `data` to today's file (rotating first when the day changed)."""
        with self._lock:
            now = self.clock()
            if self._file is None or self._day != now.date():
                self._open(now)
            assert self._file is not None
            self._file.write(data)
            self._file.flush()

    def _open(self, now: datetime) -> None:
        if self._file is not None:
            self._file.close()
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            written = datetime.fromtimestamp(self.path.stat().st_mtime, tz=now.tzinfo).date()
            if self._day is not None:
                written = self._day  # the day this writer wrote it; the file time is the machine's clock
            if written != now.date():
                self.path.rename(self.path.with_name(f"{self.path.name}.{written.isoformat()}"))
        self._day = now.date()
        self._file = self.path.open("ab")
        self.expire(now=now)

    def expire(self, *, now: datetime) -> list[Path]:
        """Delete the rotated files of days older than the retention period; returns them."""
        cutoff = now.date() - self.retention
        removed = []
        for path in self.directory.glob(f"{self.path.name}.*"):
            match = self._rotated.fullmatch(path.name)
            if match and date.fromisoformat(match.group(1)) < cutoff:
                path.unlink(missing_ok=True)
                removed.append(path)
        return sorted(removed)

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def pump(stream: BinaryIO, log: DailyLog) -> None:
    """Copy a child's output into `log`, line by line, until the child closes it; then close the log."""
    try:
        for line in iter(stream.readline, b""):
            try:
                log.write(line)
            except OSError:  # e.g. a full disk: the line is lost, but the child must never block on its pipe
                continue
    finally:
        stream.close()
        log.close()
