"""The web chat's HTTP edge (docs/webchat.md): a thin layer over wijkbot.webchat, mounted by web.app.create_app
only when WEB_CHAT is on.

- GET /widget.js: the widget, one script tag on the municipality's site.
- POST /chat/session: a new anonymous session (a signed token, no cookie).
- POST /chat/send: a text, a button's value or a poll's choices, stored in the inbound log and handed to the bot.
- GET /chat/messages: what the bot sent after a cursor; waits (long poll) until there is something.
- GET /chat/media/<row>, /chat/file/<row>: a photo's picture, a document, only to the session they were sent to.

Only the sites in WEB_CHAT_ORIGINS (and the app's own) get CORS headers on /chat/*. Nothing here sets a cookie:
the token travels in the body or the query.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.types import ASGIApp

from db.session import transaction
from web.bodies import read_capped
from wijkbot import channel_intake, webchat
from wijkbot.services import Services

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
WIDGET = HERE / "static" / "widget.js"
MAX_BODY = 64 * 1024
NO_SESSION = "Dit gesprek bestaat niet (meer). Begin een nieuw gesprek."


def origin_of(url: str) -> str:
    """scheme://host[:port] of a URL."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class ChatCors(BaseHTTPMiddleware):
    """CORS for /chat/*: the allowed origins get Access-Control-Allow-Origin (and a preflight for POSTing JSON);
    any other origin gets no CORS header at all, so its pages cannot read the answers."""

    def __init__(self, app: ASGIApp, *, origins: list[str]) -> None:
        super().__init__(app)
        self.origins = frozenset(origins)

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        if not request.url.path.startswith("/chat/"):
            return await call_next(request)
        origin = request.headers.get("origin")
        allowed = origin is not None and origin in self.origins
        if request.method == "OPTIONS" and "access-control-request-method" in request.headers:
            if not allowed:
                return Response(status_code=403, headers={"Vary": "Origin"})
            return Response(
                status_code=204,
                headers={
                    "Access-Control-Allow-Origin": str(origin),
                    "Access-Control-Allow-Methods": "GET, POST",
                    "Access-Control-Allow-Headers": "Content-Type",
                    "Access-Control-Max-Age": "600",
                    "Vary": "Origin",
                },
            )
        response = await call_next(request)
        response.headers["Vary"] = "Origin"
        if allowed:
            response.headers["Access-Control-Allow-Origin"] = str(origin)
        return response


def error(status: int, message: str, **extra: Any) -> JSONResponse:
    headers = {"Cache-Control": "no-store"}
    if "retry_after" in extra:
        headers["Retry-After"] = str(extra["retry_after"])
    return JSONResponse({"error": message, **extra}, status_code=status, headers=headers)


