"""pytest plugin: the REAL action server and Rasa server, started once per test session on free ports.

Registered in tests/conftest.py (`pytest_plugins = ["tests.stack"]`). Tests that need them are marked
`@pytest.mark.rasa` and take the `stack` fixture. The action server (this .venv) uses a session SQLite
database the tests open too (`stack.services`); Rasa (.venv-rasa) loads var/models/wijkbot.tar.gz with the
repository's credentials.yml and a copy of its endpoints.yml pointing at the session's action server and a
temporary tracker database (`stack.endpoints`, `stack.tracker_db`), written by wijkbot.runner.endpoints_for
as for `wijkbot run`. Rasa's HTTP API takes only the session's token (`stack.rasa_token`, sent as `?token=`),
as with `wijkbot run`.
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bot.rasa_client import RasaClient
from wijkbot.runner import action_server_arguments, endpoints_for, rasa_arguments
from wijkbot.services import Services, open_services
from wijkbot.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "var" / "models" / "wijkbot.tar.gz"
RASA = ROOT / ".venv-rasa" / "bin" / "rasa"
ACTION_SERVER_START_SECONDS = float(os.environ.get("WIJKBOT_TEST_ACTIONS_START_SECONDS", "90"))
RASA_START_SECONDS = float(os.environ.get("WIJKBOT_TEST_RASA_START_SECONDS", "240"))
TURN_TIMEOUT_SECONDS = 60.0


@dataclass
class Stack:
    rasa_url: str
    action_server_url: str
    database_url: str
    endpoints: Path
    tracker_db: Path
    credentials: Path
    env: dict[str, str]
    services: Services
    rasa_token: str = ""
    logs: dict[str, Path] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def stop_rasa(self) -> None:
        """Kill the Rasa server (fault tests); `start_rasa` brings it back."""
        stop(self.processes["rasa"])

    def start_rasa(self) -> None:
        """Start the Rasa server again on the same port and wait until its model is loaded."""
        settings = Settings(_env_file=None, rasa_url=self.rasa_url, rasa_token=SecretStr(self.rasa_token))  # type: ignore[call-arg]
        process = start(rasa_arguments(settings, endpoints=self.endpoints), self.env, self.logs["rasa"])
        self.processes["rasa"] = process
        wait_for(
            lambda: _rasa_model_loaded(self.rasa_url, self.rasa_token),
            seconds=RASA_START_SECONDS,
            process=process,
            name="the Rasa server",
            log=self.logs["rasa"],
        )

    def pause_actions(self) -> None:
        """Freeze the action server (SIGSTOP): it hangs like a server that no longer answers."""
        os.killpg(self.processes["actions"].pid, signal.SIGSTOP)

    def resume_actions(self) -> None:
        os.killpg(self.processes["actions"].pid, signal.SIGCONT)

    def say(self, sender: str, text: str, metadata: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """One resident turn through Rasa's REST channel, the way bot/ sends it."""
        body = {"sender": sender, "message": text, "metadata": metadata or telegram_metadata(sender)}
        response = httpx.post(f"{self.rasa_url}/webhooks/rest/webhook", json=body, timeout=TURN_TIMEOUT_SECONDS)
        response.raise_for_status()
        replies = response.json()
        assert isinstance(replies, list)
        return replies

    def log_tail(self, name: str, lines: int = 60) -> str:
        path = self.logs.get(name)
        if path is None or not path.exists():
            return ""
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


_current: Stack | None = None


def rasa_say(sender: str, text: str, metadata: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """One REST turn against the session's Rasa server (the `stack` fixture must be active)."""
    if _current is None:
        raise RuntimeError("rasa_say needs the `stack` fixture (mark the test @pytest.mark.rasa and request it)")
    return _current.say(sender, text, metadata)


def telegram_metadata(sender: str, first_name: str = "Test") -> dict[str, Any]:
    user_id = int(sender) if sender.isdigit() else 0
    return {"telegram": {"user_id": user_id, "chat_id": user_id, "first_name": first_name, "language_code": "nl"}}


_update_bases = itertools.count(1_000_000, 1_000_000)


def next_update_base() -> int:
    """A fresh range of Telegram update ids for a fake that shares the session's database."""
    return next(_update_bases)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A child in its own process group (so its children stop with it), logging to `log`."""
    out = log.open("ab")
    try:
        return subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        out.close()


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def wait_for(
    check: Callable[[], bool], *, seconds: float, process: subprocess.Popen[bytes], name: str, log: Path
) -> float:
    """Poll until `check()` holds; fail with the log's tail when the process dies or time runs out."""
    began = time.monotonic()
    while time.monotonic() - began < seconds:
        if process.poll() is not None:
            tail = log.read_text(encoding="utf-8", errors="replace")[-4000:]
            pytest.fail(f"{name} exited with {process.returncode} during start-up; log {log}:\n{tail}")
        try:
            if check():
                return time.monotonic() - began
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.5)
    tail = log.read_text(encoding="utf-8", errors="replace")[-4000:]
    pytest.fail(f"{name} was not ready within {seconds:.0f} s; log {log}:\n{tail}")


