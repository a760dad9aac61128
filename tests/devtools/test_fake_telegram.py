"""The fake Bot API server, exercised with the real python-telegram-bot."""

from __future__ import annotations

import asyncio
import datetime as dtm
import socket
import threading
import time
import warnings
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    Message,
    Poll,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.ext import CallbackQueryHandler, ContextTypes, MessageHandler, filters

from devtools.fake_telegram import (
    FakeTelegramServer,
    HtmlParseError,
    parse_html,
    post_update,
    start_fake_telegram,
)

USER = 4242
OTHER = 4343


@pytest.fixture
def tg() -> Iterator[FakeTelegramServer]:
    with start_fake_telegram() as fake:
        yield fake


@pytest.fixture
async def bot(tg: FakeTelegramServer) -> AsyncIterator[Bot]:
    async with tg.make_bot() as real_bot:
        yield real_bot


def _retry_seconds(err: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns that retry_after becomes a timedelta
        warnings.simplefilter("ignore")
        value = err.retry_after
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- plain Bot methods ------------------------------------------------------------------------------


async def test_get_me(bot: Bot, tg: FakeTelegramServer) -> None:
    me = await bot.get_me()
    assert me.is_bot
    assert me.username == "wijkbot_test_bot"
    assert me.id == tg.bot_id == bot.id
    assert tg.calls("getMe")


async def test_send_message_with_inline_keyboard(bot: Bot, tg: FakeTelegramServer) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Oppakken", callback_data="claim:17")]])
    first = await bot.send_message(USER, "Nieuw idee", reply_markup=keyboard)
    second = await bot.send_message(USER, "Nog een")
    other = await bot.send_message(OTHER, "Hallo")

    assert isinstance(first, Message)
    assert first.chat.id == USER and first.chat.type == "private"
    assert first.from_user is not None and first.from_user.id == tg.bot_id
    assert first.text == "Nieuw idee"
    assert first.reply_markup == keyboard
    assert (first.message_id, second.message_id, other.message_id) == (1, 2, 1)  # per chat

    sent = tg.sent_messages(USER)
    assert [m["text"] for m in sent] == ["Nieuw idee", "Nog een"]
    assert sent[0]["reply_markup"] == {"inline_keyboard": [[{"text": "Oppakken", "callback_data": "claim:17"}]]}
    call = tg.calls("sendMessage")[0]
    assert call.params["chat_id"] == USER  # decoded from the form string
    assert call.content_type.startswith("application/x-www-form-urlencoded")


async def test_waiting_for_a_text_finds_it_whatever_arrives_around_it(bot: Bot, tg: FakeTelegramServer) -> None:
    await bot.send_message(USER, "Je link: oud")
    since = len(tg.sent_messages(USER))
    waiting = asyncio.ensure_future(tg.wait_for_text_async(USER, "Je link", since=since, timeout=10))
    await bot.send_message(USER, "Een melding die ertussen komt")
    await asyncio.sleep(0)
    assert not waiting.done()  # the older link, before ``since``, does not count
    await bot.send_message(USER, "Je link: <b>nieuw</b>", parse_mode=ParseMode.HTML)
    assert (await waiting)["plain_text"] == "Je link: nieuw"
    with pytest.raises(TimeoutError, match="containing 'nooit'"):
        await tg.wait_for_text_async(USER, "nooit", timeout=0.05)


async def test_html_is_parsed_into_entities(bot: Bot, tg: FakeTelegramServer) -> None:
    html = '<b>Idee</b> van <i>Anna</i> 🏠 &amp; <a href="https://oss.nl">meer</a>'
    message = await bot.send_message(USER, html, parse_mode=ParseMode.HTML)
    assert message.text == "Idee van Anna 🏠 & meer"
    assert [e.type for e in message.entities] == ["bold", "italic", "text_link"]
    assert message.text_html == html
    assert tg.sent_messages(USER)[0]["parse_mode"] == "HTML"


async def test_too_long_and_empty_text_are_refused(bot: Bot, tg: FakeTelegramServer) -> None:
    await bot.send_message(USER, "x" * 4096)
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(USER, "x" * 4097)
    with pytest.raises(BadRequest, match=r"(?i)message text is empty"):
        await bot.send_message(USER, "   ")
    assert len(tg.sent_messages(USER)) == 1
    assert [c.status for c in tg.calls("sendMessage")] == [200, 400, 400]


async def test_text_length_is_counted_in_utf16_units_after_html_parsing(bot: Bot, tg: FakeTelegramServer) -> None:
    await bot.send_message(USER, "<b>" + "🙂" * 2048 + "</b>", parse_mode=ParseMode.HTML)  # 4,096 units
    with pytest.raises(BadRequest, match=r"(?i)^message is too long$"):
        await bot.send_message(USER, "🙂" * 2049)  # 2,049 characters, 4,098 units
    with pytest.raises(BadRequest, match=r"(?i)caption is too long"):
        await bot.send_photo(USER, InputFile(b"\x89PNG fake", filename="k.png"), caption="🏠" * 513)
    assert [c.status for c in tg.calls("sendMessage")] == [200, 400]


BAD_HTML = [
    "<b>niet gesloten",
    "regel<br>regel",
    "3 < 4",
    "Tom & Jerry",
    "&nbsp;",
    "<b>fout</i>",
    "<span>geheim</span>",
    "</b>",
    "<script>x</script>",
    '<a href="x>open',
]


async def test_bad_html_is_refused(bot: Bot, tg: FakeTelegramServer) -> None:
    for html in BAD_HTML:
        with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
            await bot.send_message(USER, html, parse_mode=ParseMode.HTML)
    assert tg.sent_messages() == []


async def test_too_long_callback_data_is_refused(bot: Bot) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="d" * 65)]])
    with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
        await bot.send_message(USER, "kies", reply_markup=keyboard)
    ok = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="é" * 32)]])  # 64 bytes
    await bot.send_message(USER, "kies", reply_markup=ok)


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_injected_429_gives_retry_after(bot: Bot, tg: FakeTelegramServer) -> None:
    tg.fail_next("sendMessage", status=429, retry_after=7)
    with pytest.raises(RetryAfter) as info:
        await bot.send_message(USER, "hoi")
    assert _retry_seconds(info.value) == 7
    await bot.send_message(USER, "hoi")  # only the next one failed
    assert [c.status for c in tg.calls("sendMessage")] == [429, 200]


