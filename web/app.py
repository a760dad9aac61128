"""The staff workspace on the web: a thin FastAPI edge over wijkbot.web_login, wijkbot.workspace and
wijkbot.staff_loop (docs/web.md).

- Signing in: GET /login/<token> redeems a one-time link (wijkbot.web_login) and sets the session: a signed
  cookie (HttpOnly, SameSite=Lax, Secure when WEB_BASE_URL is https) holding the staff id, the time it was
  issued and a CSRF token. Every request reads the staff member from the database again, so deactivation or
  new areas count at once; rights come from wijkbot.rights, as in Telegram.
- Every form is a POST carrying the session's CSRF token; a request without it is refused (403).
- Templates escape everything (Jinja2 autoescape): resident text is hostile input. URLs carry item numbers
  only; the inbox's filters and search are posted, not put in the address.
- A reply goes through wijkbot.staff_loop.reply, the one write path Telegram uses: an outbox row to the
  resident's chat, then `wake` tells the bot's sender to send it now.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.orm import Session
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from db import models
from db.models import utcnow
from db.session import transaction
from web import chat
from web.photos import Image, PhotoUnavailable, telegram_fetcher
from wijkbot import outbox_wake
from wijkbot.charts import labelled_bar_chart_png
from wijkbot.departments import forward_to_department
from wijkbot.rights import NotAllowed
from wijkbot.services import Services
from wijkbot.staff import active_staff
from wijkbot.staff_loop import claim, close, forward, reply
from wijkbot.statistics import (
    as_csv,
    initiative_table,
    month_chart,
    month_table,
    reach_table,
    statistics_for,
    theme_table,
    time_chart,
    time_table,
)
from wijkbot.telegram_html import plain_text
from wijkbot.themes import shipped_themes
from wijkbot.web_login import LoginRefused, redeem
from wijkbot.webchat import NOTIFIER, Notifier
from wijkbot.workspace import (
    InboxFilter,
    add_note,
    fill_canned_answer,
    inbox,
    item_view,
    open_blanks,
    photo_file_id,
)

HERE = Path(__file__).resolve().parent
COOKIE = "wijkbot_session"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


@dataclass(frozen=True)
class WebSession:
    staff_id: int
    csrf: str
    issued: datetime


class SignedIn(Exception):
    """Raised inside a route when there is no valid session: the answer is the sign-in page."""


class SecurityHeaders(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"  # a login link never leaks through Referer
        response.headers["X-Frame-Options"] = "DENY"
        if response.headers.get("content-type", "").startswith("text/html"):
            response.headers["Cache-Control"] = "no-store"
        return response


def create_app(
    services: Services,
    *,
    clock: Callable[[], datetime] = utcnow,
    wake: Callable[[], None] = outbox_wake.queued,
    secret_key: str | None = None,
    fetch_photo: Callable[[str], Image] | None = None,
    chat_dispatch: Callable[[dict[str, Any]], None] | None = None,
    chat_notifier: Notifier = NOTIFIER,
) -> FastAPI:
    """The workspace for these services. `clock` is the one clock (link expiry, sessions, actions); `wake` is
    called after a change that queued messages; `fetch_photo` gets a resident's photo by its Telegram file id
    (default: from the Bot API of the settings, web.photos). With WEB_CHAT on it serves the web chat too
    (web.chat): `chat_dispatch` hands a resident's message to the bot (default: wijkbot.channel_intake), the web
    transport wakes the long polls through `chat_notifier`."""
    settings = services.settings
    fetch_photo = fetch_photo or telegram_fetcher(settings)
    shipped_themes()  # a bad themes.yaml stops the start, with the file, the place and the problem
    if secret_key is None:
        key = settings.web_secret_key
        secret_key = key.get_secret_value() if key is not None else secrets.token_urlsafe(32)
    signer = URLSafeSerializer(secret_key, salt="wijkbot-web-session")
    secure = settings.web_url.startswith("https://")
    session_length = timedelta(hours=settings.web_session_hours)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    zone = settings.zone
    templates.env.filters["local"] = lambda moment: moment.astimezone(zone).strftime("%d-%m-%Y %H:%M")
    app = FastAPI(title="wijkbot werkplek", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    if settings.whatsapp_enabled:  # the WhatsApp Cloud API's webhook (issue 14; docs/whatsapp.md)
        from web.whatsapp import whatsapp_router

        app.include_router(whatsapp_router(services, clock=clock, wake=wake))
    if settings.web_chat:
        chat.install(app, services, secret_key=secret_key, clock=clock, dispatch=chat_dispatch, notifier=chat_notifier)

    @contextmanager
    def db() -> Iterator[Session]:
        with transaction(services.sessions) as session:
            yield session

    def read_session(request: Request) -> WebSession | None:
        raw = request.cookies.get(COOKIE)
        if not raw:
            return None
        try:
            data = signer.loads(raw)
            found = WebSession(int(data["s"]), str(data["c"]), datetime.fromisoformat(str(data["t"])))
        except (BadSignature, KeyError, TypeError, ValueError):
            return None
        if not timedelta(0) <= clock() - found.issued <= session_length:
            return None
        return found

    def staff_of(session: Session, web: WebSession | None) -> models.StaffMember:
        """The signed-in staff member, read from the database now (deactivated: no session at all)."""
        member = active_staff(session, staff_id=web.staff_id) if web is not None else None
        if member is None:
            raise SignedIn()
        return member

    def page(
        request: Request, name: str, context: dict[str, Any], *, status: int = 200, web: WebSession | None = None
    ) -> HTMLResponse:
        context = {"csrf": web.csrf if web else "", "signed_in": web is not None, **context}
        return templates.TemplateResponse(request, name, context, status_code=status)

    def refused(request: Request, message: str, web: WebSession | None, status: int = 403) -> HTMLResponse:
        return page(request, "message.html", {"title": "Geen toegang", "message": message}, status=status, web=web)

    def check_csrf(web: WebSession | None, token: str) -> WebSession:
        if web is None:
            raise SignedIn()
        if not hmac.compare_digest(web.csrf.encode(), token.encode()):
            raise NotAllowed("Dit formulier is verlopen of komt niet van de werkplek. Laad de pagina opnieuw.")
        return web

    @app.exception_handler(SignedIn)
    async def sign_in_first(request: Request, exc: SignedIn) -> Response:
        response = page(request, "login.html", {"title": "Inloggen"}, status=401)
        response.delete_cookie(COOKIE, path="/")
        return response

    @app.exception_handler(NotAllowed)
    async def not_allowed(request: Request, exc: NotAllowed) -> Response:
        return refused(request, str(exc), read_session(request))

    @app.get("/", include_in_schema=False)
    def home(request: Request) -> Response:
        if read_session(request) is None:
            return page(request, "login.html", {"title": "Inloggen"})
        return RedirectResponse("/inbox", status_code=303)

    @app.get("/login", response_class=HTMLResponse)
    def login_page(request: Request) -> Response:
        return page(request, "login.html", {"title": "Inloggen"})

    @app.get("/login/{token}")
    def login(request: Request, token: str) -> Response:
        try:
            with db() as session:
                staff_id = redeem(session, token=token[:100], now=clock())
        except LoginRefused as exc:
            return page(request, "message.html", {"title": "Inloglink werkt niet", "message": str(exc)}, status=403)
        value = signer.dumps({"s": staff_id, "c": secrets.token_urlsafe(24), "t": clock().isoformat()})
        response = RedirectResponse("/inbox", status_code=303)
        response.set_cookie(
            COOKIE,
            value,
            max_age=int(session_length.total_seconds()),
            path="/",
            secure=secure,
            httponly=True,
            samesite="lax",
        )
        return response

    @app.post("/logout")
    def logout(request: Request, csrf: str = Form("")) -> Response:
        check_csrf(read_session(request), csrf)
        response = page(request, "message.html", {"title": "Uitgelogd", "message": "Je bent uitgelogd."})
        response.delete_cookie(COOKIE, path="/")
        return response

    def show_inbox(request: Request, wanted: InboxFilter, web: WebSession | None) -> Response:
        with db() as session:
            staff = staff_of(session, web)
            found = inbox(session, services.registry, staff=staff, wanted=wanted, now=clock())
            name = staff.name
        return page(request, "inbox.html", {"title": "Inbox", "inbox": found, "staff_name": name}, web=web)

    @app.get("/inbox", response_class=HTMLResponse)
    def inbox_page(request: Request) -> Response:
        return show_inbox(request, InboxFilter(), read_session(request))

    @app.post("/inbox", response_class=HTMLResponse)
    def inbox_filtered(
        request: Request,
        csrf: str = Form(""),
        area: str = Form(""),
        kind: str = Form(""),
        state: str = Form("open"),
        age: str = Form(""),
        search: str = Form(""),
        theme: str = Form(""),
    ) -> Response:
        web = check_csrf(read_session(request), csrf)
        return show_inbox(request, InboxFilter(area, kind, state, age, search, theme=theme), web)

    def show_item(
        request: Request,
        item_id: int,
        web: WebSession | None,
        notice: str = "",
        *,
        reply_text: str = "",
        status: int = 200,
    ) -> Response:
        with db() as session:
            staff = staff_of(session, web)
            view = item_view(session, services.registry, staff=staff, item_id=item_id)
            name = staff.name
        context = {
            "title": f"Item {view.id}",
            "item": view,
            "notice": notice,
            "staff_name": name,
            "reply_text": reply_text,
        }
        return page(request, "item.html", context, status=status, web=web)

    @app.get("/items/{item_id}", response_class=HTMLResponse)
    def item_page(request: Request, item_id: int) -> Response:
        return show_item(request, item_id, read_session(request))

    @app.get("/items/{item_id}/photos/{number}")
    def item_photo(request: Request, item_id: int, number: int) -> Response:
        """A resident's photo, fetched from Telegram for a staff member who may see the item; never cached."""
        web = read_session(request)
        with db() as session:
            file_id = photo_file_id(session, staff=staff_of(session, web), item_id=item_id, number=number)
        try:
            image = fetch_photo(file_id)
        except PhotoUnavailable:
            message = "Deze foto is nu niet te laden. Probeer het later nog eens."
            return page(request, "message.html", {"title": "Foto niet beschikbaar", "message": message}, status=502)
        return Response(image.data, media_type=image.content_type, headers={"Cache-Control": "no-store"})

    def act(request: Request, item_id: int, csrf: str, work: Callable[[Session, models.StaffMember], str]) -> Response:
        web = check_csrf(read_session(request), csrf)
        with db() as session:
            message = work(session, staff_of(session, web))
        wake()
        return show_item(request, item_id, web, notice=plain_text(message))  # staff_loop speaks Telegram HTML

    @app.post("/items/{item_id}/claim", response_class=HTMLResponse)
    def claim_item(request: Request, item_id: int, csrf: str = Form("")) -> Response:
        return act(request, item_id, csrf, lambda s, staff: claim(s, staff=staff, item_id=item_id, now=clock()).message)

    @app.post("/items/{item_id}/canned", response_class=HTMLResponse)
    def canned_answer(request: Request, item_id: int, csrf: str = Form(""), key: str = Form("")) -> Response:
        """A standard answer into the reply box (nothing is sent): with HTMX only the box, otherwise the page."""
        web = check_csrf(read_session(request), csrf)
        with db() as session:
            staff = staff_of(session, web)
            text = fill_canned_answer(session, services.registry, staff=staff, item_id=item_id, key=key[:40])
        if request.headers.get("HX-Request") == "true":
            return page(request, "reply_box.html", {"reply_text": text}, web=web)
        notice = "Het standaardantwoord staat in het antwoordvak. Pas het aan en verstuur het."
        return show_item(request, item_id, web, notice, reply_text=text)

    @app.post("/items/{item_id}/reply", response_class=HTMLResponse)
    def reply_item(request: Request, item_id: int, csrf: str = Form(""), text: str = Form("")) -> Response:
        blanks = open_blanks(text)
        if blanks:
            web = check_csrf(read_session(request), csrf)
            notice = f"Vul eerst {', '.join(blanks)} in. Er is nog niets verstuurd."
            return show_item(request, item_id, web, notice, reply_text=text, status=422)

        def work(session: Session, staff: models.StaffMember) -> str:
            if not text.strip():
                raise NotAllowed("Je antwoord is leeg; er is niets verstuurd.")
            return reply(
                session, services.registry, staff=staff, item_id=item_id, text=text.strip(), now=clock()
            ).message

        return act(request, item_id, csrf, work)

    @app.post("/items/{item_id}/close", response_class=HTMLResponse)
    def close_item(
        request: Request, item_id: int, csrf: str = Form(""), outcome: str = Form(""), text: str = Form("")
    ) -> Response:
        def work(session: Session, staff: models.StaffMember) -> str:
            chosen = text.strip() or outcome
            return close(session, staff=staff, item_id=item_id, outcome=chosen, now=clock()).message

        return act(request, item_id, csrf, work)

    @app.post("/items/{item_id}/forward", response_class=HTMLResponse)
    def forward_item(request: Request, item_id: int, csrf: str = Form(""), to: str = Form("")) -> Response:
        def work(session: Session, staff: models.StaffMember) -> str:
            if not to.isdigit():
                raise NotAllowed("Kies een collega om naar door te sturen.")
            return forward(
                session,
                services.registry,
                staff=staff,
                item_id=item_id,
                to_staff_id=int(to),
                now=clock(),
                remind_after=timedelta(hours=settings.reminder_after_hours),
                escalate_after=timedelta(hours=settings.escalate_after_hours),
            ).message

        return act(request, item_id, csrf, work)

    @app.post("/items/{item_id}/forward-department", response_class=HTMLResponse)
    def forward_item_to_department(
        request: Request, item_id: int, csrf: str = Form(""), department: str = Form("")
    ) -> Response:
        def work(session: Session, staff: models.StaffMember) -> str:
            return forward_to_department(
                session,
                services.registry,
                staff=staff,
                item_id=item_id,
                key=department[:40],
                now=clock(),
                remind_after=timedelta(hours=settings.reminder_after_hours),
                escalate_after=timedelta(hours=settings.escalate_after_hours),
            ).message

        return act(request, item_id, csrf, work)

    @app.post("/items/{item_id}/note", response_class=HTMLResponse)
    def note_item(request: Request, item_id: int, csrf: str = Form(""), text: str = Form("")) -> Response:
        def work(session: Session, staff: models.StaffMember) -> str:
            add_note(session, staff=staff, item_id=item_id, text=text, now=clock())
            return "Je notitie is opgeslagen. De inwoner ziet haar niet."

        return act(request, item_id, csrf, work)

    def statistics(web: WebSession | None) -> tuple[str, Any]:
        with db() as session:
            staff = staff_of(session, web)
            found = statistics_for(
                session,
                services.registry,
                staff=staff,
                zone=settings.zone,
                threshold=settings.small_group_threshold,
                now=clock(),
            )
            return staff.name, found

    @app.get("/stats", response_class=HTMLResponse)
    def stats_page(request: Request) -> Response:
        web = read_session(request)
        name, found = statistics(web)
        context = {
            "title": "Statistieken",
            "staff_name": name,
            "stats": found,
            "months": month_table(found),
            "themes": theme_table(found),
            "times": time_table(found),
            "initiatives": initiative_table(found),
            "reach": reach_table(found),
        }
        return page(request, "stats.html", context, web=web)

    @app.get("/stats/{table}.png")
    def stats_chart(request: Request, table: str) -> Response:
        """The chart beside a table: one of its columns drawn, "<5" where the table hides a number."""
        charts = {"maanden": month_chart, "doorlooptijden": time_chart}
        if table not in charts:
            return refused(request, "Deze grafiek bestaat niet.", read_session(request), status=404)
        _, found = statistics(read_session(request))
        chart = charts[table](found)
        png = labelled_bar_chart_png(
            title=chart.title, labels=chart.labels, values=chart.values, texts=chart.texts, subtitle=chart.axis
        )
        return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})

    @app.get("/stats/{table}.csv")
    def stats_csv(request: Request, table: str) -> Response:
        tables = {
            "maanden": month_table,
            "themas": theme_table,
            "doorlooptijden": time_table,
            "initiatieven": initiative_table,
            "bereik": reach_table,
        }
        if table not in tables:
            return refused(request, "Deze tabel bestaat niet.", read_session(request), status=404)
        _, found = statistics(read_session(request))
        header, rows = tables[table](found)
        return Response(
            as_csv(header, rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="wijkbot-{table}.csv"'},
        )

    return app
