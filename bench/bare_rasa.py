"""Part 9, a bare Rasa as the reference for the project's Rasa: what Rasa 3.6 itself costs on this machine.

`rasa init --no-prompt` makes and trains Rasa's own default assistant (its default pipeline and policies, no
action server) in the run's temporary directory; it is served like the project's Rasa (`rasa run`, REST
channel, loopback, token) and gets the same load as the project's Rasa in parts 1 and 2: one resident at a
time (p50 of one turn) and 50 residents at once (turns per second). The project's figures come from the
same run's latency and throughput parts (their "Rasa REST" side), so the ratios compare two Rasas measured
minutes apart on the same machine.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.common import free_port, ratio, summary_ms
from bench.stack import RestClient
from wijkbot.runner import rasa_executable, start_process, stop_process, wait_until_up

# the default assistant's own example conversation (rasa init's data/stories.yml)
SCRIPT = ("hi", "I am sad", "yes", "great, carry on", "thanks", "bye")
IDS = 660_500_000


def make_default_assistant(project: Path) -> float:
    """`rasa init --no-prompt` (which trains the model too); the seconds it took."""
    project.mkdir(parents=True, exist_ok=True)  # rasa init wants the folder to exist
    started = time.monotonic()
    subprocess.run(
        [str(rasa_executable()), "init", "--no-prompt", "--init-dir", str(project)],
        check=True,
        cwd=project.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "RASA_TELEMETRY_ENABLED": "false"},
    )
    return time.monotonic() - started


async def measure(
    workdir: Path, *, residents: int = 50, turns: int = 6, sequential_residents: int = 8, project: dict[str, Any]
) -> dict[str, Any]:
    folder = workdir / "bare-rasa"
    init_seconds = await asyncio.to_thread(make_default_assistant, folder)
    token, port = secrets.token_urlsafe(24), free_port()
    url = f"http://127.0.0.1:{port}"
    args = [str(rasa_executable()), "run", "--enable-api", f"--auth-token={token}", "-i", "127.0.0.1", "-p", str(port)]
    args += ["--model", str(folder / "models")]
    process = start_process("bare-rasa", args, {**os.environ, "RASA_TELEMETRY_ENABLED": "false"})
    client = RestClient(url, token)
    try:
        await asyncio.to_thread(
            wait_until_up, f"{url}/status?token={token}", seconds=240, process=process, name="bare-rasa"
        )
        script = tuple(SCRIPT[i % len(SCRIPT)] for i in range(turns))
        one_at_a_time: list[float] = []
        for text in SCRIPT:
            for resident in range(sequential_residents):
                seconds, replies = await client.turn(IDS + resident, text)
                if replies is not None:
                    one_at_a_time.append(seconds)
        failed = 0

        async def resident(sender: int) -> None:
            nonlocal failed
            for text in script:
                _seconds, replies = await client.turn(sender, text)
                failed += replies is None

        started = time.monotonic()
        await asyncio.gather(*(resident(IDS + 1000 + i) for i in range(residents)))
        elapsed = time.monotonic() - started
    finally:
        await client.client.aclose()
        await asyncio.to_thread(stop_process, process)
    latency = summary_ms(one_at_a_time)
    rate = residents * len(script) / elapsed if elapsed else None
    own_p50 = (project.get("latency") or {}).get("rasa_rest", {}).get("p50_ms")
    own_rate = (project.get("throughput") or {}).get("rasa_rest", {}).get("turns_per_s")
    return {
        "init_and_train_s": round(init_seconds, 1),
        "one_at_a_time": latency,
        "throughput": {"residents": residents, "turns_each": len(script), "turns_per_s": _r(rate), "failed": failed},
        "project_rasa_rest_p50_ms": own_p50,
        "project_rasa_rest_turns_per_s": own_rate,
        "ratio_p50": ratio(own_p50, latency["p50_ms"]),
        "ratio_throughput": ratio(own_rate, rate),
    }


def _r(value: float | None) -> float | None:
    return round(value, 2) if value is not None else None