async def test_injected_500_and_chat_specific_faults(bot: Bot, tg: FakeTelegramServer) -> None:
    tg.fail_next("*", status=500, chat_id=OTHER, times=2)
    await bot.send_message(USER, "gaat goed")
    for _ in range(2):
        with pytest.raises(NetworkError, match="Internal Server Error"):
            await bot.send_message(OTHER, "faalt")
    await bot.send_message(OTHER, "weer goed")


async def test_blocked_chat_gives_forbidden(bot: Bot, tg: FakeTelegramServer) -> None:
    tg.block_chat(USER)
    with pytest.raises(Forbidden, match=r"(?i)bot was blocked by the user"):
        await bot.send_message(USER, "hoi")
    tg.block_chat(-1001234567890)
    with pytest.raises(Forbidden, match="kicked"):
        await bot.send_message(-1001234567890, "hoi")
    await bot.send_message(OTHER, "hoi")


async def test_dropped_answer_after_send(bot: Bot, tg: FakeTelegramServer) -> None:
    tg.drop_next("sendMessage", after_send=True)
    with pytest.raises(NetworkError):
        await bot.send_message(USER, "misschien verstuurd")
    assert [m["text"] for m in tg.sent_messages(USER)] == ["misschien verstuurd"]
    tg.delay_next("sendMessage", 1.0)
    with pytest.raises(TimedOut):
        await bot.send_message(USER, "traag", read_timeout=0.2)


