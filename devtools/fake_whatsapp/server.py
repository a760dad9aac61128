"""The fake Cloud API server: tornado on loopback in its own thread, its state, what tests read and steer, and the
simulated residents who write to the municipality's number."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx
import tornado.httpserver
import tornado.httputil
import tornado.netutil
import tornado.web

from wijkbot.whatsapp import sign

from .checks import ApiError, JSONDict, Template, check_message, invalid

log = logging.getLogger(__name__)

DEFAULT_TOKEN = "fake-whatsapp-token"
DEFAULT_APP_SECRET = "fake-whatsapp-app-secret"
DEFAULT_PHONE_NUMBER_ID = "106540352242922"
DEFAULT_DISPLAY_NUMBER = "31850001234"
DEFAULT_VERSION = "v21.0"
#: The templates a municipality has approved, as docs/whatsapp.md describes them
DEFAULT_TEMPLATES: dict[str, Template] = {
    "wijkbot_peiling": Template(body_parameters=1, quick_replies=1),
    "wijkbot_checkin": Template(body_parameters=1),
    "wijkbot_bericht": Template(body_parameters=1),
}
WINDOW_SECONDS = 24 * 3600  # the customer-service window
MEDIA_TYPES = frozenset({"image/jpeg", "image/png", "text/plain", "application/pdf"})


@dataclass
class Fault:
    kind: str  # error, drop, drop_after, delay
    endpoint: str  # messages, media, or * for both
    times: int
    code: int = 0
    status: int = 400
    message: str = ""
    delay: float = 0.0


@dataclass
class Outcome:
    status: int
    payload: JSONDict
    drop: bool = False


@dataclass
class RecordedCall:
    """One request to the fake: its endpoint, what it posted and what it got back (status 0: dropped)."""

    endpoint: str
    path: str
    authorization: str
    body: Any
    status: int = 0
    response: JSONDict | None = None
    monotonic: float = 0.0


@dataclass
class Accepted:
    wamid: str
    wa_id: str
    message: JSONDict
    monotonic: float
    status: str = "accepted"  # then sent, delivered; or failed
    error_code: int | None = None


STATUS_RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0, 4.0, 8.0)  # seconds before each new try of a status webhook


@dataclass
class Posted:
    """A webhook the fake posted (a status, or a resident's message): its body, signature and the answer."""

    body: JSONDict
    signature: str | None
    status_code: int  # 0: the receiver could not be reached
    statuses: list[str] = field(default_factory=list)


class _Handler(tornado.web.RequestHandler):
    fake: FakeWhatsAppServer

    def initialize(self, fake: FakeWhatsAppServer) -> None:
        self.fake = fake

    def check_xsrf_cookie(self) -> None:
        return None

    async def post(self, version: str, number: str, endpoint: str) -> None:
        outcome = await self.fake._handle(version, number, endpoint, self.request)
        await self._answer(outcome)

    async def get(self, version: str, number: str, endpoint: str) -> None:
        await self._answer(Outcome(400, invalid("Unsupported get request").payload()))

    async def _answer(self, outcome: Outcome) -> None:
        if outcome.drop:
            with contextlib.suppress(Exception):
                assert self.request.connection is not None
                self.request.connection.close()  # type: ignore[attr-defined]
            self._finished = True
            return
        self.set_status(outcome.status)
        self.set_header("Content-Type", "application/json")
        with contextlib.suppress(Exception):
            await self.finish(json.dumps(outcome.payload, ensure_ascii=False).encode("utf-8"))


class _NotFound(tornado.web.RequestHandler):
    def prepare(self) -> None:
        self.set_status(400)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(invalid("Unsupported request: unknown path").payload()))


