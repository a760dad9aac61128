"""Serving the workspace beside the bot: uvicorn in a thread of its own, with its own event loop, so the bot's
loop (PTB's run_polling, which owns the signal handlers) is left alone; `stop()` ends it cleanly."""

from __future__ import annotations

import logging
import socket
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
        """Bind here (a taken port is a clear error at once, port 0 a known one), then serve in the thread and
        wait until uvicorn has started."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise RuntimeError(
                f"the web workspace could not listen on {self.host}:{self.port}: {exc.strerror}"
            ) from exc
        self.port = int(sock.getsockname()[1])
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, name="web", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the web workspace did not start on {self.host}:{self.port}")
            time.sleep(0.02)
        log.info("web workspace listening on http://%s:%s", self.host, self.port)

    def stop(self, *, grace: float = 2.0, timeout: float = 10.0) -> None:
        """Stop serving: requests in progress get `grace` seconds to end; then what is still open (a chat
        widget's long poll, which would otherwise hold the server for its full wait) is cut, and the widget
        polls again once the workspace is back."""
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(grace)
            if self._thread.is_alive():
                self.server.force_exit = True
                self._thread.join(timeout)
            self._thread = None
        if self._on_stop is not None:
            self._on_stop()
            self._on_stop = None
