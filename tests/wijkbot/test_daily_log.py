"""Child-process logs (Rasa's can hold what residents typed) rotate daily and are kept only RETENTION_DAYS
(issue 16, item 12c). The clock is injected: no sleeps."""

from __future__ import annotations

import io
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from wijkbot import runner
from wijkbot.daily_log import DailyLog, pump

DAY = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def test_the_log_rotates_at_a_new_day_and_keeps_only_the_retention_period(tmp_path: Path) -> None:
    now = [DAY]
    log = DailyLog(tmp_path, "rasa", retention_days=2, clock=lambda: now[0])
    for day in range(5):
        now[0] = DAY + timedelta(days=day)
        log.write(f"inwoner schreef iets op dag {day}\n".encode())
        log.write(f"en nog iets op dag {day}\n".encode())
    log.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rasa.log", "rasa.log.2026-11-26", "rasa.log.2026-11-27"]
    assert (tmp_path / "rasa.log").read_text() == "inwoner schreef iets op dag 4\nen nog iets op dag 4\n"
    assert "dag 3" in (tmp_path / "rasa.log.2026-11-27").read_text()


def test_a_child_s_output_is_pumped_into_its_daily_log(tmp_path: Path) -> None:
    log = DailyLog(tmp_path, "actions", retention_days=90, clock=lambda: DAY)
    pump(io.BytesIO(b"eerste regel\ntweede regel\n"), log)
    assert (tmp_path / "actions.log").read_bytes() == b"eerste regel\ntweede regel\n"


def test_the_runner_pipes_a_child_into_a_log_that_rotates(tmp_path: Path) -> None:
    now = [DAY - timedelta(days=10)]
    old = DailyLog(tmp_path, "rasa", retention_days=3, clock=lambda: now[0])
    old.write(b"oud\n")  # a log from ten days ago, rotated and then expired by the next day's first line
    now[0] = DAY - timedelta(days=9)
    old.write(b"ook oud\n")
    old.close()
    written = (DAY - timedelta(days=9)).timestamp()
    os.utime(tmp_path / "rasa.log", (written, written))  # a new writer names the file it finds by its time
    now[0] = DAY
    args = [sys.executable, "-c", "print('hallo uit rasa', flush=True)"]
    process = runner.start_process("rasa", args, {}, retention_days=3, logs=tmp_path, clock=lambda: now[0])
    process.wait(timeout=30)
    runner.stop_process(process)  # waits until the output is in the log
    assert (tmp_path / "rasa.log").read_text() == "hallo uit rasa\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rasa.log"]
