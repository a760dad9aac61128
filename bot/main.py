"""Wiring: build the Telegram application from the settings; serve it (or the terminal chat without a token)."""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session
from telegram import Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    PollAnswerHandler,
    TypeHandler,
    filters,
)

from bot import announce_wizard, callbacks, initiative, poll_wizard, polls, privacy, resident, staff
from bot.callbacks import answer_quietly
from bot.conversation import Conversation
from bot.intake import Stored, StoringUpdateQueue, redispatch_pending
from bot.menu import register_menus
from bot.processor import ChatLocks, PerChatUpdateProcessor, chat_key
from bot.rasa_client import RasaClient
from bot.runtime import RUNTIME_KEY, Runtime, runtime
from bot.sender import OutboxSender, RateLimiter, Transport
from bot.telegram_transport import TelegramTransport
from bot.web_transport import WebTransport
from bot.whatsapp_transport import WhatsAppTransport, make_client
from db.session import make_engine
from wijkbot import channel_intake, outbox_wake, purposes
from wijkbot.channels import WEB, WHATSAPP, Recipient, whatsapp_recipient
from wijkbot.digest import due_month, queue_digests
from wijkbot.inbound import finish_handled, is_pending, pending_chats, record_update
from wijkbot.initiatives import end_support_periods
from wijkbot.pending import expire_pending, record_handler_error
from wijkbot.privacy import expire_old_data, stored_update
from wijkbot.services import open_services
from wijkbot.settings import Settings
from wijkbot.staff import is_staff
from wijkbot.staff_loop import remind_and_escalate

log = logging.getLogger(__name__)


def classify(update: Update) -> str:
    if update.callback_query is not None:
        return "callback"
    if update.poll_answer is not None:
        return "poll_answer"
    if update.edited_message is not None:
        return "edited"
    message = update.message
    if message is None:
        return "other"
    if message.text is not None:
        return "command" if message.text.startswith("/") else "text"
    return "media"


def record(update: Update, *, now: datetime) -> Callable[[Session], bool]:
    """Store an update in the inbound log (False: stored before)."""
    kind = classify(update)
    key = chat_key(update)
    return lambda s: record_update(
        s, update_id=update.update_id, chat_id=key, kind=kind, payload=stored_update(update.to_dict()), now=now
    )


def record_at_intake(update: Update, *, now: datetime) -> Callable[[Session], Stored]:
    """Store an update (as `record`); for a text typed in a private chat, look its sender up among the staff in
    the same transaction, so that the staff handler need not (`StoringUpdateQueue.from_resident`)."""
    store = record(update, now=now)
    user, chat = update.effective_user, update.effective_chat
    private_text = classify(update) == "text" and chat is not None and chat.type == "private"
    typed_by = user.id if private_text and user is not None else None

    def work(session: Session) -> Stored:
        new = store(session)
        staff = typed_by is None or is_staff(session, telegram_id=typed_by)
        return Stored(new=new, resident_text=new and not staff)

    return work


