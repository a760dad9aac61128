"""`wijkbot run`: start the Rasa server, the action server and the bot, and stop them together."""

from __future__ import annotations

import copy
import hashlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.error import URLError
from urllib.parse import quote, urlparse
from urllib.request import urlopen

import yaml

from db.models import utcnow
from wijkbot.daily_log import DailyLog, pump
from wijkbot.settings import Settings, rasa_environment, with_rasa_token

if TYPE_CHECKING:
    from web.server import WebServer

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "var" / "models" / "wijkbot.tar.gz"
ENDPOINTS = ROOT / "endpoints.yml"  # one replica, the default local settings: what `rasa shell` reads too
REPLICA_ENDPOINTS = ROOT / "endpoints.replicas.yml"  # several replicas, read from the environment
GENERATED_ENDPOINTS = ROOT / "var" / "rasa"
_pumps: dict[int, threading.Thread] = {}  # the thread copying each running child's output into its log


def rasa_executable() -> Path:
    return ROOT / ".venv-rasa" / "bin" / "rasa"


def rasa_serve_command() -> list[str]:
    """How the project starts Rasa's server: Rasa's own command line (`... run --model ...` follows) with
    rasa_serve's fixes applied first; the Rasa environment imports rasa_serve from this checkout (ADR 0009)."""
    return [str(ROOT / ".venv-rasa" / "bin" / "python"), "-m", "rasa_serve"]


