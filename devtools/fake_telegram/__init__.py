"""A fake Telegram Bot API server on loopback, for the tests and the bench.

The real python-telegram-bot talks to it over HTTP::

    with start_fake_telegram() as tg:
        bot = telegram.Bot(tg.token, base_url=tg.base_url, base_file_url=tg.base_file_url)
        tg.push_text(42, "Hallo")            # an update the bot will get from getUpdates
        ...
        tg.wait_for_messages(42, count=1)     # what the bot sent to chat 42

The server runs tornado on its own event loop in a background thread, so it serves sync tests, async
tests and a bot running in another thread or process alike. Everything it is asked is recorded
(:meth:`FakeTelegramServer.calls`), messages that were sent successfully are listed by
:meth:`FakeTelegramServer.sent_messages`, and faults can be injected (``fail_next``, ``block_chat``,
``drop_next``, ``delay_next``, ``set_rate_limits``).

It serves only the methods the bot uses (``FakeTelegramServer.METHODS``), each with only the parameters in
``params.PARAMETERS``: an unknown method answers 404, an unknown parameter 400, so a call or a parameter name
that is not in the Bot API fails in a test (the names are checked against the official reference in
tests/devtools/test_bot_api_names.py). It checks what Telegram checks where tests depend on it: text length,
strict HTML (stricter than Telegram about ``&``: a bare ampersand is refused, so a missing ``html.escape``
shows up), inline keyboard ``callback_data`` length, poll options, unknown message ids for edits.

By area: ``messages`` (sendMessage, editMessageText), ``polls`` (sendPoll, stopPoll, votes), ``callbacks``
(button presses, answerCallbackQuery), ``commands`` (setMyCommands, deleteMyCommands), ``files`` (sendPhoto,
sendDocument, users' photos), ``updates`` (pushed updates, getUpdates, webhooks), ``recording`` (what tests
read and the faults they inject), ``server`` (HTTP, the method table); ``html`` and ``params`` parse.
"""

from .html import HtmlParseError, parse_html, utf16_len
from .records import DEFAULT_TOKEN, SEND_METHODS, ApiError, RecordedCall, UploadedFile
from .server import FakeTelegramServer, fast_request, start_fake_telegram
from .updates import post_update, post_update_async

__all__ = [
    "DEFAULT_TOKEN",
    "SEND_METHODS",
    "ApiError",
    "FakeTelegramServer",
    "HtmlParseError",
    "RecordedCall",
    "UploadedFile",
    "fast_request",
    "parse_html",
    "post_update",
    "post_update_async",
    "start_fake_telegram",
    "utf16_len",
]