async def store_update(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Before any handler: an update is stored (normally at intake already, see bot/intake.py) and still
    pending; one handled before stops here."""
    rt = runtime(context)
    queue = context.application.update_queue
    if isinstance(queue, StoringUpdateQueue) and queue.admitted(update.update_id):
        return  # stored by the intake just now (or handed back on start): pending, nothing to look up
    store = record(update, now=rt.clock())

    def admit(session: Session) -> bool:
        # True when it reached the handlers without the intake queue
        return store(session) or is_pending(session, update_id=update.update_id)

    if not await rt.db(admit):
        log.info("update %s was delivered again; handled once already", update.update_id)
        raise ApplicationHandlerStop


async def finish_update(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Mark handled every update that is not a waiting resident turn (those are marked when answered)."""
    rt = runtime(context)
    if rt.conversation.took(update.update_id):  # a resident turn: marked done when answered, nothing to do
        return
    now = rt.clock()
    await rt.db(lambda s: finish_handled(s, update_id=update.update_id, now=now))


async def route_private_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Typed text in a private chat: staff get the staff loop (one staff look-up), a reply to the postcode
    question of an initiative counts the support, everyone else gets the assistant."""
    if not await staff.handle_staff_text(update, context) and not await initiative.answer_postcode(update, context):
        await resident.forward_text(update, context)


async def retry_waiting_turns(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer resident turns that waited for Rasa, chat by chat, in order. A chat that raises does not stop
    the round: the others are still answered (a turn that keeps raising is failed by Conversation.drain)."""
    rt = runtime(context)
    now = rt.clock()
    chats = await rt.db(lambda s: pending_chats(s, now=now))
    for chat_id in chats:
        try:
            async with rt.locks.hold(chat_id):
                if not await rt.conversation.drain(chat_id):
                    break  # Rasa is still away; the next round tries again
        except Exception:  # e.g. the database failed while recording the error: the next round tries again
            log.exception("retrying the waiting turns of chat %s failed; going on with the other chats", chat_id)


async def send_reminders(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Remind, then escalate, items nobody claimed in time; initiatives whose support period ended go to review."""
    rt = runtime(context)
    now = rt.clock()
    registry = rt.services.registry

    def due(session: Session) -> int:
        reminded, escalated = remind_and_escalate(session, registry, now=now)
        return reminded + escalated + end_support_periods(session, registry, now=now)

    if await rt.db(due):
        rt.sender.wake()


async def send_monthly_digest(context: ContextTypes.DEFAULT_TYPE) -> None:
    """The wijkwethouder digest (wijkbot.digest): from the 1st at 09:00 the previous month's, once per lead."""
    rt = runtime(context)
    settings = rt.services.settings
    now = rt.clock()
    month = due_month(now, settings.zone)
    if month is None:
        return
    queued = await rt.db(
        lambda s: queue_digests(
            s,
            rt.services.registry,
            month=month,
            zone=settings.zone,
            now=now,
            web_url=settings.web_url,
            threshold=settings.small_group_threshold,
        )
    )
    if queued:
        rt.sender.wake()


async def expire_old_data_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Retention: remove conversation content and closed items' personal data past the period."""
    rt = runtime(context)
    retention = timedelta(days=rt.services.settings.retention_days)
    now = rt.clock()

    def expire(session: Session) -> dict[str, int]:
        expire_pending(session, cutoff=now - retention, now=now)  # never handled: given up, then removed
        return expire_old_data(session, retention=retention, now=now, tracker=rt.tracker)

    removed = await rt.db(expire)
    log.info("retention: removed %s", removed)


async def log_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A handler raised. Its update is never marked done as if handled: a resident turn stays pending (the
    retry job answers it), anything else is marked failed, logged as an error and told to the municipality's
    inbox (wijkbot.inbound.record_handler_error); the presser of a button is asked to try again. The remaining
    handlers (finish_update) are stopped."""
    log.error("error while handling an update", exc_info=context.error)
    rt = context.bot_data.get(RUNTIME_KEY) if isinstance(update, Update) else None
    if not isinstance(update, Update) or not isinstance(rt, Runtime):
        return
    now = rt.clock()

    error = f"{type(context.error).__name__}: {context.error}"[:300]
    status = await rt.db(lambda s: record_handler_error(s, update_id=update.update_id, error=error, now=now))
    log.error("update %s raised in its handler; left %s, not done", update.update_id, status)
    if update.callback_query is not None:
        await answer_quietly(update.callback_query, "Er ging iets mis. Probeer het zo nog eens.", show_alert=True)
    raise ApplicationHandlerStop


def channel_transports(
    settings: Settings, application: Application[Any, Any, Any, Any, Any, Any], rt: Callable[[], Runtime]
) -> dict[str, tuple[Transport, RateLimiter]]:
    """The transports and limits of the configured channels besides Telegram (docs/channels.md); their HTTP
    clients are closed in post_shutdown."""
    channels: dict[str, tuple[Transport, RateLimiter]] = {}
    if settings.web_chat:  # the widget fetches what is sent: no platform, no limits
        channels[WEB] = (WebTransport(), RateLimiter(per_second=None, per_chat_gap=0.0, group_gap=0.0))
    if settings.whatsapp_enabled:
        client = make_client(settings)
        application.bot_data.setdefault("channel_clients", []).append(client)

        async def recipient(chat_id: int) -> Recipient | None:
            now = rt().clock()
            return await rt().db(lambda s: whatsapp_recipient(s, chat_id, now=now))

        limiter = RateLimiter(per_second=settings.whatsapp_per_second, per_chat_gap=0.0, group_gap=0.0)
        channels[WHATSAPP] = (WhatsAppTransport(client, recipient, settings), limiter)
    return channels


def listen_to_channels(application: Application[Any, Any, Any, Any, Any, Any], rt: Runtime) -> Callable[[], None]:
    """Take the updates the web chat and WhatsApp stored (wijkbot.channel_intake) onto this bot's queue, from
    the web app's thread; answer their button presses' alerts as messages. Returns how to stop."""
    loop = asyncio.get_running_loop()
    queue = application.update_queue
    assert isinstance(queue, StoringUpdateQueue)

    def intake(data: dict[str, Any]) -> None:
        update = Update.de_json(data, application.bot)
        if update is not None:
            asyncio.run_coroutine_threadsafe(queue.put_stored(update), loop)

    async def notice(chat_id: int, update_id: int, text: str) -> None:
        await rt.say(chat_id, purposes.button_notice(update_id), html.escape(text))

    callbacks.channel_notice = notice
    stop = channel_intake.listen(intake)

    def stop_all() -> None:
        stop()
        if callbacks.channel_notice is notice:
            callbacks.channel_notice = None

    return stop_all


def add_handlers(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """All handlers, in the order they are tried."""
    private = filters.ChatType.PRIVATE
    application.add_handler(TypeHandler(Update, store_update), group=-1)
    application.add_handler(CallbackQueryHandler(staff.press_item_button, pattern=r"^item:"))
    application.add_handler(CallbackQueryHandler(resident.press_rasa_button, pattern=r"^rb:"))
    application.add_handler(CallbackQueryHandler(initiative.press_pick, pattern=r"^ii:\d+$"))
    application.add_handler(CallbackQueryHandler(initiative.press_money, pattern=r"^ii:\d+:(free|money)$"))
    application.add_handler(CallbackQueryHandler(initiative.press_amount, pattern=r"^ii:\d+:m\d+(:[jn]*)?$"))
    application.add_handler(CallbackQueryHandler(initiative.press_support, pattern=r"^is:[a-z0-9]{8}:(support|join)$"))
    application.add_handler(CallbackQueryHandler(initiative.press_decision, pattern=r"^ini:\d+:"))
    # --- polls and outreach (issue 5): /peiling must come before the general command, text and button handlers
    application.add_handler(poll_wizard.conversation())
    application.add_handler(announce_wizard.conversation())  # /aankondiging (issue 12)
    application.add_handler(PollAnswerHandler(polls.record_poll_answer))
    # --- end polls and outreach
    application.add_handler(MessageHandler(filters.ChatType.GROUPS, resident.answer_group))
    application.add_handler(CommandHandler("start", resident.start, filters=private))
    application.add_handler(CommandHandler("help", resident.show_help, filters=private))
    application.add_handler(CommandHandler("mijnideeen", resident.list_my_items, filters=private))
    application.add_handler(CommandHandler("initiatief", initiative.start_command, filters=private))
    application.add_handler(CommandHandler("gerealiseerd", initiative.show_realised, filters=private))
    application.add_handler(CommandHandler("stop", resident.stop_outreach, filters=private))
    application.add_handler(CommandHandler("inbox", staff.show_inbox, filters=private))
    application.add_handler(CommandHandler("web", staff.send_web_link, filters=private))
    application.add_handler(CommandHandler("wijklink", staff.send_wijk_links, filters=private))
    application.add_handler(CommandHandler("mijngegevens", privacy.export_my_data, filters=private))
    application.add_handler(CommandHandler("vergeetmij", privacy.ask_to_forget, filters=private))
    application.add_handler(CallbackQueryHandler(privacy.confirm_forget, pattern=r"^forget:"))
    application.add_handler(CallbackQueryHandler(staff.press_inbox_page, pattern=r"^inbox:\d+$"))
    application.add_handler(CallbackQueryHandler(resident.press_my_items_page, pattern=r"^mine:\d+$"))
    application.add_handler(CallbackQueryHandler(resident.answer_link_offer, pattern=r"^(wl|of):(yes:WK\d{6}|no)$"))
    application.add_handler(CallbackQueryHandler(announce_wizard.press, pattern=announce_wizard.PRESS_PATTERN))
    application.add_handler(CallbackQueryHandler(resident.answer_buurt, pattern=r"^bu:(BU\d{8}|none)$"))
    application.add_handler(CallbackQueryHandler(resident.answer_stale_button))
    application.add_handler(MessageHandler(private & filters.COMMAND, resident.answer_unknown_command))
    application.add_handler(MessageHandler(private & filters.TEXT & filters.UpdateType.MESSAGE, route_private_text))
    application.add_handler(MessageHandler(private & filters.PHOTO & filters.UpdateType.MESSAGE, resident.attach_photo))
    application.add_handler(
        MessageHandler(private & filters.LOCATION & filters.UpdateType.MESSAGE, resident.answer_location)
    )
    application.add_handler(MessageHandler(private & filters.UpdateType.EDITED, resident.answer_edit))
    application.add_handler(MessageHandler(private & filters.UpdateType.MESSAGE, resident.answer_non_text))
    application.add_handler(TypeHandler(Update, finish_update), group=99)
    application.add_error_handler(log_error)


async def post_stop(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """No more updates are handled: the listeners stop, and the sender finishes the batch in hand while the
    bot's HTTP client is still open (PTB closes it before post_shutdown)."""
    rt = application.bot_data.get(RUNTIME_KEY)
    for key in ("stop_listening", "stop_channels"):
        stop = application.bot_data.pop(key, None)
        if stop is not None:
            stop()
    if isinstance(rt, Runtime):
        await rt.sender.stop()


def build_application(settings: Settings) -> Application[Any, Any, Any, Any, Any, Any]:
    """The Telegram application: handlers wired, shared clients opened in post_init, closed in post_shutdown."""
    if settings.telegram_bot_token is None:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    locks = ChatLocks()
    intake = StoringUpdateQueue()

    async def post_init(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        services = await asyncio.to_thread(open_services, settings)
        rasa = RasaClient.for_settings(settings)
        # one clock: the sender reads the runtime's, so replacing `Runtime.clock` moves every job and send
        sender = OutboxSender(
            services,
            TelegramTransport(application.bot),
            limiter=RateLimiter(
                per_chat_gap=settings.telegram_chat_gap_seconds, group_gap=settings.telegram_group_gap_seconds
            ),
            clock=lambda: rt.clock(),
            channels=channel_transports(settings, application, lambda: rt),
        )
        web = sender.channels.get(WEB)
        if web is not None and isinstance(web[0], WebTransport):
            sender.delivery_hooks.append(web[0].after_delivery)  # the widget's long polls wake after the commit
        conversation = Conversation(services, rasa, sender.wake, clock=lambda: rt.clock(), handoff=sender)
        tracker = make_engine(settings.rasa_tracker_url, wal=False)  # Rasa owns this file
        rt = Runtime(services, rasa, conversation, sender, locks, tracker)
        application.bot_data[RUNTIME_KEY] = rt
        sender.start()
        stop_listening = outbox_wake.listen(sender.wake)  # the web workspace's replies leave at once
        application.bot_data["stop_listening"] = stop_listening
        # from here on every update is stored before Telegram is acknowledged; then, before any new
        # update, the ones a crash left unhandled go back to the handlers
        intake.store = lambda update: rt.db(record_at_intake(update, now=rt.clock()))
        # listening before the stored updates are handed back: what the web app stores from now on is taken at
        # once, what it stored before is among the pending ones (each is handled once: bot/intake.py)
        application.bot_data["stop_channels"] = listen_to_channels(application, rt)
        await redispatch_pending(application, rt)
        await register_menus(application.bot, rt)
        jobs = application.job_queue
        if jobs is not None:
            jobs.run_repeating(retry_waiting_turns, interval=2.0, first=1.0, name="retry-waiting-turns")
            jobs.run_repeating(send_reminders, interval=timedelta(minutes=1), first=5.0, name="reminders")
            jobs.run_repeating(expire_old_data_job, interval=timedelta(hours=6), first=60.0, name="retention")
            jobs.run_repeating(send_monthly_digest, interval=timedelta(hours=1), first=120.0, name="digest")
            polls.schedule_jobs(jobs)  # polls and outreach (issue 5): due polls, closing polls, check-ins, nudges

    async def post_shutdown(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        rt = application.bot_data.get(RUNTIME_KEY)
        await post_stop(application)  # when the application was shut down without run_polling's stop
        if isinstance(rt, Runtime):
            for closing in application.bot_data.pop("channel_clients", []):
                await closing.aclose()
            await rt.rasa.aclose()
            rt.tracker.dispose()
            rt.services.close()

    builder: ApplicationBuilder[Any, Any, Any, Any, Any, Any] = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token.get_secret_value())
        .base_url(settings.telegram_base_url)
        .concurrent_updates(PerChatUpdateProcessor(64, locks))
        .update_queue(intake)
        .post_init(post_init)
        .post_stop(post_stop)
        .post_shutdown(post_shutdown)
    )
    if settings.telegram_base_file_url:
        builder = builder.base_file_url(settings.telegram_base_file_url)
    application = builder.build()
    add_handlers(application)
    return application


def serve(settings: Settings) -> None:
    """Serve Telegram (polling, or a webhook when WEBHOOK_URL is set); without a token, the terminal chat."""
    if settings.telegram_bot_token is None:
        from bot.terminal import run_terminal_chat

        print("No TELEGRAM_BOT_TOKEN set: starting the terminal chat. You are a resident; type /quit to stop.")
        if settings.web_chat or settings.whatsapp_enabled:
            print(
                "Note: the web chat and WhatsApp are answered by the bot, which needs TELEGRAM_BOT_TOKEN (staff work "
                "in Telegram); until it is set, what arrives there is stored and answered when the bot runs."
            )
        asyncio.run(run_terminal_chat(settings))
        return
    application = build_application(settings)
    if settings.webhook_url:
        if settings.webhook_secret is None:
            raise ValueError("WEBHOOK_URL needs WEBHOOK_SECRET, so that only Telegram can post updates")
        log.info("serving Telegram through the webhook %s", settings.webhook_url)
        application.run_webhook(
            listen=settings.webhook_listen,
            port=settings.webhook_port,
            url_path="telegram",
            webhook_url=settings.webhook_url,
            secret_token=settings.webhook_secret.get_secret_value(),
            allowed_updates=Update.ALL_TYPES,
        )
    else:
        log.info("serving Telegram with long polling")
        application.run_polling(allowed_updates=Update.ALL_TYPES)
