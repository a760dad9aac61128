"""Part 8, Rasa replicas: the same 50 residents served by one Rasa and by two, on Rasa's own shared stores.

Both sides run the production layout for several replicas (docs/deploy.md): a PostgreSQL tracker store (a
fresh database on BENCH_POSTGRES_URL's server, dropped afterwards) and a Redis lock store, started by
`wijkbot.runner.start_backends` as `wijkbot run` starts them. Residents talk straight to Rasa through the
bot's own client (`bot.rasa_client.RasaClient`, fewest turns in flight first), each answering as soon as its
replies are in: first with RASA_URLS naming one replica, then both. Afterwards every resident's user turns
are read back from the shared tracker store: each must be there once and in the order it was sent.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench.common import SCRIPT, free_port, ratio
from bot.rasa_client import RasaClient, RasaUnavailable
from wijkbot.runner import start_backends, stop_process
from wijkbot.settings import Settings, with_rasa_token

POSTGRES_ADMIN = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/4")
IDS = 650_000_000


def replica_settings(workdir: Path, database: str) -> Settings:
    urls = [f"http://127.0.0.1:{free_port()}" for _ in range(2)]
    tracker = make_url(database).set(drivername="postgresql").render_as_string(hide_password=False)
    return with_rasa_token(
        Settings(  # type: ignore[call-arg]
            _env_file=None,
            database_url=f"sqlite:///{workdir / 'replicas.db'}",
            action_server_url=f"http://127.0.0.1:{free_port()}",
            rasa_urls=",".join(urls),
            rasa_tracker_store_url=tracker,
            rasa_lock_store_url=REDIS,
        )
    )


async def serve(client: RasaClient, senders: list[int], script: tuple[str, ...]) -> dict[str, Any]:
    """Every resident through the script, all at once; turns per second and failures."""
    failed = 0

    async def resident(sender: int) -> None:
        nonlocal failed
        for line in script:
            try:
                await client.turn(sender=str(sender), text=line, metadata={"telegram": {"first_name": "Bench"}})
            except RasaUnavailable:
                failed += 1

    started = time.perf_counter()
    await asyncio.gather(*(resident(sender) for sender in senders))
    seconds = time.perf_counter() - started
    turns = len(senders) * len(script)
    return {"turns": turns, "failed": failed, "seconds": round(seconds, 2), "turns_per_s": round(turns / seconds, 2)}


def out_of_order(database: str, senders: list[int], script: tuple[str, ...]) -> int:
    """Residents whose user turns in the shared tracker store are not exactly the script, in order."""
    engine = create_engine(database)
    query = text("SELECT sender_id, data FROM events WHERE type_name = 'user' ORDER BY id")
    seen: dict[str, list[str]] = {}
    with engine.connect() as connection:
        for sender, data in connection.execute(query):
            seen.setdefault(str(sender), []).append(json.loads(data).get("text"))
    engine.dispose()
    return sum(1 for sender in senders if seen.get(str(sender)) != list(script))


async def measure(workdir: Path, *, residents: int = 50, script: tuple[str, ...] = SCRIPT[:6]) -> dict[str, Any]:
    name = f"wijkbot_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    database = make_url(POSTGRES_ADMIN).set(database=name).render_as_string(hide_password=False)
    settings = replica_settings(workdir, database)
    token = settings.rasa_token.get_secret_value() if settings.rasa_token else None
    processes = await asyncio.to_thread(start_backends, settings)
    results: dict[str, Any] = {"residents": residents, "turns_each": len(script), "tracker_store": "PostgreSQL"}
    try:
        for label, urls in (("one", settings.rasa_replicas[:1]), ("two", settings.rasa_replicas)):
            client = RasaClient(urls, timeout=330, token=token, max_in_flight=8)
            senders = [IDS + (0 if label == "one" else 10_000) + i for i in range(residents)]
            try:
                results[label] = await serve(client, senders, script)
            finally:
                await client.aclose()
            results[label]["residents_out_of_order"] = await asyncio.to_thread(out_of_order, database, senders, script)
        results["ratio_two_to_one"] = ratio(results["two"]["turns_per_s"], results["one"]["turns_per_s"])
    finally:
        for process in reversed(processes):
            await asyncio.to_thread(stop_process, process)
        with admin.connect() as connection:
            connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name}
            )
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()
    return results
