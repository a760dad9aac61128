"""A resident is a person on a channel (wijkbot.channels): chat ids, inbound updates, outbox rows per channel."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from telegram import Update

from db import models
from tests.factories import make_resident
from wijkbot.channels import (
    CHANNEL_BASE,
    WEB,
    WHATSAPP,
    BadInput,
    address_chat,
    channel_of,
    forget_address,
    receive,
    whatsapp_recipient,
)
from wijkbot.outbox import claim_due, enqueue, enqueue_many, mark_sent, record_channel_status
from wijkbot.payloads import Ballot, Poll, Text

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


def stored(session: Session, update_id: int) -> models.InboundUpdate:
    row = session.get(models.InboundUpdate, update_id)
    assert row is not None
    return row


def sent_row(session: Session, chat_id: int, message: Text | Poll, purpose: str) -> models.OutboxMessage:
    enqueue(session, purpose=purpose, chat_id=chat_id, message=message, now=NOW)
    row = session.scalars(select(models.OutboxMessage).where(models.OutboxMessage.purpose == purpose)).one()
    [claimed] = [r for r in claim_due(session, worker="t", now=NOW) if r.id == row.id]
    mark_sent(session, row_id=row.id, token=claimed.claim_token or "", telegram_message_id=row.id, now=NOW)
    return row


def test_a_person_on_a_channel_gets_one_chat_id_above_every_telegram_id(session: Session) -> None:
    web = address_chat(session, channel=WEB, address="sessie-1", now=NOW)
    phone = address_chat(session, channel=WHATSAPP, address="31612345678", name="Anna", now=NOW)
    assert web > CHANNEL_BASE and phone > CHANNEL_BASE and web != phone
    assert address_chat(session, channel=WHATSAPP, address="31612345678", now=NOW) == phone
    assert channel_of(session, phone) == WHATSAPP and channel_of(session, web) == WEB
    assert channel_of(session, 4242) == "telegram"


def test_an_unknown_channel_or_an_empty_address_is_refused(session: Session) -> None:
    with pytest.raises(BadInput):
        address_chat(session, channel="fax", address="1", now=NOW)
    with pytest.raises(BadInput):
        address_chat(session, channel=WEB, address="", now=NOW)


def test_outbox_rows_carry_the_channel_of_their_chat(session: Session) -> None:
    phone = address_chat(session, channel=WHATSAPP, address="31600000001", now=NOW)
    enqueue(session, purpose="a", chat_id=phone, text="hoi", now=NOW)
    enqueue(session, purpose="b", chat_id=77, text="hoi", now=NOW)
    rows = {r.purpose: r.channel for r in session.scalars(select(models.OutboxMessage))}
    assert rows == {"a": WHATSAPP, "b": "telegram"}


def test_a_typed_text_becomes_a_private_message_and_a_command_gets_its_entity(session: Session) -> None:
    chat = address_chat(session, channel=WEB, address="s", now=NOW)
    update = receive(session, channel=WEB, chat_id=chat, external_id="m1", text="/vergeetmij", now=NOW)
    assert update is not None
    parsed = Update.de_json(update, None)
    assert parsed is not None and parsed.message is not None and parsed.effective_chat is not None
    assert parsed.message.text == "/vergeetmij" and parsed.effective_chat.type == "private"
    assert parsed.effective_chat.id == chat and parsed.message.entities[0].type == "bot_command"
    row = stored(session, parsed.update_id)
    assert (row.channel, row.external_id, row.kind, row.status) == (WEB, "m1", "command", "pending")
    assert parsed.update_id > CHANNEL_BASE


def test_the_same_platform_message_is_stored_once(session: Session) -> None:
    chat = address_chat(session, channel=WHATSAPP, address="31600000002", now=NOW)
    first = receive(session, channel=WHATSAPP, chat_id=chat, external_id="wamid.A", text="hallo", now=NOW)
    again = receive(session, channel=WHATSAPP, chat_id=chat, external_id="wamid.A", text="hallo", now=NOW)
    assert first is not None and again is None
    assert session.scalar(select(models.InboundUpdate).where(models.InboundUpdate.external_id == "wamid.A"))
    other = receive(session, channel=WHATSAPP, chat_id=chat, external_id="wamid.B", text="nog eens", now=NOW)
    assert other is not None and other["update_id"] == first["update_id"] + 1


def test_bad_input_is_refused_with_a_reason_and_nothing_is_stored(session: Session) -> None:
    chat = address_chat(session, channel=WEB, address="s", now=NOW)
    cases = [
        {"text": "   "},
        {"text": "x" * 4097},
        {"text": "a", "button": "b"},
        {},
        {"choices": ["nee"]},
        {"choices": ["pv:web1:0", "pv:web2:1"]},
    ]
    for case in cases:
        with pytest.raises(BadInput):
            receive(session, channel=WEB, chat_id=chat, external_id="x", now=NOW, **case)  # type: ignore[arg-type]
    assert session.scalar(select(models.InboundUpdate)) is None


def test_a_typed_answer_to_a_question_that_asks_for_typing_is_a_reply_to_it(session: Session) -> None:
    chat = address_chat(session, channel=WEB, address="s", now=NOW)
    question = sent_row(session, chat, Text(text="Wat is je postcode?", ask="1234 AB"), "initiative:postcode:abc")
    update = receive(session, channel=WEB, chat_id=chat, external_id="m", text="4901 AB", now=NOW)
    assert update is not None
    assert update["message"]["reply_to_message"]["message_id"] == question.id


def test_a_pressed_button_is_a_callback_on_the_message_that_carried_it(session: Session) -> None:
    chat = address_chat(session, channel=WEB, address="s", now=NOW)
    buttons = [[{"text": "Ja", "callback_data": "of:yes:WK082611"}, {"text": "Nee", "callback_data": "of:no"}]]
    offer = sent_row(session, chat, Text(text="Wil je horen…?", buttons=buttons), "offer:1")
    update = receive(session, channel=WEB, chat_id=chat, external_id="m", button="of:no", now=NOW)
    assert update is not None
    query = Update.de_json(update, None).callback_query  # type: ignore[union-attr]
    assert query is not None and query.data == "of:no" and query.id.startswith("ch")
    assert query.message is not None and query.message.message_id == offer.id
    assert stored(session, update["update_id"]).kind == "callback"


def test_a_chosen_poll_option_is_a_poll_answer_and_whatsapp_adds_choices_of_a_multiple_answer_poll(
    session: Session,
) -> None:
    resident = make_resident(session, telegram_id=address_chat(session, channel=WHATSAPP, address="316", now=NOW))
    poll = models.Poll(
        area_codes=["WK082611"],
        question="Wat wil je?",
        options=["a", "b", "c"],
        created_via="telegram",
        starts_at=NOW,
        closes_at=NOW + timedelta(days=7),
        allows_multiple=True,
    )
    session.add(poll)
    session.flush()
    session.add(
        models.PollBallot(
            poll_id=poll.id,
            resident_id=resident.id,
            area_code="WK082611",
            chat_id=resident.telegram_id,
            telegram_poll_id="wa9",
            option_ids=[0],
        )
    )
    session.flush()
    update = receive(
        session, channel=WHATSAPP, chat_id=resident.telegram_id, external_id="w1", button="pv:wa9:2", now=NOW
    )
    assert update is not None and update["poll_answer"]["poll_id"] == "wa9"
    assert update["poll_answer"]["option_ids"] == [0, 2]
    web = address_chat(session, channel=WEB, address="s", now=NOW)
    update = receive(session, channel=WEB, chat_id=web, external_id="w2", choices=["pv:web5:1", "pv:web5:0"], now=NOW)
    assert update is not None and update["poll_answer"]["option_ids"] == [0, 1]


def test_the_poll_templates_button_brings_the_poll_itself(session: Session) -> None:
    resident = make_resident(session, telegram_id=address_chat(session, channel=WHATSAPP, address="317", now=NOW))
    poll = models.Poll(
        area_codes=["WK082611"],
        question="Bankje?",
        options=["ja", "nee"],
        created_via="telegram",
        starts_at=NOW,
        closes_at=NOW + timedelta(days=7),
    )
    session.add(poll)
    session.flush()
    ballot = Ballot(poll.id, resident.id)
    message = Poll(question="Bankje?", options=["ja", "nee"], ballot=ballot)
    row = sent_row(session, resident.telegram_id, message, f"poll:{poll.id}")
    session.add(
        models.PollBallot(
            poll_id=poll.id,
            resident_id=resident.id,
            area_code="WK082611",
            chat_id=resident.telegram_id,
            telegram_poll_id=f"wa{row.id}",
        )
    )
    session.flush()
    opened = receive(
        session,
        channel=WHATSAPP,
        chat_id=resident.telegram_id,
        external_id="t1",
        button=f"pv:wa{row.id}:open",
        now=NOW,
    )
    assert opened is None  # nothing for the handlers: the poll is queued again, now that the window is open
    again = session.scalars(
        select(models.OutboxMessage).where(models.OutboxMessage.purpose.startswith("ballot:"))
    ).one()
    assert again.method == "sendPoll" and again.payload["ballot"] == {"poll_id": poll.id, "resident_id": resident.id}


def test_whatsapps_window_is_open_for_24_hours_after_the_residents_last_message(session: Session) -> None:
    chat = address_chat(session, channel=WHATSAPP, address="318", now=NOW, wrote=True)
    assert whatsapp_recipient(session, chat, now=NOW + timedelta(hours=23)) is not None
    assert whatsapp_recipient(session, chat, now=NOW + timedelta(hours=23)).window_open  # type: ignore[union-attr]
    assert not whatsapp_recipient(session, chat, now=NOW + timedelta(hours=25)).window_open  # type: ignore[union-attr]
    receive(session, channel=WHATSAPP, chat_id=chat, external_id="w", text="hoi", now=NOW + timedelta(hours=30))
    session.expire_all()
    assert whatsapp_recipient(session, chat, now=NOW + timedelta(hours=31)).window_open  # type: ignore[union-attr]
    assert whatsapp_recipient(session, 4242, now=NOW) is None


def test_statuses_are_recorded_in_order_and_a_failure_fails_the_row(session: Session) -> None:
    chat = address_chat(session, channel=WHATSAPP, address="319", now=NOW)
    row = sent_row(session, chat, Text(text="hoi"), "a")
    row.channel_message_id = "wamid.X"
    session.flush()
    assert record_channel_status(session, channel_message_id="wamid.X", status="read", at=NOW)
    assert record_channel_status(session, channel_message_id="wamid.X", status="delivered", at=NOW)
    assert row.channel_status == "read"
    assert not record_channel_status(session, channel_message_id="wamid.unknown", status="read", at=NOW)
    assert record_channel_status(
        session, channel_message_id="wamid.X", status="failed", at=NOW, error="WhatsApp 131026: undeliverable"
    )
    assert (row.status, row.channel_status, row.error) == ("failed", "failed", "WhatsApp 131026: undeliverable")


def test_forgetting_an_address_removes_the_phone_number(session: Session) -> None:
    chat = address_chat(session, channel=WHATSAPP, address="31699999999", now=NOW)
    assert forget_address(session, chat_id=chat) == 1
    assert session.scalar(select(models.ChannelAddress)) is None
    assert channel_of(session, chat) == "gone"


def test_a_broadcast_puts_each_row_on_its_chats_channel(session: Session) -> None:
    from wijkbot.outbox import Queued
    from wijkbot.purposes import Purpose

    web = address_chat(session, channel=WEB, address="s", now=NOW)
    enqueue_many(
        session,
        [Queued(Purpose("checkin:x"), web, Text(text="hoi")), Queued(Purpose("checkin:x"), 55, Text(text="hoi"))],
        now=NOW,
    )
    assert sorted(r.channel for r in session.scalars(select(models.OutboxMessage))) == ["telegram", WEB]


def test_a_chat_id_is_never_given_twice_not_even_after_the_highest_was_erased(session: Session) -> None:
    first = address_chat(session, channel=WEB, address="a", now=NOW)
    forget_address(session, chat_id=first)
    second = address_chat(session, channel=WEB, address="b", now=NOW)
    assert second > first


def test_the_export_names_the_channel_and_the_number_it_holds(session: Session) -> None:
    from wijkbot.privacy import export_resident

    chat = address_chat(session, channel=WHATSAPP, address="31655555555", name="Anna", now=NOW, wrote=True)
    make_resident(session, telegram_id=chat)
    document = export_resident(session, telegram_id=chat)
    assert document is not None
    assert document["channel"]["channel"] == WHATSAPP and document["channel"]["address"] == "31655555555"


def test_retention_removes_an_address_that_is_no_residents_and_was_silent_the_whole_period(session: Session) -> None:
    from wijkbot.privacy import expire_old_data

    idle = address_chat(session, channel=WEB, address="nooit-iets-gezegd", now=NOW)
    resident = address_chat(session, channel=WHATSAPP, address="31656565656", now=NOW, wrote=True)
    make_resident(session, telegram_id=resident)
    recent = address_chat(session, channel=WEB, address="net-begonnen", now=NOW + timedelta(days=80))
    result = expire_old_data(session, retention=timedelta(days=90), now=NOW + timedelta(days=91))
    assert result["channel_addresses"] == 1
    assert channel_of(session, idle) == "gone"
    assert channel_of(session, resident) == WHATSAPP and channel_of(session, recent) == WEB


def test_a_webhook_delivered_late_does_not_open_the_window_late(session: Session) -> None:
    chat = address_chat(session, channel=WHATSAPP, address="31657575757", now=NOW)
    written = NOW - timedelta(hours=30)  # Meta redelivers a message from before an outage
    receive(session, channel=WHATSAPP, chat_id=chat, external_id="late", text="hoi", at=written, now=NOW)
    session.expire_all()
    assert not whatsapp_recipient(session, chat, now=NOW).window_open  # type: ignore[union-attr]


def test_what_waited_for_the_window_is_due_when_the_resident_writes(session: Session) -> None:
    from wijkbot.channels import WAITS_FOR_WINDOW

    chat = address_chat(session, channel=WHATSAPP, address="31658585858", now=NOW)
    enqueue(session, purpose="reply:9:0", chat_id=chat, text="Sanne: het bankje komt er!", now=NOW)
    enqueue(session, purpose="checkin:later", chat_id=chat, text="later", not_before=NOW + timedelta(days=3), now=NOW)
    waiting = session.scalars(select(models.OutboxMessage).where(models.OutboxMessage.purpose == "reply:9:0")).one()
    waiting.not_before, waiting.error = NOW + timedelta(hours=1), f"sendMessage has no template: {WAITS_FOR_WINDOW}"
    session.flush()
    receive(session, channel=WHATSAPP, chat_id=chat, external_id="w", text="hoi", now=NOW + timedelta(minutes=5))
    session.expire_all()
    due = {r.purpose: r.not_before for r in session.scalars(select(models.OutboxMessage))}
    assert due["reply:9:0"] == NOW + timedelta(minutes=5)
    assert due["checkin:later"] == NOW + timedelta(days=3)  # planned for later: not pulled forward


def test_a_refusal_for_a_closed_window_puts_the_row_back_for_a_template(session: Session) -> None:
    from wijkbot.channels import window_closed

    chat = address_chat(session, channel=WHATSAPP, address="31659595959", now=NOW, wrote=True)
    row = sent_row(session, chat, Text(text="hoi"), "a")
    row.channel_message_id = "wamid.refused"
    session.flush()
    assert window_closed(session, channel_message_id="wamid.refused", now=NOW + timedelta(hours=1))
    assert (row.status, row.not_before, row.channel_message_id) == ("pending", NOW + timedelta(hours=1), None)
    assert not whatsapp_recipient(session, chat, now=NOW + timedelta(hours=1)).window_open  # type: ignore[union-attr]
    assert not window_closed(session, channel_message_id="wamid.unknown", now=NOW)


def test_a_vote_on_an_earlier_copy_of_the_poll_counts_on_the_same_ballot(session: Session) -> None:
    resident = make_resident(session, telegram_id=address_chat(session, channel=WHATSAPP, address="3166", now=NOW))
    poll = models.Poll(
        area_codes=["WK082611"],
        question="Bankje?",
        options=["ja", "nee"],
        created_via="telegram",
        starts_at=NOW,
        closes_at=NOW + timedelta(days=7),
    )
    session.add(poll)
    session.flush()
    message = Poll(question="Bankje?", options=["ja", "nee"], ballot=Ballot(poll.id, resident.id))
    first = sent_row(session, resident.telegram_id, message, f"poll:{poll.id}")
    again = sent_row(session, resident.telegram_id, message, "ballot:77")  # sent again after the template
    session.add(
        models.PollBallot(
            poll_id=poll.id,
            resident_id=resident.id,
            area_code="WK082611",
            chat_id=resident.telegram_id,
            telegram_poll_id=f"wa{again.id}",
        )
    )
    session.flush()
    update = receive(
        session, channel=WHATSAPP, chat_id=resident.telegram_id, external_id="v", button=f"pv:wa{first.id}:1", now=NOW
    )
    assert update is not None and update["poll_answer"]["poll_id"] == f"wa{again.id}"
