"""WhatsApp's pure part (wijkbot/whatsapp.py): webhooks in, Cloud API message objects out."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from wijkbot.payloads import Ballot, Document, Edit, OutreachMark, Photo, Poll, StopPoll, Text, Upload
from wijkbot.settings import Settings
from wijkbot.whatsapp import (
    MULTIPLE_ANSWERS,
    Incoming,
    StatusUpdate,
    Unrenderable,
    clean_parameter,
    html_to_whatsapp,
    media_file,
    parse_webhook,
    render,
    template_for,
    verify_signature,
    verify_subscription,
)

SECRET = "app-secret"
NUMBER = "106540352242922"
AT = "1764680400"  # 2025-12-02 13:00 UTC
WHEN = datetime(2025, 12, 2, 13, 0, tzinfo=UTC)


def signature(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook(value: dict[str, Any], number: str = NUMBER) -> dict[str, Any]:
    metadata = {"display_phone_number": "31850001234", "phone_number_id": number}
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


def message(kind: str, part: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    body = {
        "contacts": [{"profile": {"name": "Anna"}, "wa_id": "31612345678"}],
        "messages": [{"from": "31612345678", "id": "wamid.IN1", "timestamp": AT, "type": kind, **extra}],
    }
    if part is not None:
        body["messages"][0][kind] = part
    return webhook(body)


def settings(**templates: str) -> Settings:
    return Settings(_env_file=None, **templates)  # type: ignore[call-arg]


ALL_TEMPLATES = {
    "whatsapp_template_poll": "wijkbot_peiling",
    "whatsapp_template_checkin": "wijkbot_checkin",
    "whatsapp_template_notice": "wijkbot_bericht",
}


# -- the signature and the handshake ----------------------------------------------------------------------------


def test_a_body_signed_with_the_app_secret_is_genuine() -> None:
    body = b'{"object":"whatsapp_business_account","entry":[]}'
    assert verify_signature(SECRET, body, signature(body))
    assert verify_signature(SECRET, body, signature(body).upper().replace("SHA256=", "sha256="))


def test_a_wrong_missing_or_malformed_signature_is_refused() -> None:
    body = b'{"object":"whatsapp_business_account","entry":[]}'
    assert not verify_signature(SECRET, body, None)
    assert not verify_signature(SECRET, body, "")
    assert not verify_signature(SECRET, body, signature(body, "another-secret"))
    assert not verify_signature(SECRET, body + b" ", signature(body))  # a tampered body
    assert not verify_signature(SECRET, body, signature(body).replace("sha256=", "sha1="))
    assert not verify_signature(SECRET, body, "sha256=zz" + signature(body)[9:])
    assert not verify_signature(SECRET, body, "sha256=abc")
    assert not verify_signature("", body, signature(body, ""))  # no secret configured: nothing is genuine


def test_the_subscription_handshake_echoes_the_challenge_only_for_the_right_token() -> None:
    params = {"hub.mode": "subscribe", "hub.verify_token": "geheim", "hub.challenge": "1158201444"}
    assert verify_subscription(params, "geheim") == "1158201444"
    assert verify_subscription({**params, "hub.verify_token": "fout"}, "geheim") is None
    assert verify_subscription({**params, "hub.mode": "unsubscribe"}, "geheim") is None
    assert verify_subscription({"hub.mode": "subscribe", "hub.verify_token": "geheim"}, "geheim") is None
    assert verify_subscription(params, "") is None


# -- parsing ------------------------------------------------------------------------------------------------------


def test_a_text_message_with_the_senders_profile_name() -> None:
    [event] = parse_webhook(message("text", {"body": "Er ligt afval"}))
    assert event == Incoming(
        wa_id="31612345678", message_id="wamid.IN1", timestamp=WHEN, name="Anna", kind="text", text="Er ligt afval"
    )


def test_a_pressed_reply_button_and_a_picked_list_row_carry_their_id_and_the_message_they_answer() -> None:
    button = {"type": "button_reply", "button_reply": {"id": "rb:7:0", "title": "Ja"}}
    [pressed] = parse_webhook(message("interactive", button, context={"from": "31850001234", "id": "wamid.OUT"}))
    assert (pressed.kind, pressed.reply_id, pressed.reply_title, pressed.context_id) == (
        "button",
        "rb:7:0",
        "Ja",
        "wamid.OUT",
    )
    row = {"type": "list_reply", "list_reply": {"id": "pv:wa9:4", "title": "Speeltuin", "description": "x"}}
    [picked] = parse_webhook(message("interactive", row))
    assert isinstance(picked, Incoming) and (picked.kind, picked.reply_id) == ("button", "pv:wa9:4")


def test_a_template_quick_reply_is_a_button_with_its_payload() -> None:
    [pressed] = parse_webhook(message("button", {"payload": "pv:wa9:open", "text": "Stem nu"}, context={"id": "w"}))
    assert isinstance(pressed, Incoming)
    assert (pressed.kind, pressed.reply_id, pressed.reply_title, pressed.context_id) == (
        "button",
        "pv:wa9:open",
        "Stem nu",
        "w",
    )


def test_a_location_and_an_image() -> None:
    place = {"latitude": 51.765, "longitude": 5.518, "name": "Markt", "address": "Markt 1, Oss"}
    [location] = parse_webhook(message("location", place))
    assert isinstance(location, Incoming)
    assert (location.kind, location.latitude, location.longitude, location.text) == (
        "location",
        51.765,
        5.518,
        "Markt, Markt 1, Oss",
    )
    [image] = parse_webhook(message("image", {"id": "1234", "mime_type": "image/jpeg", "caption": "Kijk"}))
    assert isinstance(image, Incoming) and (image.kind, image.text, image.media_id) == ("image", "Kijk", "1234")


def test_other_kinds_arrive_as_other() -> None:
    for kind, part in [("audio", {"id": "1"}), ("sticker", {"id": "2"}), ("reaction", {"emoji": "👍"})]:
        [event] = parse_webhook(message(kind, part))
        assert isinstance(event, Incoming) and event.kind == "other" and event.text is None
    [unsupported] = parse_webhook(message("unsupported", None, errors=[{"code": 131051}]))
    assert isinstance(unsupported, Incoming) and unsupported.kind == "other"


def test_statuses_and_a_failed_one_with_its_error() -> None:
    statuses = [
        {"id": "wamid.A", "status": "delivered", "timestamp": AT, "recipient_id": "31612345678"},
        {
            "id": "wamid.B",
            "status": "failed",
            "timestamp": AT,
            "recipient_id": "31612345678",
            "errors": [{"code": 131047, "title": "Re-engagement message"}],
        },
    ]
    assert parse_webhook(webhook({"statuses": statuses})) == [
        StatusUpdate("wamid.A", "delivered", WHEN, "31612345678"),
        StatusUpdate("wamid.B", "failed", WHEN, "31612345678", 131047, "Re-engagement message"),
    ]


def test_events_for_another_number_of_the_business_account_are_ignored_when_asked() -> None:
    body = webhook({"messages": [{"from": "316", "id": "w", "timestamp": AT, "type": "text", "text": {"body": "x"}}]})
    assert len(parse_webhook(body, phone_number_id=NUMBER)) == 1
    assert parse_webhook(body, phone_number_id="999") == []


@pytest.mark.parametrize(
    "body",
    [None, [], "x", {"object": "page", "entry": []}, {"object": "whatsapp_business_account"}, {"entry": []}],
)
def test_what_is_not_a_whatsapp_webhook_at_all_is_a_value_error(body: Any) -> None:
    with pytest.raises(ValueError):
        parse_webhook(body)


def test_hostile_or_malformed_parts_are_skipped_never_raised() -> None:
    good = {"from": "31612345678", "id": "wamid.ok", "timestamp": AT, "type": "text", "text": {"body": "hallo"}}
    hostile: list[Any] = [
        None,
        "x",
        {"from": 316, "id": "w", "timestamp": AT, "type": "text", "text": {"body": "x"}},
        {"from": "316", "id": "w", "timestamp": "gisteren", "type": "text", "text": {"body": "x"}},
        {"from": "316", "id": "w", "timestamp": "99999999999999999999", "type": "text", "text": {"body": "x"}},
        {"from": "316", "id": "w", "timestamp": AT},
        {"from": "316", "id": "w", "timestamp": AT, "type": "location", "location": {"latitude": 200, "longitude": 1}},
        {"from": "316", "id": "w", "timestamp": AT, "type": "interactive", "interactive": {"type": "button_reply"}},
        {"from": "316", "id": "w", "timestamp": AT, "type": "text", "text": "no object"},
        good,
    ]
    statuses: list[Any] = [
        {"id": "w", "status": "exploded", "timestamp": AT, "recipient_id": "316"},
        {"id": "w", "status": "failed", "timestamp": AT, "recipient_id": "316", "errors": [{"code": "x"}]},
        7,
    ]
    body = webhook({"contacts": [None, {"wa_id": 5}], "messages": hostile, "statuses": statuses})
    body["entry"].extend([None, {"changes": "x"}, {"changes": [None, {"field": "messages", "value": []}]}])
    events = parse_webhook(body)
    texts = [e.text for e in events if isinstance(e, Incoming) and e.kind == "text"]
    assert texts == ["hallo"]
    others = [e for e in events if isinstance(e, Incoming) and e.kind == "other"]
    assert len(others) == 3  # a location off the globe, a button without id, a text without its object
    [failed] = [e for e in events if isinstance(e, StatusUpdate)]
    assert failed.error_code is None


# -- formatting -----------------------------------------------------------------------------------------------------


def test_telegram_html_becomes_whatsapp_formatting() -> None:
    assert html_to_whatsapp("<b>Let op</b>: <i>morgen</i> &amp; <s>vandaag</s>") == "*Let op*: _morgen_ & ~vandaag~"
    assert html_to_whatsapp("Code <code>ABC-12</code>") == "Code `ABC-12`"
    assert html_to_whatsapp("<pre>regel 1\nregel 2</pre>") == "```regel 1\nregel 2```"
    assert html_to_whatsapp('<a href="https://oss.nl/afval">de afvalkalender</a>') == (
        "de afvalkalender (https://oss.nl/afval)"
    )
    assert html_to_whatsapp('<a href="https://oss.nl">https://oss.nl</a>') == "https://oss.nl"
    assert html_to_whatsapp("een<br>twee\ndrie") == "een\ntwee\ndrie"
    assert html_to_whatsapp("&lt;geen tag&gt; &quot;x&quot; &#8364;") == '<geen tag> "x" €'


def test_markers_hug_the_text_and_broken_html_does_not_raise() -> None:
    assert html_to_whatsapp("<b> vet </b>") == " *vet* "
    assert html_to_whatsapp("<b></b>leeg") == "leeg"
    assert html_to_whatsapp("<b><i>beide</i></b>") == "*_beide_*"
    assert html_to_whatsapp("<u>onder</u> <tg-spoiler>geheim</tg-spoiler>") == "onder geheim"
    assert html_to_whatsapp("<b>open") == "*open*"
    assert html_to_whatsapp("dicht</b> <i>a<b>b</i>c") == "dicht _a*b*_c"


# -- rendering inside the window ------------------------------------------------------------------------------------


def test_a_text_without_buttons_is_a_text_message_without_preview() -> None:
    assert render(Text(text="<b>Hallo</b>"), row_id=1) == [
        {"type": "text", "text": {"body": "*Hallo*", "preview_url": False}}
    ]


def test_with_to_the_objects_are_ready_to_post() -> None:
    [sent] = render(Text(text="Hallo"), row_id=1, to="31612345678")
    assert sent["messaging_product"] == "whatsapp" and sent["to"] == "31612345678"
    assert sent["recipient_type"] == "individual"


def test_a_long_text_goes_out_in_parts_of_at_most_4096() -> None:
    text = "\n\n".join(["woord " * 300] * 4)
    parts = render(Text(text=text), row_id=1)
    assert len(parts) > 1 and all(len(p["text"]["body"]) <= 4096 for p in parts)
    assert " ".join(p["text"]["body"] for p in parts).split() == text.split()


def test_a_question_to_type_the_answer_to_is_plain_text() -> None:
    assert render(Text(text="Wat is je postcode?", ask="1234 AB"), row_id=1) == [
        {"type": "text", "text": {"body": "Wat is je postcode?", "preview_url": False}}
    ]


def test_up_to_three_buttons_are_reply_buttons_inline_ids_as_callback_data_rasa_ids_by_row() -> None:
    inline = Text(text="Pak je hem op?", buttons=[[{"text": "Oppakken", "callback_data": "claim:5"}]])
    [one] = render(inline, row_id=3)
    assert one["interactive"] == {
        "type": "button",
        "body": {"text": "Pak je hem op?"},
        "action": {"buttons": [{"type": "reply", "reply": {"id": "claim:5", "title": "Oppakken"}}]},
    }
    rasa = Text(
        text="Iets anders?", rasa_buttons=[{"title": "Ja", "payload": "/affirm"}, {"title": "Nee", "payload": "/deny"}]
    )
    [two] = render(rasa, row_id=42)
    assert [b["reply"]["id"] for b in two["interactive"]["action"]["buttons"]] == ["rb:42:0", "rb:42:1"]


def test_button_titles_are_cut_to_20_and_kept_unique() -> None:
    long = "Ik wil graag een melding doen"
    [sent] = render(
        Text(text="Kies", rasa_buttons=[{"title": long, "payload": "/a"}, {"title": long, "payload": "/b"}]), row_id=1
    )
    titles = [b["reply"]["title"] for b in sent["interactive"]["action"]["buttons"]]
    assert all(len(t) <= 20 for t in titles) and len(set(titles)) == 2
    assert titles[0] == "Ik wil graag een me…"


def test_a_long_body_with_buttons_sends_its_head_as_text_and_the_last_1024_with_the_buttons() -> None:
    body = ("Een zin over de wijk. " * 100).strip()
    sent = render(Text(text=body, buttons=[[{"text": "OK", "callback_data": "ok"}]]), row_id=1)
    assert [m["type"] for m in sent] == ["text", "interactive"]
    assert len(sent[-1]["interactive"]["body"]["text"]) <= 1024


def test_four_to_ten_buttons_are_a_list_with_long_titles_continued_in_the_description() -> None:
    options = [{"title": f"Optie {i}", "payload": f"/o{i}"} for i in range(5)]
    options[2] = {"title": "Een heel erg lange optie over de speeltuin in het park", "payload": "/lang"}
    [sent] = render(Text(text="Waarover?", rasa_buttons=options), row_id=8)
    assert sent["interactive"]["type"] == "list"
    action = sent["interactive"]["action"]
    assert action["button"] == "Kies" and len(action["sections"]) == 1
    rows = action["sections"][0]["rows"]
    assert [r["id"] for r in rows] == [f"rb:8:{i}" for i in range(5)]
    assert all(len(r["title"]) <= 24 for r in rows)
    assert rows[2]["title"].endswith("…") and rows[2]["description"].startswith("Een heel erg lange optie")
    assert len(rows[2]["description"]) <= 72 and "description" not in rows[0]


def test_more_than_ten_buttons_are_numbered_in_the_text_plus_a_list_of_the_first_ten() -> None:
    options = [{"title": f"Buurt {i}", "payload": f"/b{i}"} for i in range(1, 13)]
    text, listed = render(Text(text="Welke buurt?", rasa_buttons=options), row_id=2)
    assert "1. Buurt 1" in text["text"]["body"] and "12. Buurt 12" in text["text"]["body"]
    assert len(listed["interactive"]["action"]["sections"][0]["rows"]) == 10


def test_link_buttons_become_lines_of_the_text() -> None:
    [sent] = render(Text(text="Lees meer", buttons=[[{"text": "Website", "url": "https://oss.nl"}]]), row_id=1)
    assert sent == {"type": "text", "text": {"body": "Lees meer\n\nWebsite: https://oss.nl", "preview_url": False}}


def test_an_edit_is_a_new_message_with_its_buttons() -> None:
    [sent] = render(
        Edit(message_id=5, text="#1 is opgepakt", buttons=[[{"text": "Sluiten", "callback_data": "c"}]]), row_id=1
    )
    assert sent["interactive"]["body"]["text"] == "#1 is opgepakt"
    assert render(Edit(message_id=5, text="#1 is ingetrokken"), row_id=1)[0]["type"] == "text"


def test_a_stored_photo_is_sent_by_its_uploaded_media_id_with_the_caption() -> None:
    photo = Photo(media_id=3, caption="<b>Uitslag</b>", upload=Upload(b"\x89PNG", "uitslag.png"))
    upload = media_file(photo)
    assert upload is not None and (upload.media_type, upload.mime_type, upload.filename) == (
        "image",
        "image/png",
        "uitslag.png",
    )
    assert render(photo, row_id=1, media_id="9001") == [
        {"type": "image", "image": {"id": "9001", "caption": "*Uitslag*"}}
    ]


def test_a_photo_only_telegram_knows_is_shown_by_its_caption_or_not_at_all() -> None:
    assert render(Photo(photo="AgACAgQ", caption="De kaart"), row_id=1) == [
        {"type": "text", "text": {"body": "De kaart", "preview_url": False}}
    ]
    assert render(Photo(photo="AgACAgQ"), row_id=1) == []


def test_a_document_is_uploaded_then_sent_with_filename_and_caption() -> None:
    document = Document(document_text="naam: Anna", filename="mijngegevens.txt", caption="Je gegevens")
    upload = media_file(document)
    assert upload is not None and upload.data == b"naam: Anna" and upload.mime_type == "text/plain"
    assert render(document, row_id=1, media_id="77") == [
        {"type": "document", "document": {"id": "77", "filename": "mijngegevens.txt", "caption": "Je gegevens"}}
    ]
    with pytest.raises(ValueError):
        render(document, row_id=1)


def test_a_poll_of_up_to_three_options_is_reply_buttons_with_vote_ids() -> None:
    poll = Poll(question="Meer bankjes?", options=["Ja", "Nee", "Weet niet"], ballot=Ballot(1, 2))
    [sent] = render(poll, row_id=5, poll_id="wa5")
    assert sent["interactive"]["type"] == "button"
    assert sent["interactive"]["body"]["text"] == "Meer bankjes?"
    assert [b["reply"]["id"] for b in sent["interactive"]["action"]["buttons"]] == ["pv:wa5:0", "pv:wa5:1", "pv:wa5:2"]


def test_a_poll_of_more_options_is_a_list_and_says_when_more_answers_may_be_chosen() -> None:
    poll = Poll(question="Wat mist er?", options=[f"Optie {i}" for i in range(7)], allows_multiple_answers=True)
    [sent] = render(poll, row_id=5, poll_id="wa5")
    assert sent["interactive"]["type"] == "list"
    assert sent["interactive"]["body"]["text"] == f"Wat mist er?\n\n{MULTIPLE_ANSWERS}"
    assert sent["interactive"]["action"]["sections"][0]["rows"][6]["id"] == "pv:wa5:6"


def test_a_poll_of_more_than_ten_options_cannot_be_shown() -> None:
    with pytest.raises(Unrenderable):
        render(Poll(question="?", options=[str(i) for i in range(11)]), row_id=1, poll_id="wa1")


def test_stopping_a_poll_sends_nothing() -> None:
    assert render(StopPoll(message_id=5), row_id=1) == []


# -- templates outside the window -------------------------------------------------------------------------------


def test_a_poll_outside_the_window_is_the_poll_template_with_the_question_and_an_open_button() -> None:
    poll = Poll(question="Meer bankjes\nin het park?", options=["Ja", "Nee"], outreach=OutreachMark(2, "poll", 7))
    assert template_for(poll, settings(**ALL_TEMPLATES), poll_id="wa5") == {
        "type": "template",
        "template": {
            "name": "wijkbot_peiling",
            "language": {"code": "nl"},
            "components": [
                {"type": "body", "parameters": [{"type": "text", "text": "Meer bankjes in het park?"}]},
                {
                    "type": "button",
                    "sub_type": "quick_reply",
                    "index": "0",
                    "parameters": [{"type": "payload", "payload": "pv:wa5:open"}],
                },
            ],
        },
    }


def test_the_invitation_to_a_poll_is_the_poll_template_naming_the_poll() -> None:
    intro = Text(text="<b>Peiling</b> over het park", outreach=OutreachMark(2, "poll", 7))
    template = template_for(intro, settings(**ALL_TEMPLATES))
    assert template is not None and template["template"]["name"] == "wijkbot_peiling"
    body, button = template["template"]["components"]
    assert body["parameters"][0]["text"] == "*Peiling* over het park"
    assert button["parameters"][0]["payload"] == "pv:poll7:open"


@pytest.mark.parametrize("kind", ["checkin", "nudge", "announcement", "results"])
def test_other_outreach_is_the_checkin_template_with_the_text(kind: str) -> None:
    text = Text(
        text="Hoe gaat het\n\tin de wijk?",
        outreach=OutreachMark(2, kind),
        rasa_buttons=[{"title": "Goed", "payload": "/g"}],
    )
    template = template_for(text, settings(**ALL_TEMPLATES))
    assert template is not None and template["template"]["name"] == "wijkbot_checkin"
    assert template["template"]["components"] == [
        {"type": "body", "parameters": [{"type": "text", "text": "Hoe gaat het in de wijk?"}]}
    ]


def test_any_other_message_is_the_notice_template_when_there_is_one() -> None:
    reply = Text(text="Je melding #4 is opgelost.")
    template = template_for(reply, settings(**ALL_TEMPLATES))
    assert template is not None and template["template"]["name"] == "wijkbot_bericht"
    assert template_for(reply, settings(whatsapp_template_poll="p", whatsapp_template_checkin="c")) is None


def test_no_template_configured_means_none() -> None:
    none = settings()
    assert template_for(Poll(question="?", options=["a", "b"]), none, poll_id="wa1") is None
    assert template_for(Text(text="x", outreach=OutreachMark(1, "checkin")), none) is None
    assert template_for(StopPoll(message_id=1), settings(**ALL_TEMPLATES)) is None


def test_the_language_comes_from_the_settings() -> None:
    template = template_for(Text(text="x"), settings(whatsapp_template_notice="n", whatsapp_template_language="en"))
    assert template is not None and template["template"]["language"] == {"code": "en"}


def test_template_parameters_are_cleaned_as_meta_demands() -> None:
    assert clean_parameter("een\ntwee\tdrie     vier") == "een twee drie vier"
    assert clean_parameter("   ") == "-"
    long = clean_parameter("x" * 2000)
    assert len(long) == 1024 and long.endswith("…")


def test_rendered_objects_are_json() -> None:
    poll = Poll(question="?", options=["a", "b", "c", "d"])
    assert json.loads(json.dumps(render(poll, row_id=1, poll_id="wa1")))
