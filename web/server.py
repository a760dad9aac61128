"""Serving the workspace beside the bot: uvicorn in a thread of its own, with its own event loop, so the bot's
loop (PTB's run_polling, which owns the signal handlers) is left alone; `stop()` ends it cleanly."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI

log = logging.getLogger(__name__)


class WebServer:
    """The workspace on host:port (port 0: a free one, see `port` after `start`)."""

    def __init__(self, app: FastAPI, *, host: str, port: int, on_stop: Callable[[], None] | None = None) -> None:
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off", access_log=False)
        self.server = uvicorn.Server(config)
        self.host = host
        self.port = port
        self._thread: threading.Thread | None = None
        self._on_stop = on_stop

    def start(self, *, timeout: float = 15.0) -> None:
        """Start serving and wait until the socket listens (or fail with a clear message)."""
        self._thread = threading.Thread(target=self.server.run, name="web", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the web workspace could not listen on {self.host}:{self.port}")
            time.sleep(0.02)
        sockets = [sock for server in self.server.servers for sock in server.sockets]
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        log.info("web workspace listening on http://%s:%s", self.host, self.port)

    def stop(self, *, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._on_stop is not None:
            self._on_stop()
            self._on_stop = None
