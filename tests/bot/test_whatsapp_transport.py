"""The WhatsApp transport: what each outbox message becomes at the Cloud API, in and outside the 24-hour window, and
Meta's errors as the sender's kinds (against the strict fake, devtools/fake_whatsapp)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from bot.sender import Blocked, Deferred, Outgoing, Rejected, RetryLater, Transient, Uncertain
from bot.whatsapp_transport import Recipient, WhatsAppTransport, classify, make_client, parse_retry_after
from devtools.fake_whatsapp import FakeWhatsAppServer, start_fake_whatsapp
from wijkbot.payloads import Document, Edit, OutreachMark, Payload, Photo, Poll, StopPoll, Text, Upload
from wijkbot.settings import Settings

ANNA = "31612345678"
IN_WINDOW, OUTSIDE, TELEGRAM_CHAT = 101, 102, 103
TEMPLATES = {
    "whatsapp_template_poll": "wijkbot_peiling",
    "whatsapp_template_checkin": "wijkbot_checkin",
}


@pytest.fixture
def wa() -> Iterator[FakeWhatsAppServer]:
    with start_fake_whatsapp() as server:
        server.open_window(ANNA)
        yield server
        assert server.errors() == []


def settings_for(
    wa: FakeWhatsAppServer, base_url: str | None = None, token: str | None = None, **extra: str
) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        whatsapp_token=token or wa.token,
        whatsapp_base_url=base_url or wa.base_url,
        whatsapp_phone_number_id=wa.phone_number_id,
        **{**TEMPLATES, **extra},
    )


async def lookup(chat_id: int) -> Recipient | None:
    return {IN_WINDOW: Recipient(ANNA, True), OUTSIDE: Recipient(ANNA, False)}.get(chat_id)


@pytest.fixture
async def transport(wa: FakeWhatsAppServer) -> AsyncIterator[WhatsAppTransport]:
    settings = settings_for(wa)
    async with make_client(settings, trust_env=False) as client:
        yield WhatsAppTransport(client, lookup, settings)


def row(payload: Payload, chat_id: int = IN_WINDOW, row_id: int = 7) -> Outgoing:
    return Outgoing(id=row_id, chat_id=chat_id, payload=payload, attempts=0)


# -- inside the window --------------------------------------------------------------------------------------------


async def test_a_text_goes_out_as_a_text_and_the_delivery_carries_the_wamid(
    transport: WhatsAppTransport, wa: FakeWhatsAppServer
) -> None:
    delivery = await transport.send(row(Text(text="<b>Welkom</b> bij de wijkbot")))
    [sent] = wa.sent(ANNA)
    assert sent["type"] == "text" and sent["text"] == {"body": "*Welkom* bij de wijkbot", "preview_url": False}
    assert (delivery.message_id, delivery.channel_message_id, delivery.poll_id) == (7, sent["id"], None)
    assert wa.calls()[0].authorization == f"Bearer {wa.token}"


async def test_rasa_buttons_are_reply_buttons_named_by_the_row(
    transport: WhatsAppTransport, wa: FakeWhatsAppServer
) -> None:
    buttons = [{"title": "Melding doen", "payload": "/report"}, {"title": "Vraag stellen", "payload": "/ask"}]
    await transport.send(row(Text(text="Waarmee kan ik helpen?", rasa_buttons=buttons), row_id=12))
    [sent] = wa.sent(ANNA)
    assert [b["reply"]["id"] for b in sent["interactive"]["action"]["buttons"]] == ["rb:12:0", "rb:12:1"]


@pytest.mark.parametrize("count", [4, 10, 14])
async def test_many_buttons_with_long_titles_pass_metas_checks(
    transport: WhatsAppTransport, wa: FakeWhatsAppServer, count: int
) -> None:
    buttons = [{"title": f"Een lange keuze over de buurt nummer {i}", "payload": f"/b{i}"} for i in range(count)]
    await transport.send(row(Text(text="Waarover gaat het?", rasa_buttons=buttons)))
    listed = wa.sent(ANNA)[-1]["interactive"]["action"]["sections"][0]["rows"]
    assert len(listed) == min(count, 10) and len({r["title"] for r in listed}) == len(listed)


async def test_a_long_text_is_several_messages_and_the_delivery_names_the_last(
    transport: WhatsAppTransport, wa: FakeWhatsAppServer
) -> None:
    delivery = await transport.send(row(Text(text="\n\n".join(["Een alinea over de wijk. " * 60] * 6))))
    sent = wa.sent(ANNA)
    assert len(sent) > 1 and delivery.channel_message_id == sent[-1]["id"]


async def test_a_poll_is_a_list_whose_rows_carry_the_votes(
    transport: WhatsAppTransport, wa: FakeWhatsAppServer
) -> None:
    poll = Poll(question="Wat mist er in het park?", options=["Bankjes", "Bomen", "Speeltoestellen", "Licht"])
    delivery = await transport.send(row(poll, row_id=30))
    [sent] = wa.sent(ANNA)
    assert delivery.poll_id == "wa30" and delivery.message_id == 30
    rows = sent["interactive"]["action"]["sections"][0]["rows"]
    assert [r["id"] for r in rows] == ["pv:wa30:0", "pv:wa30:1", "pv:wa30:2", "pv:wa30:3"]


async def test_a_poll_of_more_than_ten_options_is_rejected(
    transport: WhatsAppTransport, wa: FakeWhatsAppServer
) -> None:
    with pytest.raises(Rejected):
        await transport.send(row(Poll(question="?", options=[str(i) for i in range(11)])))
    assert wa.calls() == []


async def test_a_stored_photo_is_uploaded_then_sent_by_its_media_id(
    transport: WhatsAppTransport, wa: FakeWhatsAppServer
) -> None:
    photo = Photo(media_id=4, caption="De uitslag", upload=Upload(b"\x89PNG...", "uitslag.png"))
    await transport.send(row(photo))
    [sent] = wa.sent(ANNA)
    assert sent["image"]["caption"] == "De uitslag"
    assert wa.media(sent["image"]["id"]) == ("uitslag.png", b"\x89PNG...", "image/png")


async def test_a_photo_only_telegram_has_is_its_caption(transport: WhatsAppTransport, wa: FakeWhatsAppServer) -> None:
    await transport.send(row(Photo(photo="AgACAgQAAx", caption="De kaart van de wijk")))
    assert [m["text"]["body"] for m in wa.sent(ANNA)] == ["De kaart van de wijk"]
    delivery = await transport.send(row(Photo(photo="AgACAgQAAx"), row_id=8))
    assert delivery.message_id == 8 and delivery.channel_message_id is None and len(wa.sent(ANNA)) == 1


async def test_a_document_is_uploaded_and_sent_with_its_filename(
    transport: WhatsAppTransport, wa: FakeWhatsAppServer
) -> None:
    await transport.send(row(Document(document_text="naam: Anna\n", filename="mijngegevens.txt", caption="Alles")))
    [sent] = wa.sent(ANNA)
    assert sent["document"]["filename"] == "mijngegevens.txt" and sent["document"]["caption"] == "Alles"
    assert wa.media(sent["document"]["id"]) == ("mijngegevens.txt", b"naam: Anna\n", "text/plain")


async def test_an_edit_is_a_new_message(transport: WhatsAppTransport, wa: FakeWhatsAppServer) -> None:
    await transport.send(row(Edit(message_id=3, text="#1 is ingetrokken.")))
    assert [m["text"]["body"] for m in wa.sent(ANNA)] == ["#1 is ingetrokken."]


async def test_stopping_a_poll_calls_nothing(transport: WhatsAppTransport, wa: FakeWhatsAppServer) -> None:
    assert (await transport.send(row(StopPoll(message_id=3), row_id=9))).message_id == 9
    assert wa.calls() == []


async def test_a_chat_that_is_not_on_whatsapp_is_rejected(transport: WhatsAppTransport, wa: FakeWhatsAppServer) -> None:
    with pytest.raises(Rejected, match="not a WhatsApp chat"):
        await transport.send(row(Text(text="Hallo"), chat_id=TELEGRAM_CHAT))


# -- outside the window ---------------------------------------------------------------------------------------------


async def test_when_a_later_part_of_a_long_text_fails_the_row_is_uncertain_not_sent_again(
    transport: WhatsAppTransport, wa: FakeWhatsAppServer
) -> None:
    wa.set_pair_rate_limit(1, seconds=60)  # the second part hits Meta's limit per resident
    with pytest.raises(Uncertain):
        await transport.send(row(Text(text="\n\n".join(["Een alinea over de wijk. " * 60] * 6))))
    assert len(wa.sent(ANNA)) == 1


async def test_the_poll_invitation_outside_the_window_is_left_to_the_poll_template_only_when_there_is_one(
    wa: FakeWhatsAppServer,
) -> None:
    invitation = Text(text="Er is een peiling voor Den Hout.", outreach=OutreachMark(1, "poll", 5))
    with_template = settings_for(wa)
    async with make_client(with_template, trust_env=False) as client:
        delivery = await WhatsAppTransport(client, lookup, with_template).send(row(invitation, chat_id=OUTSIDE))
    assert delivery.message_id == 7 and wa.sent(ANNA) == []  # the poll's own template asks the question
    without = settings_for(wa, whatsapp_template_poll="")
    async with make_client(without, trust_env=False) as client:
        with pytest.raises(Deferred):
            await WhatsAppTransport(client, lookup, without).send(row(invitation, chat_id=OUTSIDE))


async def test_a_poll_outside_the_window_is_the_poll_template(
    transport: WhatsAppTransport, wa: FakeWhatsAppServer
) -> None:
    poll = Poll(question="Meer bankjes?", options=["Ja", "Nee"], outreach=OutreachMark(1, "poll", 5))
    delivery = await transport.send(row(poll, chat_id=OUTSIDE, row_id=31))
    [sent] = wa.sent(ANNA)
    assert sent["type"] == "template" and sent["template"]["name"] == "wijkbot_peiling"
    assert sent["template"]["components"][1]["parameters"] == [{"type": "payload", "payload": "pv:wa31:open"}]
    assert delivery.poll_id == "wa31" and delivery.channel_message_id == sent["id"]


async def test_a_checkin_outside_the_window_is_the_checkin_template(
    transport: WhatsAppTransport, wa: FakeWhatsAppServer
) -> None:
    checkin = Text(text="Hoe is het\nin de wijk?", outreach=OutreachMark(1, "checkin"))
    await transport.send(row(checkin, chat_id=OUTSIDE))
    [sent] = wa.sent(ANNA)
    assert sent["template"]["name"] == "wijkbot_checkin"
    assert sent["template"]["components"][0]["parameters"][0]["text"] == "Hoe is het in de wijk?"


async def test_a_message_without_a_template_waits_for_the_resident(
    transport: WhatsAppTransport, wa: FakeWhatsAppServer
) -> None:
    with pytest.raises(Deferred) as deferred:
        await transport.send(row(Text(text="Je melding is opgelost."), chat_id=OUTSIDE))
    assert deferred.value.seconds == 3600 and wa.calls() == []


async def test_with_a_notice_template_any_message_goes_out_outside_the_window(wa: FakeWhatsAppServer) -> None:
    settings = settings_for(wa, whatsapp_template_notice="wijkbot_bericht")
    async with make_client(settings, trust_env=False) as client:
        await WhatsAppTransport(client, lookup, settings).send(row(Text(text="Opgelost."), chat_id=OUTSIDE))
    assert [m["template"]["name"] for m in wa.sent(ANNA)] == ["wijkbot_bericht"]


# -- Meta's errors ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [
        (131026, 400, Blocked),
        (131021, 400, Blocked),
        (133010, 400, Blocked),
        (100, 400, Rejected),
        (131008, 400, Rejected),
        (131009, 400, Rejected),
        (131051, 400, Rejected),
        (132000, 400, Rejected),
        (132018, 400, Rejected),
        (135000, 400, Rejected),
        (131000, 500, Transient),
        (131016, 503, Transient),
        (4, 400, RetryLater),
        (80007, 400, RetryLater),
        (130429, 400, RetryLater),
        (131047, 400, Deferred),
    ],
)
async def test_each_error_code_is_its_kind(
    transport: WhatsAppTransport, wa: FakeWhatsAppServer, code: int, status: int, kind: type[Exception]
) -> None:
    wa.fail_next(code, status)
    with pytest.raises(kind):
        await transport.send(row(Text(text="Hallo")))


async def test_throughput_waits_a_second_when_meta_says_nothing(
    transport: WhatsAppTransport, wa: FakeWhatsAppServer
) -> None:
    wa.set_throughput(1)
    await transport.send(row(Text(text="een")))
    with pytest.raises(RetryLater) as retry:
        await transport.send(row(Text(text="twee")))
    assert retry.value.seconds == 1.0


async def test_the_pair_rate_limit_defers_only_that_chat(transport: WhatsAppTransport, wa: FakeWhatsAppServer) -> None:
    wa.set_pair_rate_limit(1, seconds=60)
    await transport.send(row(Text(text="een")))
    with pytest.raises(Deferred) as deferred:
        await transport.send(row(Text(text="twee")))
    assert deferred.value.seconds == 6 and deferred.value.hold_chat  # the resident's later messages wait too


async def test_a_wrong_token_is_rejected_saying_so(wa: FakeWhatsAppServer) -> None:
    settings = settings_for(wa, token="verkeerd")
    async with make_client(settings, trust_env=False) as client:
        with pytest.raises(Rejected, match="WHATSAPP_TOKEN"):
            await WhatsAppTransport(client, lookup, settings).send(row(Text(text="Hallo")))


async def test_a_failed_upload_sends_nothing(transport: WhatsAppTransport, wa: FakeWhatsAppServer) -> None:
    wa.fail_next(131000, 500, endpoint="media")
    with pytest.raises(Transient):
        await transport.send(row(Document(document_text="x", filename="x.txt")))
    wa.drop_next(endpoint="media")
    with pytest.raises(Transient):  # no message went out: safe to send again
        await transport.send(row(Document(document_text="x", filename="x.txt")))
    assert wa.sent(ANNA) == []


async def test_an_answer_lost_after_the_request_went_out_is_uncertain(
    transport: WhatsAppTransport, wa: FakeWhatsAppServer
) -> None:
    wa.drop_next(after_send=True)
    with pytest.raises(Uncertain):
        await transport.send(row(Text(text="Hallo")))
    assert len(wa.sent(ANNA)) == 1  # it did arrive


async def test_a_timeout_after_sending_is_uncertain(wa: FakeWhatsAppServer) -> None:
    settings = settings_for(wa)
    wa.delay_next(2.0)
    async with make_client(settings, trust_env=False, timeout=0.2) as client:
        with pytest.raises(Uncertain):
            await WhatsAppTransport(client, lookup, settings).send(row(Text(text="Hallo")))


async def test_meta_not_reached_is_transient(wa: FakeWhatsAppServer) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]  # a port nobody listens on once closed
    settings = settings_for(wa, base_url=f"http://127.0.0.1:{closed}/v21.0")
    async with make_client(settings, trust_env=False) as client:
        with pytest.raises(Transient):
            await WhatsAppTransport(client, lookup, settings).send(row(Text(text="Hallo")))


def test_classify_maps_http_429_and_5xx_without_a_code() -> None:
    assert isinstance(classify(429, None, "", {}), RetryLater)
    assert isinstance(classify(502, None, "Bad Gateway", {}), Transient)
    assert isinstance(classify(401, None, "", {}), Rejected)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [({}, 1.0), ({"Retry-After": "7"}, 7.0), ({"Retry-After": "morgen"}, 1.0), ({"Retry-After": "-3"}, 1.0)],
)
def test_retry_after_defaults_to_one_second(headers: dict[str, Any], seconds: float) -> None:
    assert parse_retry_after(headers) == seconds