class FakeWhatsAppServer:
    """The Cloud API's /messages and /media for one business phone number on ``127.0.0.1:<free port>``.

    Thread-safe: HTTP runs on the fake's own loop thread; every helper may be called from any thread.
    """

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        app_secret: str = DEFAULT_APP_SECRET,
        phone_number_id: str = DEFAULT_PHONE_NUMBER_ID,
        display_phone_number: str = DEFAULT_DISPLAY_NUMBER,
        templates: Mapping[str, Template] | None = None,
        webhook_url: str | None = None,
        sign_webhooks: bool = True,
        version: str = DEFAULT_VERSION,
        host: str = "127.0.0.1",
    ) -> None:
        self.token = token
        self.app_secret = app_secret
        self.phone_number_id = phone_number_id
        self.display_phone_number = display_phone_number
        self.templates = dict(DEFAULT_TEMPLATES if templates is None else templates)
        self.webhook_url = webhook_url
        self.sign_webhooks = sign_webhooks
        self.version = version
        self.host = host
        self.port = 0
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._calls: list[RecordedCall] = []
        self._accepted: list[Accepted] = []
        self._posted: list[Posted] = []
        self._media: dict[str, tuple[str, bytes, str]] = {}  # id: filename, data, mime type
        self._last_inbound: dict[str, float] = {}
        self._faults: list[Fault] = []
        self._pair_limit: tuple[int, float] | None = None
        self._throughput: int | None = None
        self._offset = 0.0
        self._ids = itertools.count(1)
        self._errors: list[str] = []
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._outbox: asyncio.Queue[tuple[Accepted, list[str]]] | None = None

    # -- life cycle -------------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """WHATSAPP_BASE_URL for this fake (the Graph API with its version)."""
        return f"http://{self.host}:{self.port}/{self.version}"

    def start(self) -> FakeWhatsAppServer:
        if self._thread is not None:
            return self
        sockets = tornado.netutil.bind_sockets(0, address=self.host)
        self.port = sockets[0].getsockname()[1]
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            try:
                loop.run_until_complete(self._serve(sockets, ready))
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name=f"fake-whatsapp-{self.port}", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake WhatsApp server did not start")
        return self

    async def _serve(self, sockets: list[Any], ready: threading.Event) -> None:
        self._stop_event = asyncio.Event()
        self._outbox = asyncio.Queue()
        app = tornado.web.Application(
            [
                (r"/(v[0-9]+\.[0-9]+)/([^/]+)/(messages|media)/?", _Handler, {"fake": self}),
                (r".*", _NotFound),
            ],
            log_function=lambda handler: None,
        )
        server = tornado.httpserver.HTTPServer(app, max_body_size=100 * 1024 * 1024)
        server.add_sockets(sockets)
        async with httpx.AsyncClient(trust_env=False, timeout=5) as client:
            worker = asyncio.create_task(self._post_statuses(client))
            ready.set()
            await self._stop_event.wait()
            worker.cancel()
            server.stop()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.close_all_connections(), 2)

    def stop(self) -> None:
        thread, loop, stop_event = self._thread, self._loop, self._stop_event
        if thread is None or loop is None or stop_event is None:
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(stop_event.set)
        thread.join(10)
        self._thread = None
        self._loop = None

    def __enter__(self) -> FakeWhatsAppServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- the clock and the window ---------------------------------------------------------------------------------

    def now(self) -> float:
        """The fake's clock (seconds since the epoch): the real one moved by `advance`."""
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the fake's clock on (past a window's 24 hours, say) without waiting."""
        with self._lock:
            self._offset += seconds

    def window_open(self, wa_id: str) -> bool:
        """Whether the resident wrote within the last 24 hours (by the fake's clock)."""
        with self._lock:
            last = self._last_inbound.get(wa_id)
            return last is not None and self.now() - last < WINDOW_SECONDS

    def open_window(self, wa_id: str) -> None:
        """As if the resident had just written, without a webhook."""
        with self._lock:
            self._last_inbound[wa_id] = self.now()

    # -- the request cycle ------------------------------------------------------------------------------------

    async def _handle(
        self, version: str, number: str, endpoint: str, request: tornado.httputil.HTTPServerRequest
    ) -> Outcome:
        call = RecordedCall(
            endpoint=endpoint,
            path=request.path,
            authorization=request.headers.get("Authorization", ""),
            body=_request_body(request),
            monotonic=time.monotonic(),
        )
        with self._cond:
            self._calls.append(call)
        outcome = await self._process(call, number, request)
        with self._cond:
            call.status = 0 if outcome.drop else outcome.status
            call.response = None if outcome.drop else outcome.payload
            self._cond.notify_all()
        return outcome

    async def _process(self, call: RecordedCall, number: str, request: tornado.httputil.HTTPServerRequest) -> Outcome:
        try:
            fault = self._take_fault(call.endpoint)
            if fault is not None and fault.kind == "delay":
                await asyncio.sleep(fault.delay)
            elif fault is not None and fault.kind == "drop":
                return Outcome(0, {}, drop=True)
            elif fault is not None and fault.kind == "error":
                raise ApiError(fault.code, fault.message, status=fault.status)
            self._check_auth(call.authorization, number)
            with self._lock:
                result = self._upload(request) if call.endpoint == "media" else self._send(call.body)
            return Outcome(200, result, drop=fault is not None and fault.kind == "drop_after")
        except ApiError as err:
            return Outcome(err.status, err.payload())
        except Exception as exc:  # a bug in the fake: say so loudly
            log.exception("fake WhatsApp server failed on %s", call.path)
            with self._lock:
                self._errors.append(f"{call.path}: {exc!r}")
            return Outcome(500, ApiError(1, f"fake failed: {exc!r}", status=500).payload())

    def _check_auth(self, authorization: str, number: str) -> None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise ApiError(190, "An active access token must be used to query information.", status=401)
        if not secrets.compare_digest(token.encode(), self.token.encode()):
            raise ApiError(190, "Invalid OAuth access token - Cannot parse access token", status=401)
        if number != self.phone_number_id:
            raise ApiError(100, "Invalid parameter", f"Object with ID '{number}' does not exist", status=400)

    def _send(self, body: Any) -> JSONDict:
        if isinstance(body, ApiError):
            raise body
        wa_id = check_message(body, self.templates, set(self._media))
        self._check_rates(wa_id)
        accepted = Accepted(f"wamid.{secrets.token_hex(16)}", wa_id, copy.deepcopy(body), time.monotonic())
        self._accepted.append(accepted)
        # Meta's real behaviour: a free-form message outside the window is accepted, then fails (131047)
        if body.get("type") != "template" and not self.window_open(wa_id):
            statuses = ["failed"]
            accepted.error_code = 131047
        else:
            statuses = ["sent", "delivered"]
        self._queue_statuses(accepted, statuses)
        return {
            "messaging_product": "whatsapp",
            "contacts": [{"input": body["to"], "wa_id": wa_id}],
            "messages": [{"id": accepted.wamid}],
        }

    def _check_rates(self, wa_id: str) -> None:
        now = time.monotonic()
        if self._throughput is not None:
            recent = sum(1 for a in self._accepted if now - a.monotonic < 1.0)
            if recent >= self._throughput:
                raise ApiError(130429, "Rate limit hit", "Cloud API message throughput has been reached.")
        if self._pair_limit is not None:
            count, seconds = self._pair_limit
            recent = sum(1 for a in self._accepted if a.wa_id == wa_id and now - a.monotonic < seconds)
            if recent >= count:
                raise ApiError(
                    131056,
                    "(Business Account, Consumer Account) pair rate limit hit",
                    "Message failed to send because there were too many messages sent from this phone number to "
                    "the same phone number in a short period of time.",
                )

    def _upload(self, request: tornado.httputil.HTTPServerRequest) -> JSONDict:
        if not request.headers.get("Content-Type", "").startswith("multipart/form-data"):
            raise invalid("media must be uploaded as multipart/form-data")
        fields = {k: b"".join(v).decode("utf-8", "replace") for k, v in request.body_arguments.items()}
        unknown = sorted(set(fields) - {"messaging_product", "type"})
        if unknown:
            raise invalid(f'Unexpected key "{unknown[0]}" on param "media"')
        if fields.get("messaging_product") != "whatsapp":
            raise invalid('messaging_product is required and must be "whatsapp"')
        files = request.files.get("file")
        if not files or set(request.files) != {"file"}:
            raise invalid("file is required (one file)")
        mime = fields.get("type", "")
        if mime not in MEDIA_TYPES:
            raise ApiError(131053, "Media upload error", f"Unsupported media type {mime!r}")
        media_id = str(1_000_000_000_000 + next(self._ids))
        self._media[media_id] = (files[0].filename, files[0].body, mime)
        return {"id": media_id}

    # -- status webhooks --------------------------------------------------------------------------------------

    def _queue_statuses(self, accepted: Accepted, statuses: list[str]) -> None:
        loop, queue = self._loop, self._outbox
        if loop is not None and queue is not None:
            loop.call_soon_threadsafe(queue.put_nowait, (accepted, statuses))

    async def _post_statuses(self, client: httpx.AsyncClient) -> None:
        """Post each accepted message's statuses in order, as Meta does after it answered the send. A status
        the receiver did not answer with 200 (or could not be reached for) is posted again, as Meta keeps
        trying "with decreasing frequency" for days; here the schedule is compressed (STATUS_RETRY_DELAYS)."""
        assert self._outbox is not None
        while True:
            accepted, statuses = await self._outbox.get()
            for status in statuses:
                with self._cond:
                    accepted.status = status
                    self._cond.notify_all()
                body = self._status_payload(accepted, status)
                for delay in (0.0, *STATUS_RETRY_DELAYS):
                    await asyncio.sleep(delay)
                    if await self._post_async(client, body, [status]) == 200:
                        break

    def _status_payload(self, accepted: Accepted, status: str) -> JSONDict:
        entry: JSONDict = {
            "id": accepted.wamid,
            "status": status,
            "timestamp": str(int(self.now())),
            "recipient_id": accepted.wa_id,
        }
        if status == "failed":
            entry["errors"] = [
                {
                    "code": accepted.error_code,
                    "title": "Re-engagement message",
                    "message": "Re-engagement message",
                    "error_data": {
                        "details": "Message failed to send because more than 24 hours have passed since the "
                        "customer last replied to this number."
                    },
                }
            ]
        return self._envelope({"statuses": [entry]})

    def _envelope(self, value: JSONDict) -> JSONDict:
        metadata = {"display_phone_number": self.display_phone_number, "phone_number_id": self.phone_number_id}
        return {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "102290129340398",
                    "changes": [
                        {"field": "messages", "value": {"messaging_product": "whatsapp", "metadata": metadata, **value}}
                    ],
                }
            ],
        }

    def _signed(self, body: JSONDict) -> tuple[bytes, dict[str, str]]:
        raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if self.sign_webhooks:
            headers["X-Hub-Signature-256"] = f"sha256={sign(self.app_secret, raw)}"
        return raw, headers

    async def _post_async(self, client: httpx.AsyncClient, body: JSONDict, statuses: list[str]) -> int:
        """Post one webhook; the receiver's answer (0: not reached). Without a webhook URL: nothing, 200."""
        url = self.webhook_url
        if not url:
            return 200
        raw, headers = self._signed(body)
        try:
            answer = (await client.post(url, content=raw, headers=headers)).status_code
        except httpx.HTTPError:
            answer = 0
        self._record_post(Posted(body, headers.get("X-Hub-Signature-256"), answer, statuses))
        return answer

    def _record_post(self, posted: Posted) -> None:
        with self._cond:
            self._posted.append(posted)
            self._cond.notify_all()

    # -- what tests read --------------------------------------------------------------------------------------

    def calls(self, endpoint: str | None = None) -> list[RecordedCall]:
        """Every request so far (or those to "messages" or "media"), oldest first."""
        with self._lock:
            return [copy.copy(c) for c in self._calls if endpoint is None or c.endpoint == endpoint]

    def sent(self, wa_id: str | None = None) -> list[JSONDict]:
        """The messages accepted for the resident (all, without `wa_id`) that did not fail, in order; each the
        posted object plus "id" (its wamid) and "status" (accepted, sent, delivered)."""
        return [m for m in self.accepted(wa_id) if m["error_code"] is None]

    def accepted(self, wa_id: str | None = None) -> list[JSONDict]:
        """Like `sent`, with the messages that failed after they were accepted ("error_code": why)."""
        with self._lock:
            return [
                {**copy.deepcopy(a.message), "id": a.wamid, "status": a.status, "error_code": a.error_code}
                for a in self._accepted
                if wa_id is None or a.wa_id == wa_id
            ]

    def media(self, media_id: str) -> tuple[str, bytes, str] | None:
        """An uploaded file: its filename, bytes and MIME type."""
        with self._lock:
            return self._media.get(media_id)

    def webhooks(self) -> list[Posted]:
        """The webhooks the fake posted (statuses and residents' messages), oldest first."""
        with self._lock:
            return list(self._posted)

    def errors(self) -> list[str]:
        """The fake's own failures (a bug in the fake): a test should find none."""
        with self._lock:
            return list(self._errors)

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0, message: str = "") -> None:
        """Block until `predicate()` holds (re-checked whenever the fake records something) or TimeoutError."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(message or f"condition not met within {timeout} s")
                self._cond.wait(remaining)

    async def wait_until_async(self, predicate: Callable[[], bool], timeout: float = 5.0, message: str = "") -> None:
        """Like `wait_until`, waiting in a worker thread so the running event loop goes on."""
        await asyncio.to_thread(self.wait_until, predicate, timeout, message)

    def wait_for(self, wa_id: str, count: int = 1, timeout: float = 5.0) -> list[JSONDict]:
        """Block until at least `count` messages were sent to the resident; return them all."""
        self.wait_until(
            lambda: len(self.sent(wa_id)) >= count,
            timeout,
            f"expected {count} message(s) to {wa_id} within {timeout} s; got {self.sent(wa_id)}",
        )
        return self.sent(wa_id)

    async def wait_for_async(self, wa_id: str, count: int = 1, timeout: float = 5.0) -> list[JSONDict]:
        return await asyncio.to_thread(self.wait_for, wa_id, count, timeout)

    def wait_for_webhooks(self, count: int = 1, timeout: float = 5.0) -> list[Posted]:
        """Block until at least `count` webhooks were posted; return them all."""
        self.wait_until(lambda: len(self._posted) >= count, timeout, f"expected {count} webhook(s)")
        return self.webhooks()

    async def wait_for_webhooks_async(self, count: int = 1, timeout: float = 5.0) -> list[Posted]:
        return await asyncio.to_thread(self.wait_for_webhooks, count, timeout)

    # -- what tests steer -------------------------------------------------------------------------------------

    def fail_next(
        self, code: int, http_status: int = 400, *, message: str | None = None, times: int = 1, endpoint: str = "*"
    ) -> None:
        """Answer the next `times` requests (to "messages", "media" or "*") with Meta's error `code`."""
        title = message or ERROR_TITLES.get(code, "")
        with self._lock:
            self._faults.append(Fault("error", endpoint, times, code, http_status, title))

    def drop_next(self, *, after_send: bool = False, times: int = 1, endpoint: str = "*") -> None:
        """Close the connection after reading the next request; `after_send`: only after it took effect."""
        with self._lock:
            self._faults.append(Fault("drop_after" if after_send else "drop", endpoint, times))

    def delay_next(self, seconds: float, *, times: int = 1, endpoint: str = "*") -> None:
        """Answer the next requests only after `seconds` (for a client's timeout)."""
        with self._lock:
            self._faults.append(Fault("delay", endpoint, times, delay=seconds))

    def set_pair_rate_limit(self, messages: int | None, seconds: float = 6.0) -> None:
        """Refuse (131056) more than `messages` to one resident within `seconds`; None: off (the default)."""
        with self._lock:
            self._pair_limit = None if messages is None else (messages, seconds)

    def set_throughput(self, per_second: int | None) -> None:
        """Refuse (130429) more than `per_second` messages in any second; None: off (the default)."""
        with self._lock:
            self._throughput = per_second

    def _take_fault(self, endpoint: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.endpoint in ("*", endpoint):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    # -- residents --------------------------------------------------------------------------------------------

    def send_text(self, wa_id: str, text: str, name: str = "Anna") -> int:
        """The resident writes `text`: opens the window, posts the signed webhook; the receiver's HTTP status."""
        return self._user_message(wa_id, name, {"type": "text", "text": {"body": text}})

    def press_button(self, wa_id: str, reply_id: str, title: str, context_id: str, name: str = "Anna") -> int:
        """The resident presses a reply button of the message `context_id`."""
        reply = {"type": "button_reply", "button_reply": {"id": reply_id, "title": title}}
        return self._user_message(wa_id, name, {"type": "interactive", "interactive": reply}, context_id)

    def pick_row(self, wa_id: str, row_id: str, title: str, context_id: str, name: str = "Anna") -> int:
        """The resident picks a row of the list message `context_id`."""
        reply = {"type": "list_reply", "list_reply": {"id": row_id, "title": title}}
        return self._user_message(wa_id, name, {"type": "interactive", "interactive": reply}, context_id)

    def press_template_button(self, wa_id: str, payload: str, text: str, context_id: str, name: str = "Anna") -> int:
        """The resident presses a template's quick-reply button (a message of type "button")."""
        button = {"type": "button", "button": {"payload": payload, "text": text}}
        return self._user_message(wa_id, name, button, context_id)

    def send_location(
        self, wa_id: str, latitude: float, longitude: float, name: str = "Anna", label: str | None = None
    ) -> int:
        """The resident shares a location (`label`: the place's name, as WhatsApp sends for a chosen place)."""
        location: JSONDict = {"latitude": latitude, "longitude": longitude}
        if label:
            location["name"] = label
        return self._user_message(wa_id, name, {"type": "location", "location": location})

    def send_image(self, wa_id: str, name: str = "Anna") -> int:
        """The resident sends a photo (media the bot does not take over WhatsApp)."""
        image = {"id": secrets.token_hex(8), "mime_type": "image/jpeg", "sha256": secrets.token_hex(32)}
        return self._user_message(wa_id, name, {"type": "image", "image": image})

    def post_raw(self, body: bytes, signature: str | None) -> int:
        """Post any bytes to the webhook with this X-Hub-Signature-256 header (None: none): forged webhooks."""
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["X-Hub-Signature-256"] = signature
        return self._post_sync(body, headers, None)

    # the same from a test's event loop: the post waits in a worker thread, so a receiver served by that same
    # loop (the web app under uvicorn in the test) can answer it

    async def send_text_async(self, wa_id: str, text: str, name: str = "Anna") -> int:
        return await asyncio.to_thread(self.send_text, wa_id, text, name)

    async def press_button_async(self, wa_id: str, reply_id: str, title: str, context_id: str) -> int:
        return await asyncio.to_thread(self.press_button, wa_id, reply_id, title, context_id)

    async def pick_row_async(self, wa_id: str, row_id: str, title: str, context_id: str) -> int:
        return await asyncio.to_thread(self.pick_row, wa_id, row_id, title, context_id)

    async def press_template_button_async(self, wa_id: str, payload: str, text: str, context_id: str) -> int:
        return await asyncio.to_thread(self.press_template_button, wa_id, payload, text, context_id)

    async def send_image_async(self, wa_id: str, name: str = "Anna") -> int:
        return await asyncio.to_thread(self.send_image, wa_id, name)

    async def post_raw_async(self, body: bytes, signature: str | None) -> int:
        return await asyncio.to_thread(self.post_raw, body, signature)

    def last_inbound_id(self, wa_id: str) -> str | None:
        """The wamid of the resident's last message through the fake."""
        with self._lock:
            found = [p for p in self._posted if p.statuses == [] and _sender(p.body) == wa_id]
        return _message_id(found[-1].body) if found else None

    def _user_message(self, wa_id: str, name: str, message: JSONDict, context_id: str | None = None) -> int:
        with self._lock:
            self._last_inbound[wa_id] = self.now()
            at = str(int(self.now()))
        full: JSONDict = {"from": wa_id, "id": f"wamid.{secrets.token_hex(16)}", "timestamp": at, **message}
        if context_id is not None:
            full["context"] = {"from": self.display_phone_number, "id": context_id}
        body = self._envelope({"contacts": [{"profile": {"name": name}, "wa_id": wa_id}], "messages": [full]})
        raw, headers = self._signed(body)
        return self._post_sync(raw, headers, body)

    def _post_sync(self, raw: bytes, headers: dict[str, str], body: JSONDict | None) -> int:
        if not self.webhook_url:
            raise RuntimeError("the fake has no webhook_url to post to")
        try:
            with httpx.Client(trust_env=False, timeout=10) as client:
                answer = client.post(self.webhook_url, content=raw, headers=headers).status_code
        except httpx.HTTPError:
            answer = 0
        if body is not None:
            self._record_post(Posted(body, headers.get("X-Hub-Signature-256"), answer))
        return answer


ERROR_TITLES: dict[int, str] = {
    4: "Application request limit reached",
    100: "Invalid parameter",
    190: "Invalid OAuth access token",
    80007: "Rate limit issues",
    130429: "Rate limit hit",
    131000: "Something went wrong",
    131008: "Required parameter is missing",
    131009: "Parameter value is not valid",
    131016: "Service unavailable",
    131021: "Recipient cannot be sender",
    131026: "Message undeliverable",
    131047: "Re-engagement message",
    131051: "Unsupported message type",
    131056: "(Business Account, Consumer Account) pair rate limit hit",
    132000: "Number of parameters does not match the expected number of params",
    132001: "Template name does not exist in the translation",
    133010: "Phone number not registered",
    135000: "Generic user error",
}


def _request_body(request: tornado.httputil.HTTPServerRequest) -> Any:
    """A JSON body decoded (an ApiError for one that is not JSON), a form's fields as text."""
    if request.headers.get("Content-Type", "").startswith("multipart/form-data"):
        return {k: b"".join(v).decode("utf-8", "replace") for k, v in request.body_arguments.items()}
    try:
        return json.loads(request.body or b"null")
    except ValueError:
        return invalid("The request body is not valid JSON")


def _sender(body: JSONDict) -> str | None:
    with contextlib.suppress(KeyError, IndexError, TypeError):
        return str(body["entry"][0]["changes"][0]["value"]["messages"][0]["from"])
    return None


def _message_id(body: JSONDict) -> str | None:
    with contextlib.suppress(KeyError, IndexError, TypeError):
        return str(body["entry"][0]["changes"][0]["value"]["messages"][0]["id"])
    return None


def start_fake_whatsapp(
    *,
    app_secret: str = DEFAULT_APP_SECRET,
    token: str = DEFAULT_TOKEN,
    phone_number_id: str = DEFAULT_PHONE_NUMBER_ID,
    templates: Mapping[str, Template] | None = None,
    webhook_url: str | None = None,
    sign_webhooks: bool = True,
) -> FakeWhatsAppServer:
    """Create and start a fake on 127.0.0.1 and a free port (``with start_fake_whatsapp() as wa: ...``)."""
    return FakeWhatsAppServer(
        app_secret=app_secret,
        token=token,
        phone_number_id=phone_number_id,
        templates=templates,
        webhook_url=webhook_url,
        sign_webhooks=sign_webhooks,
    ).start()
