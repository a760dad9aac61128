"""The fake Bot API server: tornado on loopback in its own thread, the method table, and the request cycle."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar

import tornado.httpserver
import tornado.httputil
import tornado.netutil
import tornado.web

from .callbacks import Callbacks
from .commands import Commands
from .files import Files
from .messages import Messages
from .params import check_names, parse_request
from .polls import Polls
from .recording import Recording
from .records import DEFAULT_TOKEN, ApiError, JSONDict, Outcome, RecordedCall, UploadedFile
from .updates import Updates

if TYPE_CHECKING:
    import telegram
    import telegram.ext
    import telegram.request

log = logging.getLogger(__name__)

Handler = Callable[[JSONDict, dict[str, UploadedFile]], Any]


class _ApiHandler(tornado.web.RequestHandler):
    fake: FakeTelegramServer

    def initialize(self, fake: FakeTelegramServer) -> None:
        self.fake = fake

    def check_xsrf_cookie(self) -> None:  # the Bot API has no cookies
        return None

    async def get(self, token: str, method: str) -> None:
        await self._serve(token, method)

    async def post(self, token: str, method: str) -> None:
        await self._serve(token, method)

    async def _serve(self, token: str, method: str) -> None:
        outcome = await self.fake._handle(token, method, self.request)
        if outcome.drop:
            with contextlib.suppress(Exception):
                assert self.request.connection is not None
                self.request.connection.close()  # type: ignore[attr-defined]
            self._finished = True  # nothing more goes out on this connection
            return
        self.set_status(outcome.status)
        self.set_header("Content-Type", "application/json")
        with contextlib.suppress(Exception):  # the client may be gone (cancelled long poll)
            await self.finish(json.dumps(outcome.payload, ensure_ascii=False).encode("utf-8"))


class _FileHandler(tornado.web.RequestHandler):
    """A file's download, as Telegram serves it after getFile."""

    fake: FakeTelegramServer

    def initialize(self, fake: FakeTelegramServer) -> None:
        self.fake = fake

    def get(self, token: str, path: str) -> None:
        data = self.fake.file_content(token, path)
        if data is None:
            self.set_status(404)
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps({"ok": False, "error_code": 404, "description": "Not Found"}))
            return
        self.set_header("Content-Type", "application/octet-stream")
        self.finish(data)


class _NotFoundHandler(tornado.web.RequestHandler):
    def prepare(self) -> None:
        self.set_status(404)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"ok": False, "error_code": 404, "description": "Not Found"}))


