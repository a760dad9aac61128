"""The WhatsApp Cloud API webhook (docs/whatsapp.md): a thin edge over wijkbot.whatsapp and wijkbot.channels.

- GET /webhooks/whatsapp: Meta's verification handshake (`hub.mode`, `hub.verify_token`, `hub.challenge`).
- POST /webhooks/whatsapp: every payload must carry a valid `X-Hub-Signature-256` (HMAC-SHA256 of the raw
  body with the app secret); one without is refused with 401 and nothing is stored. A resident's message is
  stored in the inbound log as the update it amounts to (once per wamid: Meta redelivers until it gets a 200),
  and only then handed to the bot and acknowledged; a status (sent, delivered, read, failed) is recorded on
  its outbox row. A message the bot cannot read here (a photo, a voice note) gets a clear answer.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from db.session import transaction
from web.bodies import read_capped
from wijkbot import channel_intake
from wijkbot.channels import WHATSAPP, BadInput, address_chat, receive, window_closed, wrote
from wijkbot.outbox import enqueue, record_channel_status
from wijkbot.payloads import Text
from wijkbot.purposes import unsupported_message
from wijkbot.services import Services
from wijkbot.whatsapp import Incoming, StatusUpdate, parse_webhook, verify_signature, verify_subscription

log = logging.getLogger(__name__)
UNREADABLE = (
    "Dit soort bericht kan ik via WhatsApp nog niet lezen. Typ je bericht in woorden, of kies een van de knoppen."
)
MAX_WEBHOOK_BODY = 1024 * 1024
RE_ENGAGEMENT = 131047  # Meta: more than 24 hours since the resident's last message


def whatsapp_router(services: Services, *, clock: Callable[[], datetime], wake: Callable[[], None]) -> APIRouter:
    """The webhook's two routes for these services (only mounted when WhatsApp is configured)."""
    settings = services.settings
    assert settings.whatsapp_app_secret is not None and settings.whatsapp_verify_token is not None
    app_secret = settings.whatsapp_app_secret.get_secret_value()
    verify_token = settings.whatsapp_verify_token.get_secret_value()
    phone_number_id = settings.whatsapp_phone_number_id.strip()
    router = APIRouter()

    @router.get("/webhooks/whatsapp")
    def subscribe(request: Request) -> Response:
        challenge = verify_subscription(dict(request.query_params), verify_token)
        if challenge is None:
            return PlainTextResponse("verification failed", status_code=403)
        return PlainTextResponse(challenge)

    @router.post("/webhooks/whatsapp")
    async def webhook(request: Request) -> Response:
        body = await read_capped(request, MAX_WEBHOOK_BODY)
        if body is None:  # Meta's payloads are small; a larger one is not read, let alone stored
            return JSONResponse({"error": "payload too large"}, status_code=413)
        if not verify_signature(app_secret, body, request.headers.get("x-hub-signature-256")):
            log.warning("a WhatsApp webhook with a bad or missing signature was refused")
            return JSONResponse({"error": "invalid signature"}, status_code=401)
        try:
            events = parse_webhook(json.loads(body), phone_number_id=phone_number_id)
        except ValueError:  # not JSON, or not a WhatsApp webhook at all; signed, so Meta's: log it
            log.error("a signed WhatsApp webhook could not be read")
            return JSONResponse({"error": "not a WhatsApp webhook payload"}, status_code=400)
        _hand_over(await run_in_threadpool(store, events))
        wake()
        return JSONResponse({"ok": True})

    def store(events: list[Incoming | StatusUpdate]) -> list[dict[str, Any]]:
        """All events of one payload in one transaction: stored together, or (on an error) not at all, so that
        Meta's redelivery brings them again."""
        now = clock()
        updates: list[dict[str, Any]] = []
        with transaction(services.sessions) as session:
            for event in events:
                if isinstance(event, StatusUpdate):
                    _status(session, event, now)
                    continue
                update = _incoming(session, event, now)
                if update is not None:
                    updates.append(update)
        return updates

    return router


def _hand_over(updates: list[dict[str, Any]]) -> None:
    for update in updates:
        try:
            channel_intake.dispatch(update)
        except Exception:  # stored: the bot takes it from the inbound log when it starts again
            log.exception("a stored WhatsApp update could not be handed to the bot")


def _status(session: Any, event: StatusUpdate, now: datetime) -> None:
    """A status on its outbox row; a refusal for a closed window puts the row back in the queue."""
    if event.status == "failed" and event.error_code == RE_ENGAGEMENT:
        window_closed(session, channel_message_id=event.message_id, now=now)
        return
    error = f"WhatsApp {event.error_code}: {event.error_title}" if event.error_code else None
    record_channel_status(
        session, channel_message_id=event.message_id, status=event.status, at=event.timestamp, error=error
    )


def _incoming(session: Any, event: Incoming, now: datetime) -> dict[str, Any] | None:
    chat_id = address_chat(session, channel=WHATSAPP, address=event.wa_id, name=event.name, now=now)
    try:
        if event.reply_id:
            return receive(
                session,
                channel=WHATSAPP,
                chat_id=chat_id,
                external_id=event.message_id,
                button=event.reply_id,
                name=event.name,
                reply_to=event.context_id,
                at=event.timestamp,
                now=now,
            )
        if event.text and event.text.strip():
            return receive(
                session,
                channel=WHATSAPP,
                chat_id=chat_id,
                external_id=event.message_id,
                text=event.text[:4096],
                name=event.name,
                at=event.timestamp,
                now=now,
            )
    except BadInput as exc:
        log.info("a WhatsApp message was not taken: %s", exc)
    wrote(session, chat_id=chat_id, at=min(event.timestamp, now), now=now)
    enqueue(
        session,
        purpose=unsupported_message(event.message_id),
        chat_id=chat_id,
        message=Text(text=UNREADABLE),
        priority=10,
        now=now,
    )
    return None
