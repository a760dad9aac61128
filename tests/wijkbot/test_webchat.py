"""The web chat without the web: what a sent outbox row looks like in the widget, the HTML it may hold, the
signed session tokens, what the widget may send, the rate limit and the notifier."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from hypothesis import given
from hypothesis import strategies as st
from itsdangerous import URLSafeSerializer

from db.models import utcnow
from wijkbot.payloads import Document, Edit, Photo, Poll, StopPoll, Text
from wijkbot.webchat import (
    MAX_TEXT,
    Incoming,
    Notifier,
    RateLimit,
    Refused,
    new_session,
    parse_send,
    render,
    sanitize,
    session_of,
)

KEY = "geheim-van-de-werkplek"


# --- rendering each kind of message ---------------------------------------------------------------------------


def test_a_text_keeps_its_formatting_and_its_inline_buttons_send_their_callback_data() -> None:
    buttons = [[{"text": "Ja", "callback_data": "ok:1"}, {"text": "Nee", "callback_data": "no:1"}]]
    message = render(7, Text(text="<b>Klaar?</b>\nKies maar.", buttons=buttons), token="t")
    assert message.to_json() == {
        "id": 7,
        "html": "<b>Klaar?</b>\nKies maar.",
        "buttons": [{"label": "Ja", "value": "ok:1"}, {"label": "Nee", "value": "no:1"}],
        "multiple": False,
        "image": None,
        "download": None,
        "replaces": None,
        "ask": None,
    }


def test_rasa_buttons_send_the_short_reference_to_their_row_not_the_payload() -> None:
    rasa = [{"title": "Melding", "payload": '/melding{"soort":"x"}'}, {"title": "Vraag", "payload": "/vraag"}]
    message = render(12, Text(text="Waarmee kan ik helpen?", rasa_buttons=rasa), token="t")
    assert message.buttons == [{"label": "Melding", "value": "rb:12:0"}, {"label": "Vraag", "value": "rb:12:1"}]


def test_a_question_to_type_an_answer_to_becomes_the_inputs_placeholder() -> None:
    assert render(3, Text(text="Wat is je postcode?", ask="1234 AB"), token="t").ask == "1234 AB"


def test_a_poll_is_its_question_with_an_option_per_button_on_the_web_poll_id() -> None:
    poll = Poll(question="Meer bankjes <in> het park?", options=["Ja", "Nee"], allows_multiple_answers=False)
    message = render(40, poll, token="t")
    assert message.html == "Meer bankjes &lt;in&gt; het park?"
    assert message.buttons == [{"label": "Ja", "value": "pv:web40:0"}, {"label": "Nee", "value": "pv:web40:1"}]
    assert message.multiple is False
    assert render(41, Poll(question="Welke?", options=["a", "b"], allows_multiple_answers=True), token="t").multiple


def test_a_stopped_poll_replaces_the_poll_with_its_question_and_no_buttons() -> None:
    poll = Poll(question="Meer bankjes?", options=["Ja", "Nee"])
    message = render(50, StopPoll(message_id=40), token="t", replaced=poll)
    assert (message.replaces, message.html, message.buttons) == (40, "Meer bankjes?", [])


def test_an_edit_replaces_the_message_it_names_with_its_new_text_and_buttons() -> None:
    edit = Edit(message_id=7, text="Bedankt, <i>genoteerd</i>.", buttons=[[{"text": "Terug", "callback_data": "b"}]])
    message = render(9, edit, token="t")
    assert (message.replaces, message.html) == (7, "Bedankt, <i>genoteerd</i>.")
    assert message.buttons == [{"label": "Terug", "value": "b"}]


def test_a_stored_photo_is_an_image_url_of_its_own_row_for_this_session() -> None:
    message = render(21, Photo(media_id=4, caption="Uitslag: <b>Ja</b>"), token="a.b-c")
    assert message.image == "/chat/media/21?token=a.b-c"
    assert message.html == "Uitslag: <b>Ja</b>"
    assert render(22, Photo(photo="telegram-file-id"), token="t").image is None  # only stored files are served


def test_a_document_is_a_download_of_its_own_row_and_its_plain_caption_is_escaped() -> None:
    document = Document(document_text="naam: Anna", filename="mijn-gegevens.txt", caption="Je gegevens <alles>")
    message = render(30, document, token="tok")
    assert message.download == {"url": "/chat/file/30?token=tok", "name": "mijn-gegevens.txt"}
    assert message.html == "Je gegevens &lt;alles&gt;"


# --- sanitizing -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
        ('<img src=x onerror="alert(1)">', "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;"),
        ('<b onclick="x()">vet</b>', "&lt;b onclick=&quot;x()&quot;&gt;vet"),
        ('<a href="javascript:alert(1)">klik</a>', "klik"),
        ('<a href="JavaScript:alert(1)">klik</a>', "klik"),
        ("<a href='data:text/html,x'>klik</a>", "klik"),
        ('<a href="tg://user?id=1">Anna</a>', "Anna"),
        (
            '<a href="https://www.oosterhout.nl/afval?a=1&amp;b=2">afval</a>',
            '<a href="https://www.oosterhout.nl/afval?a=1&amp;b=2" rel="noopener noreferrer" target="_blank">afval</a>',
        ),
        (
            '<a href="https://x.nl" target="_self">x</a>',
            "&lt;a href=&quot;https://x.nl&quot; target=&quot;_self&quot;&gt;x",
        ),
        ("<u>onder</u> <s>weg</s>", "onder weg"),
        ("regel<br>regel<br/>", "regel<br>regel<br>"),
        ("<b>open <i>binnen</b> na", "<b>open <i>binnen</i></b> na"),
        ("<b>nooit dicht", "<b>nooit dicht</b>"),
        ("los</b> &amp; &foo; & <3", "los &amp; &amp;foo; &amp; &lt;3"),
        ("<pre><code>x = 1</code></pre>", "<pre><code>x = 1</code></pre>"),
        ("<strong>s</strong> <em>e</em>", "<strong>s</strong> <em>e</em>"),
    ],
)
def test_only_the_safe_subset_stays_html_and_everything_else_is_escaped(given: str, expected: str) -> None:
    assert sanitize(given) == expected


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


@given(st.text(alphabet=st.sampled_from(list("<>/=\"' &;:abhrefijstcpxl")), max_size=200))
def test_any_text_becomes_html_with_only_the_allowed_elements_and_attributes(text: str) -> None:
    parser = _Tags()
    parser.feed(sanitize(text))
    parser.close()
    for tag, attrs in parser.tags:
        assert tag in {"b", "strong", "i", "em", "a", "code", "pre", "br"}
        if tag == "a":
            assert [name for name, _ in attrs] == ["href", "rel", "target"]
            assert str(dict(attrs)["href"]).startswith(("http://", "https://"))
        else:
            assert attrs == []


# --- tokens ---------------------------------------------------------------------------------------------------


def test_a_new_session_is_a_random_id_in_a_token_signed_with_the_apps_key() -> None:
    session_id, token = new_session(KEY)
    other_id, _ = new_session(KEY)
    assert session_id != other_id and len(session_id) >= 32
    assert session_of(KEY, token) == session_id


def test_a_forged_token_or_one_signed_for_something_else_opens_nothing() -> None:
    session_id, token = new_session(KEY)
    assert session_of("een-andere-sleutel", token) is None
    assert session_of(KEY, token[:-2] + ("AA" if not token.endswith("AA") else "BB")) is None
    assert session_of(KEY, URLSafeSerializer(KEY, salt="wijkbot-web-session").dumps(session_id)) is None
    assert session_of(KEY, URLSafeSerializer(KEY, salt="web-chat").dumps({"s": 1})) is None
    assert session_of(KEY, "") is None and session_of(KEY, None) is None and session_of(KEY, "x" * 500) is None


# --- what the widget sends ------------------------------------------------------------------------------------


def test_a_message_is_one_text_button_or_choice_list_with_an_id() -> None:
    assert parse_send({"id": "a1", "text": "  Hallo  "}) == Incoming("a1", text="Hallo")
    assert parse_send({"id": "a2", "button": "rb:12:0"}) == Incoming("a2", button="rb:12:0")
    assert parse_send({"id": "a3", "choices": ["pv:web4:0", "pv:web4:2", "pv:web4:0"]}) == Incoming(
        "a3", choices=["pv:web4:0", "pv:web4:2"]
    )


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ([], "kon niet gelezen"),
        ({"text": "hoi"}, "kenmerk"),
        ({"id": "x y", "text": "hoi"}, "kenmerk"),
        ({"id": "a"}, "precies één"),
        ({"id": "a", "text": "hoi", "button": "b"}, "precies één"),
        ({"id": "a", "text": "   "}, "leeg"),
        ({"id": "a", "text": "x" * (MAX_TEXT + 1)}, "te lang"),
        ({"id": "a", "text": 5}, "leeg"),
        ({"id": "a", "button": "x" * 65}, "knop"),
        ({"id": "a", "choices": []}, "minstens één"),
        ({"id": "a", "choices": "pv:1:0"}, "keuze"),
    ],
)
def test_anything_else_is_refused_with_a_dutch_reason(body: object, says: str) -> None:
    with pytest.raises(Refused, match=says):
        parse_send(body)


def test_the_rate_limit_allows_twenty_a_minute_per_session_and_says_how_long_to_wait() -> None:
    limit, now = RateLimit(limit=20, per=timedelta(minutes=1)), utcnow()
    assert all(limit.check("s1", now + timedelta(seconds=i)) is None for i in range(20))
    assert limit.check("s1", now + timedelta(seconds=30)) == pytest.approx(30.0)
    assert limit.check("s2", now + timedelta(seconds=30)) is None  # another session has its own
    assert limit.check("s1", now + timedelta(seconds=60)) is None  # the first one left the window


# --- the notifier ---------------------------------------------------------------------------------------------


async def test_a_wake_from_another_thread_sets_the_waiting_polls_of_that_chat_only() -> None:
    notifier = Notifier()
    with notifier.waiting(1) as mine, notifier.waiting(2) as other:
        assert notifier.waiters(1) == 1
        thread = threading.Thread(target=notifier.wake, args=(1,))
        thread.start()
        await asyncio.wait_for(mine.wait(), timeout=10)
        thread.join()
        assert not other.is_set()
    assert notifier.waiters(1) == 0 and notifier.waiters(2) == 0