class FakeTelegramServer(Messages, Polls, Files, Callbacks, Commands, Updates, Recording):
    """A Bot API server on ``127.0.0.1:<free port>`` backed by in-memory state, serving the methods the bot
    uses (`METHODS`).

    Thread-safe: the HTTP side runs on its own loop thread; all helpers may be called from any thread.
    """

    #: The Bot API methods the fake serves (what bot/, web/, the tests and the bench call, PTB's own calls
    #: included), each with the method of this class that answers it. Another method answers 404.
    METHODS: ClassVar[dict[str, str]] = {
        "getMe": "_get_me",
        "getUpdates": "_get_updates",  # asynchronous: a long poll waits for updates
        "setWebhook": "_set_webhook",
        "deleteWebhook": "_delete_webhook",
        "setMyCommands": "_set_my_commands",
        "deleteMyCommands": "_delete_my_commands",
        "sendMessage": "_send_message",
        "editMessageText": "_edit_message_text",
        "answerCallbackQuery": "_answer_callback_query",
        "sendPoll": "_send_poll",
        "stopPoll": "_stop_poll",
        "sendPhoto": "_send_photo",
        "sendDocument": "_send_document",
        "getFile": "_get_file",  # the web workspace shows a resident's photo to staff (web/photos.py)
    }

    def _served(self, method: str) -> tuple[str, Handler] | None:
        """The method as Telegram spells it and its handler (method names are case-insensitive), or None."""
        for name, attribute in self.METHODS.items():
            if name.lower() == method.lower():
                return name, getattr(self, attribute)
        return None

    def start(self) -> FakeTelegramServer:
        """Bind a free port on ``host`` and serve in a background thread. Returns self."""
        if self._thread is not None:
            return self
        sockets = tornado.netutil.bind_sockets(self._requested_port, address=self.host)
        self.port = sockets[0].getsockname()[1]
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            try:
                loop.run_until_complete(self._serve(sockets, ready))
            except BaseException as exc:
                failure.append(exc)
                ready.set()
            finally:
                with contextlib.suppress(Exception):
                    loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._stopping = False
        self._thread = threading.Thread(target=run, name=f"fake-telegram-{self.port}", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            self._thread = None
            raise RuntimeError("fake Telegram server did not start") from failure[0]
        return self

    async def _serve(self, sockets: list[Any], ready: threading.Event) -> None:
        self._stop_event = asyncio.Event()
        self._updates_event = asyncio.Event()
        app = tornado.web.Application(
            [
                (r"/bot([^/]*)/([A-Za-z0-9_]*)/?", _ApiHandler, {"fake": self}),
                (r"/file/bot([^/]*)/(.+)", _FileHandler, {"fake": self}),
                (r".*", _NotFoundHandler),
            ],
            log_function=lambda handler: None,
        )
        server = tornado.httpserver.HTTPServer(app, max_body_size=64 * 1024 * 1024)
        server.add_sockets(sockets)
        ready.set()
        await self._stop_event.wait()
        server.stop()
        self._wake_pollers()
        if self._active_polls:
            await asyncio.sleep(0.05)  # let woken long polls answer
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.close_all_connections(), 2)

    def stop(self) -> None:
        """Stop serving and join the thread (pending long polls are answered with no updates)."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        self._stopping = True
        stop_event = self._stop_event
        if stop_event is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop_event.set)
        thread.join(10)
        self._thread = None
        self._loop = None

    def __enter__(self) -> FakeTelegramServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> FakeTelegramServer:
        return self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.stop)

    def make_bot(self, **kwargs: Any) -> telegram.Bot:
        """A real ``telegram.Bot`` pointed at this server (kwargs go to ``Bot``).

        Unless ``request``/``get_updates_request`` are given it uses :func:`fast_request` clients.
        """
        import telegram

        kwargs.setdefault("request", fast_request())
        kwargs.setdefault("get_updates_request", fast_request(connection_pool_size=1))
        return telegram.Bot(
            self.token or DEFAULT_TOKEN, base_url=self.base_url, base_file_url=self.base_file_url, **kwargs
        )

    def application_builder(self, *, fast: bool = True) -> telegram.ext.ApplicationBuilder:
        """A ``telegram.ext.ApplicationBuilder`` with token, base_url and base_file_url set.

        ``fast``: also set :func:`fast_request` clients (then the builder's connection settings such as
        ``connection_pool_size`` can no longer be set; pass ``fast=False`` for that).
        """
        from telegram.ext import ApplicationBuilder

        builder = (
            ApplicationBuilder()
            .token(self.token or DEFAULT_TOKEN)
            .base_url(self.base_url)
            .base_file_url(self.base_file_url)
        )
        if fast:
            builder = builder.request(fast_request()).get_updates_request(fast_request(connection_pool_size=1))
        return builder

    def _get_me(self, params: JSONDict, files: dict[str, UploadedFile]) -> JSONDict:
        me = dict(self.bot_user)
        me.update(
            can_join_groups=True,
            can_read_all_group_messages=False,
            supports_inline_queries=False,
            can_connect_to_business=False,
            has_main_web_app=False,
        )
        return me

    async def _handle(self, token: str, method: str, request: tornado.httputil.HTTPServerRequest) -> Outcome:
        arrived, arrived_mono = time.time(), time.monotonic()
        if self.token is not None and token != self.token:
            return Outcome(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
        entry = self._served(method)
        call = RecordedCall(
            method=entry[0] if entry else method,
            params={},
            time=arrived,
            monotonic=arrived_mono,
            content_type=request.headers.get("Content-Type", ""),
        )
        outcome = await self._process(call, entry, request)
        with self._cond:
            call.status = 0 if outcome.drop else outcome.status
            call.response = None if outcome.drop else outcome.payload
            if not call.recorded:
                call.recorded = True
                self._calls.append(call)
            self._cond.notify_all()
        return outcome

    async def _process(
        self, call: RecordedCall, entry: tuple[str, Handler] | None, request: tornado.httputil.HTTPServerRequest
    ) -> Outcome:
        try:
            call.params, call.files = parse_request(request)
            with self._cond:  # record now, so a slow long poll does not hide a later call's order
                call.recorded = True
                self._calls.append(call)
                self._cond.notify_all()
            drop_after = await self._apply_fault(call)
            if drop_after is None:
                return Outcome(0, {}, drop=True)
            if entry is None:
                raise ApiError(404, "Not Found: method not found")
            check_names(call.method, call.params, call.files)
            if call.method == "getUpdates":
                result = await self._get_updates(call.params)
            else:
                with self._lock:
                    self._check_chat_allowed(call)
                    result = entry[1](call.params, call.files)
            return Outcome(200, {"ok": True, "result": result}, drop=drop_after)
        except ApiError as err:
            return Outcome(err.status, err.payload())
        except Exception as exc:  # a bug in the fake: say so loudly
            log.exception("fake Telegram server failed on %s", call.method)
            with self._lock:
                self._errors.append(f"{call.method}: {exc!r}")
            return Outcome(500, {"ok": False, "error_code": 500, "description": f"Internal Server Error: {exc!r}"})

    async def _apply_fault(self, call: RecordedCall) -> bool | None:
        """Apply the fault injected for this call, if any: None to drop it unanswered, True to drop only the
        answer once it took effect, False to go on (after a delay); an error fault raises its ApiError."""
        fault = self._take_fault(call)
        if fault is None:
            return False
        if fault.kind == "delay":
            await asyncio.sleep(fault.delay)
            return False
        if fault.kind == "drop":
            return None
        if fault.kind == "drop_after":
            return True
        raise ApiError(fault.status, fault.description, fault.parameters)


_SSL_CONTEXT: ssl.SSLContext | None = None


def fast_request(**kwargs: Any) -> telegram.request.HTTPXRequest:
    """A PTB ``HTTPXRequest`` for talking to the fake: plain HTTP on loopback.

    PTB's default client loads the CA bundle for every ``httpx`` client (~0.2 s each, two per Bot);
    this one shares an SSL context without certificates (never used over plain HTTP) and ignores
    proxy environment variables (``trust_env=False``), so loopback never goes through a proxy.
    kwargs go to ``HTTPXRequest``.
    """
    from telegram.request import HTTPXRequest

    global _SSL_CONTEXT
    if _SSL_CONTEXT is None:
        _SSL_CONTEXT = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    httpx_kwargs = dict(kwargs.pop("httpx_kwargs", None) or {})
    httpx_kwargs.setdefault("verify", _SSL_CONTEXT)
    httpx_kwargs.setdefault("trust_env", False)
    return HTTPXRequest(httpx_kwargs=httpx_kwargs, **kwargs)


def start_fake_telegram(
    token: str | None = DEFAULT_TOKEN,
    *,
    bot_first_name: str = "Wijkbot",
    bot_username: str = "wijkbot_test_bot",
    first_update_id: int = 1,
) -> FakeTelegramServer:
    """Create and start a fake on 127.0.0.1 and a free port (for a fixture: ``with ... as tg: yield tg``).

    ``first_update_id``: where update ids start; tests that share one database across fakes give each fake
    its own range, as one real bot's update ids never repeat.
    """
    return FakeTelegramServer(
        token,
        first_update_id=first_update_id,
        bot_first_name=bot_first_name,
        bot_username=bot_username,
    ).start()
