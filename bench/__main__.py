"""`make bench` / `python -m bench`: every part in one go, in a temporary directory, then the report.

Order: a cold training run of the NLU model (before any server, so nothing competes with it), start-up (from
nothing to the first answer), memory, understanding, turn latency, throughput, long-lived residents, and last
the broadcast (it floods the database and the sender). Everything started is stopped at the end, also after an error or
Ctrl-C. Exit status 0 however slow the machine is; 1 only when a part could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from bench import (
    bare_rasa,
    broadcast,
    channels,
    filing,
    first_messages,
    latency,
    longlived,
    replicas,
    startup,
    throughput,
    understanding,
)
from bench.common import SCRIPT, load_average, machine, rss_mb
from bench.report import RESULTS, write
from bench.stack import Stack, bench_settings
from devtools.fake_telegram import start_fake_telegram

PARTS = (
    "training",
    "understanding",
    "first_messages",
    "latency",
    "throughput",
    "longlived",
    "filing",
    "broadcast",
    "replicas",
    "bare_rasa",
    "channels",
)


def say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


class Run:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.results: dict[str, Any] = {"machine": machine(), "config": {}, "parts": {}, "errors": {}}
        self.wanted = set(args.parts.split(",")) if args.parts else set(PARTS)
        if args.skip_train:
            args.train = "none"
        if args.train == "none":
            self.wanted.discard("training")

    async def part(self, name: str, work: Awaitable[Any]) -> bool:
        started = time.monotonic()
        say(f"{name} ...")
        try:
            self.results["parts"][name] = await work
        except Exception:
            self.results["errors"][name] = traceback.format_exc()
            say(f"{name} FAILED:\n{self.results['errors'][name]}")
            return False
        say(f"{name} done in {time.monotonic() - started:.0f} s")
        return True

    async def main(self) -> dict[str, Any]:
        quick = self.args.quick
        sizes = {
            "latency_residents": 3 if quick else 8,
            "first_messages_per_label": 25 if quick else 150,
            "script": list(SCRIPT),
            "throughput_residents": 10 if quick else 50,
            "throughput_turns": 3 if quick else 6,
            "longlived_history": 40 if quick else 300,
            "filing_residents": 5 if quick else 20,
            "drill_residents": 3 if quick else 5,
            "longlived_measured": 6 if quick else 30,
            "broadcast_subscribers": 1000 if quick else 10_000,
            "broadcast_limited_window_s": 5.0 if quick else 20.0,
            "channel_rows": 300 if quick else 2000,
        }
        self.results["config"] = {**sizes, "quick": quick, "train": self.args.train, "database": "SQLite (temporary)"}
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="wijkbot-bench-") as tmp:
            workdir = Path(tmp)
            if "training" in self.wanted:
                full = self.args.train == "full"
                await self.part("training", asyncio.to_thread(understanding.training_time, workdir, full=full))
            if "channels" in self.wanted:  # needs no Rasa: before the stack, with the machine to itself
                await self.part("channels", channels.measure(workdir / "channels", rows=sizes["channel_rows"]))
            fake = start_fake_telegram()
            stack = Stack(workdir, fake, bench_settings(workdir, fake))
            try:
                await self.run_parts(stack, sizes)
            finally:
                say("stopping the bot, Rasa and the action server ...")
                await stack.stop()
                fake.stop()
        self.results["machine"]["load_average_at_end"] = load_average()
        self.results["total_seconds"] = round(time.monotonic() - started, 1)
        return self.results

    async def run_parts(self, stack: Stack, sizes: dict[str, Any]) -> None:
        if not await self.part("startup", startup.measure(stack)) or stack.bot_process is None:
            return
        memory: dict[str, Any] = {}
        self.results["parts"]["memory"] = memory
        if stack.rasa_pid is not None:
            memory["rasa_after_start"] = rss_mb(stack.rasa_pid)
        if "understanding" in self.wanted:
            await self.part("understanding", understanding.evaluate(stack.rasa.parse))
            if self.args.outside is not None and "understanding" in self.results["parts"]:
                await self.part("outside", understanding.evaluate_outside(stack.rasa.parse, self.args.outside))
        if "first_messages" in self.wanted and self.args.outside is not None:
            await self.part(
                "first_messages",
                first_messages.measure(stack, self.args.outside, per_label=sizes["first_messages_per_label"]),
            )
        if "latency" in self.wanted:
            await self.part("latency", latency.measure(stack, residents=sizes["latency_residents"]))
        if "throughput" in self.wanted:
            await self.part(
                "throughput",
                throughput.measure(
                    stack, residents=sizes["throughput_residents"], script=SCRIPT[: sizes["throughput_turns"]]
                ),
            )
        if "longlived" in self.wanted:
            await self.part(
                "longlived",
                longlived.measure(
                    stack, history_turns=sizes["longlived_history"], measured_turns=sizes["longlived_measured"]
                ),
            )
        if "filing" in self.wanted:
            await self.part(
                "filing",
                filing.measure(stack, residents=sizes["filing_residents"], drill_residents=sizes["drill_residents"]),
            )
        if stack.rasa_pid is not None:
            memory["rasa_end"] = rss_mb(stack.rasa_pid)
        if stack.actions_pid is not None:
            memory["action_server_end"] = rss_mb(stack.actions_pid)
        if stack.bot_process is not None:
            memory["bot_end"] = rss_mb(stack.bot_process.pid)
        if "broadcast" in self.wanted:
            await self.part(
                "broadcast",
                broadcast.measure(
                    stack,
                    subscribers=sizes["broadcast_subscribers"],
                    limited_seconds=sizes["broadcast_limited_window_s"],
                ),
            )
        memory["bench_process_end (fake Bot API + load generator)"] = rss_mb(os.getpid(), tree=False)
        if "bare_rasa" in self.wanted:
            await self.part(
                "bare_rasa",
                bare_rasa.measure(
                    stack.workdir,
                    residents=sizes["throughput_residents"],
                    turns=sizes["throughput_turns"],
                    sequential_residents=sizes["latency_residents"],
                    project=self.results["parts"],
                ),
            )
        if "replicas" in self.wanted:
            workdir = stack.workdir / "replicas"
            workdir.mkdir()
            await self.part(
                "replicas",
                replicas.measure(
                    workdir, residents=sizes["throughput_residents"], script=SCRIPT[: sizes["throughput_turns"]]
                ),
            )


async def amain(args: argparse.Namespace) -> dict[str, Any]:
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    if task is not None:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGTERM, task.cancel)
    return await Run(args).main()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Measure the stack; see README, Benchmarks.")
    parser.add_argument(
        "--train",
        choices=("nlu", "full", "none"),
        default="nlu",
        help="time a cold `rasa train nlu` (default), the whole `rasa train` (slow), or none",
    )
    parser.add_argument("--skip-train", action="store_true", help="the same as --train none")
    parser.add_argument("--quick", action="store_true", help="small sizes, to try the bench itself (figures are rough)")
    parser.add_argument("--parts", help=f"comma-separated subset of {','.join(PARTS)} (start-up always runs)")
    parser.add_argument(
        "--outside",
        type=Path,
        help="understanding and first_messages: score this file of outside texts (YAML list of text, label)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="where latest.json and latest.md go")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.ERROR)  # "job skipped: still running" under load
    try:
        results = asyncio.run(amain(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        say("interrupted; everything started was stopped")
        return 130
    write(results, args.out)
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