def start_process(
    name: str,
    args: list[str],
    env: dict[str, str],
    *,
    retention_days: int = 90,
    logs: Path | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> subprocess.Popen[bytes]:
    """Start a child in its own process group; its output goes through a DailyLog to var/logs/<name>.log,
    rotated daily and kept `retention_days` (RETENTION_DAYS: these logs can hold what residents typed)."""
    logs = logs or ROOT / "var" / "logs"
    log.info("starting %s (log: %s/%s.log, kept %s days)", name, logs, name, retention_days)
    process = subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    assert process.stdout is not None
    writer = DailyLog(logs, name, retention_days=retention_days, clock=clock)
    thread = threading.Thread(target=pump, args=(process.stdout, writer), name=f"log-{name}", daemon=True)
    thread.start()
    _pumps[process.pid] = thread
    return process


def wait_for_log(process: subprocess.Popen[bytes], *, timeout: float = 10.0) -> None:
    """Wait until everything the (stopped) child wrote is in its log."""
    thread = _pumps.pop(process.pid, None)
    if thread is not None:
        thread.join(timeout)


def wait_until_up(url: str, *, seconds: float, process: subprocess.Popen[bytes], name: str) -> None:
    """Poll a health URL until it answers 200, or fail when the process dies or time runs out."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} stopped during start-up; see var/logs/{name}.log")
        try:
            with urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (URLError, OSError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{name} did not answer at {url} within {seconds:.0f} s; see var/logs/{name}.log")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        wait_for_log(process)
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    wait_for_log(process)


def endpoints_for(settings: Settings, directory: Path | None = None) -> Path:
    """The endpoints file Rasa starts with for these settings.

    Several replicas (RASA_TRACKER_STORE_URL): endpoints.replicas.yml, which reads the shared stores from the
    environment (rasa_environment). One replica: endpoints.yml itself when the settings are its values (the
    defaults), else a copy of it with the settings' action server and tracker file, written into `directory`
    (var/rasa/ by default) under a name made from its content, so two runs with other settings (a bench beside
    `wijkbot run`) never overwrite each other's file.
    Rasa 3.6 substitutes only plain ${VAR} in this file, with no default for an unset one, so endpoints.yml
    holds the local defaults themselves and `rasa shell` from the root needs no environment.
    """
    if settings.rasa_tracker_store_url is not None:
        return REPLICA_ENDPOINTS
    default = yaml.safe_load(ENDPOINTS.read_text(encoding="utf-8"))
    wanted = copy.deepcopy(default)
    wanted["action_endpoint"]["url"] = f"{settings.action_server_url.rstrip('/')}/webhook"
    wanted["tracker_store"]["db"] = settings.rasa_tracker_db
    if wanted == default:
        return ENDPOINTS
    text = "# written by wijkbot.runner.endpoints_for from endpoints.yml and the settings\n" + yaml.safe_dump(
        wanted, sort_keys=False
    )
    directory = directory or GENERATED_ENDPOINTS
    path = directory / f"endpoints-{hashlib.sha256(text.encode()).hexdigest()[:12]}.yml"
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        directory.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)  # whole or not at all, even with two starts at once
    return path


def child_environment(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(rasa_environment(settings))  # endpoints.replicas.yml reads the shared stores from it
    env["DATABASE_URL"] = settings.database_url
    return env


def action_server_arguments(settings: Settings) -> list[str]:
    """The action server (rasa_sdk with the project's actions) on the settings' port."""
    return [
        sys.executable,
        "-m",
        "rasa_sdk",
        "--actions",
        "actions",
        "-p",
        str(urlparse(settings.action_server_url).port or 5055),
    ]


def rasa_arguments(settings: Settings, url: str | None = None, *, endpoints: Path | None = None) -> list[str]:
    """`rasa run` for the replica at `url` (RASA_URL by default) with its HTTP API on loopback, behind the
    settings' token (see with_rasa_token), with the endpoints for one replica or for several (`endpoints`:
    a file written beforehand, e.g. into a test's own folder)."""
    if settings.rasa_token is None:
        raise ValueError("Rasa's HTTP API needs a token: pass the settings through with_rasa_token first")
    return [
        *rasa_serve_command(),
        "run",
        "--enable-api",
        # one argument with "=": a token may begin with "-" (token_urlsafe does, 1 in 32), which argparse
        # would take for an option, and Rasa would refuse to start
        f"--auth-token={settings.rasa_token.get_secret_value()}",
        "-i",
        "127.0.0.1",
        "-p",
        str(urlparse(url or settings.rasa_url).port or 5005),
        "--model",
        str(MODEL),
        "--endpoints",
        str(endpoints or endpoints_for(settings)),
        "--credentials",
        "credentials.yml",
    ]


def local_replicas(settings: Settings) -> list[str]:
    """The Rasa replicas this machine runs (on 127.0.0.1 or localhost); others run elsewhere (docs/deploy.md)."""
    return [url for url in settings.rasa_replicas if urlparse(url).hostname in ("127.0.0.1", "localhost")]


def start_backends(settings: Settings) -> list[subprocess.Popen[bytes]]:
    """Start the action server and Rasa on loopback and wait until both answer. Rasa's API takes only the
    settings' token (a random one for this run when RASA_TOKEN is unset: its HTTP API is never open)."""
    if not MODEL.exists():
        raise RuntimeError("no trained model at var/models/wijkbot.tar.gz: run `make train` (or `make run`)")
    settings = with_rasa_token(settings)
    token = settings.rasa_token.get_secret_value() if settings.rasa_token else ""
    env = child_environment(settings)
    keep = settings.retention_days
    actions = start_process("actions", action_server_arguments(settings), env, retention_days=keep)
    processes = [actions]
    replicas = {}
    for number, url in enumerate(local_replicas(settings), start=1):
        name = "rasa" if number == 1 else f"rasa-{number}"
        replicas[url] = (name, start_process(name, rasa_arguments(settings, url), env, retention_days=keep))
        processes.append(replicas[url][1])
    try:
        wait_until_up(f"{settings.action_server_url}/health", seconds=60, process=actions, name="actions")
        for url, (name, process) in replicas.items():
            wait_until_up(f"{url}/status?token={quote(token)}", seconds=240, process=process, name=name)
    except BaseException:
        for process in processes:
            stop_process(process)
        raise
    return processes


def run_stack(settings: Settings) -> int:
    """Start everything; return the exit code once Ctrl-C (or SIGTERM) has stopped it all."""
    from bot.main import serve

    settings = with_rasa_token(settings)  # the bot and Rasa share this run's token
    log.info("starting the action server and Rasa (loading the model takes about a minute)")
    try:
        processes = start_backends(settings)
    except RuntimeError as exc:
        print(f"wijkbot: {exc}", file=sys.stderr)
        return 1
    try:
        web = start_web(settings)
    except RuntimeError as exc:
        for process in reversed(processes):
            stop_process(process)
        print(f"wijkbot: {exc}", file=sys.stderr)
        return 1
    try:
        serve(settings)
    except KeyboardInterrupt:
        pass
    finally:
        web.stop()
        for process in reversed(processes):
            stop_process(process)
        log.info("stopped")
    return 0


def start_web(settings: Settings) -> WebServer:
    """The staff workspace (web/) on WEB_HOST:WEB_PORT, in a thread beside the bot (docs/web.md)."""
    from web.app import create_app
    from web.server import WebServer
    from wijkbot.services import open_services

    services = open_services(settings)
    server = WebServer(create_app(services), host=settings.web_host, port=settings.web_port, on_stop=services.close)
    try:
        server.start()
    except RuntimeError:
        services.close()
        raise
    log.info("staff workspace at %s (sign in with /web in the bot)", settings.web_url)
    if settings.web_chat:
        widget = f'<script src="{settings.web_url}/widget.js" defer></script>'
        log.info("web chat: %s on %s", widget, ", ".join(settings.chat_origins) or "no site yet (WEB_CHAT_ORIGINS)")
    if settings.whatsapp_enabled:
        log.info("WhatsApp: Meta's webhook goes to %s/webhooks/whatsapp", settings.web_url)
    return server
