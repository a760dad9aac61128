"""Four `wijkbot` commands started at once on a new, empty database all succeed.

A cron job, an administrator and two bot workers can meet on first use: every command migrates and loads the
municipality data first, so those steps must be serialised (PostgreSQL advisory lock, a file lock for SQLite).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from sqlalchemy import func, select

from db import models
from db.session import make_engine, make_sessionmaker

POSTCODES = {"5341AB": "WK082800", "4911AB": "WK082611", "5351AA": "WK082810", "4907AA": "WK082606"}


def test_four_commands_started_at_once_on_a_new_database_all_succeed(database_url: str) -> None:
    env = {
        "DATABASE_URL": database_url,
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONDONTWRITEBYTECODE": "",
    }
    processes = {
        postcode: subprocess.Popen(
            [sys.executable, "-m", "wijkbot.cli", "areas", "resolve", postcode],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for postcode in POSTCODES
    }
    answers = {postcode: process.communicate(timeout=180) for postcode, process in processes.items()}

    for postcode, (stdout, stderr) in answers.items():
        assert processes[postcode].returncode == 0, stderr
        assert [a["code"] for a in json.loads(stdout)["areas"]] == [POSTCODES[postcode]]
    engine = make_engine(database_url)
    with make_sessionmaker(engine)() as session:
        assert session.scalar(select(func.count()).select_from(models.Municipality)) == 2
        assert session.scalar(select(func.count()).select_from(models.Area)) == 37
    engine.dispose()