async def test_send_poll_and_votes(bot: Bot, tg: FakeTelegramServer) -> None:
    message = await bot.send_poll(USER, "Meer bankjes in het park?", ["Ja", "Nee"], is_anonymous=False)
    assert isinstance(message.poll, Poll)
    poll = message.poll
    assert [o.text for o in poll.options] == ["Ja", "Nee"]
    assert not poll.is_anonymous and not poll.is_closed
    assert tg.calls("sendPoll")[0].params["options"] in ([{"text": "Ja"}, {"text": "Nee"}], ["Ja", "Nee"])

    tg.push_poll_answer(USER, poll.id, [0])
    tg.push_poll_answer(OTHER, poll.id, [1])
    tg.push_poll_answer(OTHER, poll.id, [0])  # changed the vote
    stopped = await bot.stop_poll(USER, message.message_id)
    assert stopped.is_closed
    assert [o.voter_count for o in stopped.options] == [2, 0]
    assert stopped.total_voter_count == 2

    with pytest.raises(BadRequest, match="at least 2"):
        await bot.send_poll(USER, "?", ["Alleen ja"])
    with pytest.raises(BadRequest, match="more than 10"):
        await bot.send_poll(USER, "?", [str(i) for i in range(11)])


async def test_edit_and_answer_callback(bot: Bot, tg: FakeTelegramServer) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Sluiten", callback_data="close:1")]])
    message = await bot.send_message(USER, "Melding", reply_markup=keyboard)
    edited = await bot.edit_message_text("Melding (opgepakt)", chat_id=USER, message_id=message.message_id)
    assert isinstance(edited, Message) and edited.reply_markup is None  # editing without markup drops it
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text("Melding (opgepakt)", chat_id=USER, message_id=message.message_id)
    await bot.edit_message_text("Melding (terug)", chat_id=USER, message_id=message.message_id, reply_markup=keyboard)
    stored = tg.message(USER, message.message_id)
    assert stored is not None and stored["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "close:1"
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("x", chat_id=USER, message_id=999)

    with pytest.raises(BadRequest, match=r"(?i)query id is invalid"):
        await bot.answer_callback_query("123")
    update = tg.push_callback(USER, "close:1", 1)
    assert await bot.answer_callback_query(update["callback_query"]["id"], text="Gesloten")


async def test_photo_upload_and_document(bot: Bot, tg: FakeTelegramServer) -> None:
    message = await bot.send_photo(
        USER, InputFile(b"\x89PNG fake", filename="kaart.png"), caption="<b>Kaart</b>", parse_mode=ParseMode.HTML
    )
    assert message.caption == "Kaart" and message.photo
    call = tg.calls("sendPhoto")[0]
    assert call.content_type.startswith("multipart/form-data")
    assert call.files["photo"].data == b"\x89PNG fake"

    document = await bot.send_document(USER, InputFile(b"a;b\n1;2\n", filename="export.csv"))
    assert document.document is not None and document.document.file_name == "export.csv"
    with pytest.raises(BadRequest, match=r"(?i)caption is too long"):
        await bot.send_photo(USER, message.photo[-1].file_id, caption="x" * 1025)

    pushed = tg.push_photo(USER, caption="kapotte lantaarn")
    resent = await bot.send_photo(OTHER, pushed["message"]["photo"][-1]["file_id"])  # a file id Telegram knows
    assert resent.photo and resent.photo[-1].file_id == pushed["message"]["photo"][-1]["file_id"]


async def test_commands_and_webhook_removal(bot: Bot, tg: FakeTelegramServer) -> None:
    from telegram import BotCommand

    await bot.set_my_commands([BotCommand("start", "Begin"), BotCommand("stop", "Geen berichten meer")])
    assert tg.calls("setMyCommands")[0].params["commands"][1] == {
        "command": "stop",
        "description": "Geen berichten meer",
    }
    with pytest.raises(BadRequest, match=r"(?i)bot_command_invalid"):
        await bot.set_my_commands([BotCommand("Start!", "Begin")])
    assert await bot.delete_my_commands()
    assert await bot.delete_webhook()


async def test_methods_the_bot_never_calls_are_not_served(bot: Bot, tg: FakeTelegramServer) -> None:
    for call in (bot.get_chat(USER), bot.send_chat_action(USER, "typing"), bot.log_out()):
        with pytest.raises(Exception, match=r"(?i)not found"):
            await call
    assert [c.status for c in tg.calls() if c.method != "getMe"] == [404, 404, 404]


async def test_a_parameter_the_method_does_not_accept_is_refused(tg: FakeTelegramServer) -> None:
    async with httpx.AsyncClient(trust_env=False) as client:
        response = await client.post(
            f"{tg.base_url}{tg.token}/sendMessage", json={"chat_id": USER, "text": "hoi", "reply_to_msg_id": 3}
        )
        assert response.status_code == 400
        assert (
            response.json()["description"] == 'Bad Request: parameter "reply_to_msg_id" is not accepted by sendMessage'
        )
        response = await client.post(f"{tg.base_url}{tg.token}/getMe", data={"verbose": "1"})
        assert response.status_code == 400
    assert tg.sent_messages() == []


async def test_an_upload_counts_under_its_parameter_name(tg: FakeTelegramServer) -> None:
    async with httpx.AsyncClient(trust_env=False) as client:
        url = f"{tg.base_url}{tg.token}/sendPhoto"
        good = await client.post(url, data={"chat_id": str(USER)}, files={"photo": ("a.png", b"png")})
        wrong = await client.post(url, data={"chat_id": str(USER)}, files={"picture": ("a.png", b"png")})
    assert good.status_code == 200
    assert wrong.json()["description"] == 'Bad Request: parameter "picture" is not accepted by sendPhoto'


async def test_unknown_method_and_wrong_token(tg: FakeTelegramServer) -> None:
    async with httpx.AsyncClient(trust_env=False) as client:
        response = await client.post(f"{tg.base_url}{tg.token}/sendTelepathy", data={"chat_id": "1"})
        assert response.status_code == 404
        assert response.json() == {"ok": False, "error_code": 404, "description": "Not Found: method not found"}
        response = await client.post(f"{tg.base_url}123:wrong/getMe")
        assert response.status_code == 401


async def test_json_bodies_with_nested_objects_or_json_strings(tg: FakeTelegramServer) -> None:
    markup = {"inline_keyboard": [[{"text": "Ja", "callback_data": "yes"}]]}
    async with httpx.AsyncClient(trust_env=False) as client:
        for reply_markup in (markup, '{"inline_keyboard": [[{"text": "Ja", "callback_data": "yes"}]]}'):
            response = await client.post(
                f"{tg.base_url}{tg.token}/sendMessage",
                json={"chat_id": str(USER), "text": "Vraag", "reply_markup": reply_markup},
            )
            assert response.json()["result"]["reply_markup"] == markup
        response = await client.get(f"{tg.base_url}{tg.token}/sendMessage", params={"chat_id": USER, "text": "q"})
        assert response.json()["ok"]
    assert [m["reply_markup"] for m in tg.sent_messages(USER)] == [markup, markup, None]


# -- getUpdates -------------------------------------------------------------------------------------


async def test_get_updates_offset_limit_and_redelivery(bot: Bot, tg: FakeTelegramServer) -> None:
    a = tg.push_text(USER, "een")
    tg.push_command(USER, "start", "uitnodiging123")
    tg.push_location(USER)
    first = await bot.get_updates(limit=2)
    assert [u.update_id for u in first] == [a["update_id"], a["update_id"] + 1]
    assert first[1].message is not None and first[1].message.text == "/start uitnodiging123"
    assert first[1].message.entities[0].type == "bot_command"
    rest = await bot.get_updates(offset=first[-1].update_id + 1)
    assert [u.update_id for u in rest] == [a["update_id"] + 2]
    assert rest[0].message is not None and rest[0].message.location is not None
    assert await bot.get_updates(offset=rest[-1].update_id + 1) == ()

    tg.push_update(a)  # Telegram delivers update "a" again
    again = await bot.get_updates(offset=rest[-1].update_id + 1)
    assert [u.update_id for u in again] == [a["update_id"]]
    assert await bot.get_updates(offset=rest[-1].update_id + 1) == ()


async def test_get_updates_long_poll_wakes_on_push(bot: Bot, tg: FakeTelegramServer) -> None:
    timer = threading.Timer(0.2, lambda: tg.push_text(USER, "later"))
    timer.start()
    started = time.monotonic()
    updates = await bot.get_updates(timeout=3)
    assert [u.message.text for u in updates if u.message] == ["later"]
    assert time.monotonic() - started < 2
    started = time.monotonic()
    assert await bot.get_updates(offset=updates[-1].update_id + 1, timeout=dtm.timedelta(milliseconds=300)) == ()
    assert time.monotonic() - started >= 0.25


async def test_allowed_updates_filter(bot: Bot, tg: FakeTelegramServer) -> None:
    tg.push_text(USER, "tekst")
    tg.push_callback(USER, "knop", 1)
    updates = await bot.get_updates(allowed_updates=["callback_query"])
    assert [u.callback_query.data for u in updates if u.callback_query] == ["knop"]
    assert len(updates) == 1


async def test_all_push_helpers_deserialize(bot: Bot, tg: FakeTelegramServer) -> None:
    sent = await bot.send_message(USER, "Wat is je postcode?")
    tg.push_text(USER, "5051 AB", reply_to_message_id=sent.message_id)
    tg.push_photo(USER, caption="foto")
    tg.push_voice(USER)
    tg.push_sticker(USER)
    tg.push_location(USER, 51.76, 5.52)
    tg.push_edited_text(USER, 2, "5051AB")
    tg.push_group_text(OTHER, -1001000000001, "in de groep", title="Dorpsraad Dorst")
    tg.push_callback(USER, "claim:1", sent.message_id)
    tg.push_poll_answer(USER, "999", [1])
    updates = await bot.get_updates()
    assert len(updates) == 9
    reply = updates[0].message
    assert reply is not None and reply.reply_to_message is not None
    assert reply.reply_to_message.text == "Wat is je postcode?"
    assert updates[1].message is not None and updates[1].message.photo and updates[1].message.caption == "foto"
    assert updates[2].message is not None and updates[2].message.voice is not None
    assert updates[3].message is not None and updates[3].message.sticker is not None
    assert updates[4].message is not None and updates[4].message.location is not None
    assert updates[5].edited_message is not None and updates[5].edited_message.text == "5051AB"
    group = updates[6].message
    assert group is not None and group.chat.type == "supergroup" and group.chat.title == "Dorpsraad Dorst"
    query = updates[7].callback_query
    assert query is not None and query.message is not None and query.message.message_id == sent.message_id
    assert updates[8].poll_answer is not None and updates[8].poll_answer.option_ids == (1,)
    assert updates[0].effective_user is not None and updates[0].effective_user.language_code == "nl"


# -- a real Application -------------------------------------------------------------------------


async def test_application_polling_receives_text_and_callback(tg: FakeTelegramServer) -> None:
    app = tg.application_builder().build()

    async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None and update.message.text is not None
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Klopt", callback_data="ok")]])
        await update.message.reply_text(f"Je schreef: {update.message.text}", reply_markup=keyboard)

    async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer("Dank je")
        await query.edit_message_text(f"Bevestigd: {query.data}")

    app.add_handler(MessageHandler(filters.TEXT, on_text))
    app.add_handler(CallbackQueryHandler(on_button))
    async with app:
        await app.updater.start_polling(poll_interval=0, timeout=1)  # type: ignore[union-attr]
        await app.start()
        try:
            tg.push_text(USER, "Er ligt glas op de stoep")
            [reply] = await tg.wait_for_messages_async(USER, 1)
            assert reply["text"] == "Je schreef: Er ligt glas op de stoep"
            tg.push_callback(USER, "ok", reply["message_id"])
            await tg.wait_for_async(
                lambda: (tg.message(USER, reply["message_id"]) or {}).get("text") == "Bevestigd: ok"
            )
            assert tg.calls("answerCallbackQuery")[0].params["text"] == "Dank je"
        finally:
            await app.updater.stop()  # type: ignore[union-attr]
            await app.stop()
    assert not tg.errors
    assert not tg.pending_updates()  # confirmed by the final getUpdates of PTB


async def test_application_webhook_with_secret_token(tg: FakeTelegramServer) -> None:
    app = tg.application_builder().build()
    seen: list[str] = []

    async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None and update.message.text is not None
        seen.append(update.message.text)

    app.add_handler(MessageHandler(filters.TEXT, on_text))
    port = _free_port()
    url = f"http://127.0.0.1:{port}/hook"
    async with app:
        await app.updater.start_webhook(  # type: ignore[union-attr]
            listen="127.0.0.1", port=port, url_path="hook", webhook_url=url, secret_token="geheim-123"
        )
        await app.start()
        try:
            assert tg.calls("setWebhook")[0].params["secret_token"] == "geheim-123"
            tg.push_text(USER, "via webhook")
            [pending] = tg.pending_updates()
            right = await asyncio.to_thread(post_update, url, pending, secret_token="geheim-123")
            assert right.status_code == 200
            await tg.wait_for_async(lambda: seen == ["via webhook"])
            wrong = await asyncio.to_thread(post_update, url, {"update_id": 99}, secret_token="fout")
            assert wrong.status_code == 403
        finally:
            await app.updater.stop()  # type: ignore[union-attr]
            await app.stop()


# -- sync use, rates, HTML unit checks ----------------------------------------------------------


def test_sync_use_and_wait_for_from_another_thread(tg: FakeTelegramServer) -> None:
    def later() -> None:
        time.sleep(0.1)
        httpx.post(f"{tg.base_url}{tg.token}/sendMessage", data={"chat_id": str(USER), "text": "a"}, trust_env=False)

    threading.Thread(target=later).start()
    [message] = tg.wait_for_messages(USER, 1, timeout=3)
    assert message["text"] == "a"
    with pytest.raises(TimeoutError):
        tg.wait_for_messages(USER, 2, timeout=0.1)
    tg.clear()
    assert tg.calls() == [] and tg.sent_messages() == []


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_rate_accounting_and_enforced_limits(bot: Bot, tg: FakeTelegramServer) -> None:
    for i in range(3):
        await bot.send_message(USER, f"bericht {i}")
    await bot.send_message(OTHER, "ander")
    assert len(tg.send_times(USER)) == 3
    assert len(tg.send_times()) == 4

    tg.clear()
    tg.set_rate_limits(per_chat_per_second=1, retry_after=3)
    await bot.send_message(USER, "een")
    with pytest.raises(RetryAfter) as info:
        await bot.send_message(USER, "twee")
    assert _retry_seconds(info.value) == 3
    await bot.send_message(OTHER, "ander mag wel")


def test_parse_html_entities_use_utf16_offsets() -> None:
    text, entities = parse_html('🏠 <b>huis</b> &lt;<pre><code class="language-python">x</code></pre>')
    assert text == "🏠 huis <x"
    assert entities == [
        {"type": "bold", "offset": 3, "length": 4},
        {"type": "pre", "offset": 9, "length": 1, "language": "python"},
    ]
    assert parse_html('<span class="tg-spoiler">s</span><blockquote expandable>q</blockquote>')[1] == [
        {"type": "spoiler", "offset": 0, "length": 1},
        {"type": "expandable_blockquote", "offset": 1, "length": 1},
    ]
    assert parse_html("&#x27;&#39;&quot;")[0] == "''\""
    with pytest.raises(HtmlParseError, match='end tag corresponding to start tag "b"'):
        parse_html("<b>open")