async def answers_status(client: RasaClient) -> bool:
    """Whether every replica of this client answers Rasa's status page (with the client's token, if any)."""
    try:
        for replica in client.replicas:
            if (await replica.client.get("/status", timeout=3)).status_code != 200:
                return False
        return True
    except httpx.HTTPError:
        return False


def _action_server_up(url: str) -> bool:
    return httpx.get(f"{url}/health", timeout=2).status_code == 200


def _rasa_model_loaded(url: str, token: str) -> bool:
    response = httpx.get(f"{url}/status", params={"token": token}, timeout=5)
    return response.status_code == 200 and bool(response.json().get("model_file"))


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The action server and the Rasa server, running for the whole session."""
    global _current
    if not MODEL.exists():
        pytest.fail(f"no trained model at {MODEL.relative_to(ROOT)}: run `make train` first (`make test` does)")
    if not RASA.exists():
        pytest.fail(f"no Rasa environment at {RASA.parent.parent.relative_to(ROOT)}: run `make setup`")
    workdir = tmp_path_factory.mktemp("stack")
    database_url = f"sqlite:///{workdir / 'wijkbot.db'}"
    # Migrate and load the municipality data before the action server opens the same file.
    services = open_services(Settings(_env_file=None, database_url=database_url))  # type: ignore[call-arg]
    action_port, rasa_port = free_port(), free_port()
    action_url, rasa_url = f"http://127.0.0.1:{action_port}", f"http://127.0.0.1:{rasa_port}"
    tracker_db = workdir / "rasa_tracker.db"
    rasa_token = secrets.token_urlsafe(24)
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        action_server_url=action_url,
        rasa_url=rasa_url,
        rasa_token=SecretStr(rasa_token),
        rasa_tracker_db=str(tracker_db),
    )
    endpoints = endpoints_for(settings, workdir)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "RASA_TELEMETRY_ENABLED": "false",
        "SANIC_HOST": "127.0.0.1",  # the action server listens on loopback only
        "PYTHONUNBUFFERED": "1",
    }
    logs = {"actions": workdir / "actions.log", "rasa": workdir / "rasa.log"}
    processes: list[subprocess.Popen[bytes]] = []
    try:
        # started as `wijkbot run` starts them (wijkbot.runner), with the test's own ports, token and files
        actions = start(action_server_arguments(settings), env, logs["actions"])
        processes.append(actions)
        rasa = start(rasa_arguments(settings, endpoints=endpoints), env, logs["rasa"])
        processes.append(rasa)
        timings = {
            "action_server_start_s": wait_for(
                lambda: _action_server_up(action_url),
                seconds=ACTION_SERVER_START_SECONDS,
                process=actions,
                name="the action server",
                log=logs["actions"],
            ),
            "rasa_start_s": wait_for(
                lambda: _rasa_model_loaded(rasa_url, rasa_token),
                seconds=RASA_START_SECONDS,
                process=rasa,
                name="the Rasa server",
                log=logs["rasa"],
            ),
        }
        _current = Stack(
            rasa_url=rasa_url,
            action_server_url=action_url,
            database_url=database_url,
            endpoints=endpoints,
            tracker_db=tracker_db,
            credentials=ROOT / "credentials.yml",
            env=env,
            services=services,
            rasa_token=rasa_token,
            logs=logs,
            timings=timings,
            processes={"actions": actions, "rasa": rasa},
        )
        (workdir / "timings.json").write_text(json.dumps(timings), encoding="utf-8")
        print(f"\nstack up: {json.dumps(timings)} (logs in {workdir})")
        yield _current
    finally:
        if _current is not None:
            processes = list(_current.processes.values())  # Rasa may have been restarted
        _current = None
        for process in reversed(processes):
            stop(process)
        services.close()