class ChatApi:
    """The handlers of the widget and the /chat/* API over these services. `dispatch` hands a stored update to
    the bot; `notifier` is what the web transport wakes; a long poll waits at most `poll_seconds`."""

    def __init__(
        self,
        services: Services,
        *,
        secret_key: str,
        clock: Callable[[], datetime],
        dispatch: Callable[[dict[str, Any]], None] | None = None,
        notifier: webchat.Notifier = webchat.NOTIFIER,
        limit: webchat.RateLimit | None = None,
        poll_seconds: float = 20.0,
    ) -> None:
        self.services = services
        self.secret_key = secret_key
        self.clock = clock
        self.dispatch = dispatch or channel_intake.dispatch
        self.notifier = notifier
        self.limit = limit or webchat.RateLimit()
        # new sessions per address: each one is a row, so a script cannot fill the database
        self.session_limit = webchat.RateLimit(limit=30, per=timedelta(minutes=10))
        self.poll_seconds = poll_seconds

    def router(self) -> APIRouter:
        router = APIRouter()
        router.add_api_route("/widget.js", self.widget, methods=["GET"], include_in_schema=False)
        router.add_api_route("/chat/session", self.new_session, methods=["POST"], include_in_schema=False)
        router.add_api_route("/chat/send", self.send, methods=["POST"], include_in_schema=False)
        router.add_api_route("/chat/messages", self.messages, methods=["GET"], include_in_schema=False)
        router.add_api_route("/chat/media/{row_id}", self.media, methods=["GET"], include_in_schema=False)
        router.add_api_route("/chat/file/{row_id}", self.file, methods=["GET"], include_in_schema=False)
        return router

    async def in_db(self, work: Callable[[Session], Any]) -> Any:
        """`work(session)` in one transaction, in a worker thread (the event loop never waits on the database)."""

        def run() -> Any:
            with transaction(self.services.sessions) as session:
                return work(session)

        return await run_in_threadpool(run)

    def widget(self) -> Response:
        return FileResponse(
            WIDGET, media_type="text/javascript; charset=utf-8", headers={"Cache-Control": "public, max-age=3600"}
        )

    async def new_session(self, request: Request) -> Response:
        now = self.clock()
        wait = self.session_limit.check(request.client.host if request.client else "?", now)
        if wait is not None:
            seconds = int(wait + 0.999)
            return error(
                429, f"Er worden te veel gesprekken gestart. Probeer het over {seconds} seconden.", retry_after=seconds
            )
        session_id, token = webchat.new_session(self.secret_key)
        await self.in_db(lambda s: webchat.open_chat(s, session_id=session_id, now=now))
        return JSONResponse(
            {"token": token, "intro": webchat.INTRO}, status_code=201, headers={"Cache-Control": "no-store"}
        )

    async def send(self, request: Request) -> Response:
        raw = await read_capped(request, MAX_BODY)
        if raw is None:
            return error(413, "Dit bericht is te groot.")
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return error(400, "Het bericht kon niet gelezen worden (geen geldige JSON).")
        session_id = webchat.session_of(self.secret_key, body.get("token") if isinstance(body, dict) else None)
        if session_id is None:
            return error(401, NO_SESSION)
        try:
            incoming = webchat.parse_send(body)
        except webchat.Refused as exc:
            return error(400, str(exc))
        now = self.clock()
        wait = self.limit.check(session_id, now)
        if wait is not None:
            seconds = int(wait + 0.999)
            return error(429, f"Je stuurt veel berichten achter elkaar. Wacht {seconds} seconden.", retry_after=seconds)
        try:
            accepted = await self.in_db(lambda s: webchat.accept(s, session_id=session_id, incoming=incoming, now=now))
        except webchat.Refused as exc:
            return error(400, str(exc))
        if accepted is None:
            return error(401, NO_SESSION)
        _chat_id, update = accepted
        if update is not None:  # None: this message id came before (a retried POST)
            try:
                self.dispatch(update)
            except Exception:  # stored: the bot takes it from the inbound log when it starts again
                log.exception("a stored web chat update could not be handed to the bot")
        return JSONResponse({"accepted": True}, status_code=202, headers={"Cache-Control": "no-store"})

    async def messages(self, token: str = "", after: str = "0", wait: str = "1") -> Response:
        """What the bot sent after the cursor; waits for it unless `wait=0` (the widget checks whether it is
        connected again after a failure)."""
        session_id = webchat.session_of(self.secret_key, token)
        if session_id is None:
            return error(401, NO_SESSION)
        if not (after.isascii() and after.isdigit()) or len(after) > 18:
            return error(400, "De cursor (after) moet een getal zijn.")
        cursor = int(after)
        chat_id = await self.in_db(lambda s: webchat.chat_of(s, session_id=session_id))
        if chat_id is None:
            return error(401, NO_SESSION)

        def look(session: Session) -> list[webchat.WebMessage] | None:
            if webchat.chat_of(session, session_id=session_id) != chat_id:  # erased meanwhile
                return None
            return webchat.messages_after(session, chat_id=chat_id, after=cursor, token=token)

        deadline = time.monotonic() + (self.poll_seconds if wait != "0" else 0.0)
        with self.notifier.waiting(chat_id) as woken:
            while True:
                woken.clear()  # before looking: a wake-up while we look is not lost
                found = await self.in_db(look)
                if found is None:  # erased while we waited: the goodbye is all there is left to show
                    farewell = self.notifier.take_farewell(chat_id)
                    return error(401, NO_SESSION, **({"farewell": farewell} if farewell else {}))
                remaining = deadline - time.monotonic()
                if found or remaining <= 0:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(woken.wait(), timeout=remaining)
        body = {"messages": [m.to_json() for m in found], "cursor": max([cursor, *(m.seq for m in found)])}
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    async def own_file(self, token: str, row_id: int, which: Callable[..., webchat.File | None]) -> webchat.File | None:
        session_id = webchat.session_of(self.secret_key, token)
        if session_id is None:
            return None

        def find(session: Session) -> webchat.File | None:
            chat_id = webchat.chat_of(session, session_id=session_id)
            return which(session, chat_id=chat_id, row_id=row_id) if chat_id is not None else None

        found: webchat.File | None = await self.in_db(find)
        return found

    async def media(self, row_id: int, token: str = "") -> Response:
        found = await self.own_file(token, row_id, webchat.image_of)
        if found is None:
            return error(404, "Deze afbeelding bestaat niet (meer).")
        return Response(found.data, media_type=found.content_type, headers={"Cache-Control": "private, no-store"})

    async def file(self, row_id: int, token: str = "") -> Response:
        found = await self.own_file(token, row_id, webchat.document_of)
        if found is None:
            return error(404, "Dit bestand bestaat niet (meer).")
        name = "".join(c for c in found.filename if c.isalnum() or c in "._-") or "bestand.txt"
        return Response(
            found.data,
            media_type=found.content_type,
            headers={"Cache-Control": "private, no-store", "Content-Disposition": f'attachment; filename="{name}"'},
        )


def install(
    app: FastAPI,
    services: Services,
    *,
    secret_key: str,
    clock: Callable[[], datetime],
    dispatch: Callable[[dict[str, Any]], None] | None = None,
    notifier: webchat.Notifier = webchat.NOTIFIER,
    poll_seconds: float = 20.0,
) -> None:
    """Mount the web chat on the app: its routes, and CORS for the sites that may embed it and the app itself."""
    origins = [*services.settings.chat_origins, origin_of(services.settings.web_url)]
    app.add_middleware(ChatCors, origins=origins)
    api = ChatApi(
        services, secret_key=secret_key, clock=clock, dispatch=dispatch, notifier=notifier, poll_seconds=poll_seconds
    )
    app.include_router(api.router())
