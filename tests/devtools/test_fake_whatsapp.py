"""The fake WhatsApp Cloud API refuses what Meta refuses, keeps Meta's 24-hour window, posts signed status webhooks,
and lets tests play residents and inject faults (devtools/fake_whatsapp)."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from devtools.fake_whatsapp import DEFAULT_APP_SECRET, FakeWhatsAppServer, Template, start_fake_whatsapp
from wijkbot.whatsapp import Incoming, StatusUpdate, parse_webhook, verify_signature

ANNA = "31612345678"
BERT = "31687654321"


class Receiver:
    """A small webhook receiver on loopback: records every POST, answers `status`."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.received: list[tuple[dict[str, str], bytes]] = []
        self._cond = threading.Condition()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._cond:
                    receiver.received.append(({k: v for k, v in self.headers.items()}, body))
                    receiver._cond.notify_all()
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/whatsapp"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def wait(self, count: int, timeout: float = 5.0) -> list[tuple[dict[str, str], bytes]]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.received) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"expected {count} webhooks, got {len(self.received)}")
                self._cond.wait(remaining)
            return list(self.received)

    def events(self, count: int) -> list[Any]:
        return [event for _, body in self.wait(count) for event in parse_webhook(json.loads(body))]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def wa(receiver: Receiver) -> Iterator[FakeWhatsAppServer]:
    with start_fake_whatsapp(webhook_url=receiver.url) as server:
        yield server
        assert server.errors() == []


@pytest.fixture
def api(wa: FakeWhatsAppServer) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {wa.token}"}
    with httpx.Client(base_url=f"{wa.base_url}/{wa.phone_number_id}/", headers=headers, trust_env=False) as client:
        yield client


def text(to: str = ANNA, body: str = "Hallo", **extra: Any) -> dict[str, Any]:
    return {"messaging_product": "whatsapp", "to": to, "type": "text", "text": {"body": body}, **extra}


def buttons(*pairs: tuple[str, str], body: str = "Kies") -> dict[str, Any]:
    action = {"buttons": [{"type": "reply", "reply": {"id": i, "title": t}} for i, t in pairs]}
    interactive = {"type": "button", "body": {"text": body}, "action": action}
    return {"messaging_product": "whatsapp", "to": ANNA, "type": "interactive", "interactive": interactive}


def list_message(sections: list[dict[str, Any]], button: str = "Kies") -> dict[str, Any]:
    interactive = {"type": "list", "body": {"text": "Kies"}, "action": {"button": button, "sections": sections}}
    return {"messaging_product": "whatsapp", "to": ANNA, "type": "interactive", "interactive": interactive}


def rows(count: int, **extra: Any) -> list[dict[str, Any]]:
    return [{"id": f"r{i}", "title": f"Rij {i}", **extra} for i in range(count)]


def template(name: str = "wijkbot_peiling", texts: tuple[str, ...] = ("Meer bankjes?",), payloads: int = 1) -> dict:
    components: list[dict[str, Any]] = [{"type": "body", "parameters": [{"type": "text", "text": t} for t in texts]}]
    components += [
        {
            "type": "button",
            "sub_type": "quick_reply",
            "index": str(i),
            "parameters": [{"type": "payload", "payload": "p"}],
        }
        for i in range(payloads)
    ]
    tpl = {"name": name, "language": {"code": "nl"}, "components": components}
    return {"messaging_product": "whatsapp", "to": ANNA, "type": "template", "template": tpl}


def refused(client: httpx.Client, body: Any, code: int, status: int = 400) -> dict[str, Any]:
    answer = client.post("messages", json=body)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["code"] == code, error
    assert error["error_data"]["messaging_product"] == "whatsapp" and error["fbtrace_id"]
    assert error["message"].startswith(f"(#{code})")
    return dict(error)


# -- what a send must be ------------------------------------------------------------------------------------------


def test_a_text_in_the_window_is_answered_as_meta_answers(wa: FakeWhatsAppServer, api: httpx.Client) -> None:
    wa.open_window(ANNA)
    answer = api.post("messages", json=text())
    assert answer.status_code == 200
    body = answer.json()
    assert body["messaging_product"] == "whatsapp" and body["contacts"] == [{"input": ANNA, "wa_id": ANNA}]
    [sent] = wa.sent(ANNA)
    assert sent["id"] == body["messages"][0]["id"] and sent["id"].startswith("wamid.")
    assert sent["text"] == {"body": "Hallo"}


def test_a_wrong_or_missing_token_is_an_oauth_error(wa: FakeWhatsAppServer) -> None:
    url = f"{wa.base_url}/{wa.phone_number_id}/messages"
    for headers in ({"Authorization": "Bearer wrong"}, {}):
        answer = httpx.post(url, json=text(), headers=headers, trust_env=False)
        assert answer.status_code == 401
        error = answer.json()["error"]
        assert (error["code"], error["type"]) == (190, "OAuthException")


def test_another_phone_number_id_does_not_exist(wa: FakeWhatsAppServer) -> None:
    url = f"{wa.base_url}/123/messages"
    answer = httpx.post(url, json=text(), headers={"Authorization": f"Bearer {wa.token}"}, trust_env=False)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == 100


def test_messaging_product_must_be_whatsapp(api: httpx.Client) -> None:
    refused(api, {**text(), "messaging_product": "sms"}, 100)
    body = text()
    del body["messaging_product"]
    refused(api, body, 100)


def test_recipient_type_is_individual_and_to_a_number(api: httpx.Client) -> None:
    refused(api, text(recipient_type="group"), 100)
    refused(api, text(to="Anna"), 100)


def test_an_unknown_key_is_an_invalid_parameter(api: httpx.Client) -> None:
    error = refused(api, text(reply_markup={}), 100)
    assert "reply_markup" in error["error_data"]["details"]
    refused(api, {**text(), "text": {"body": "x", "parse_mode": "HTML"}}, 100)


def test_an_unsupported_type_or_a_missing_part_is_refused(api: httpx.Client) -> None:
    refused(api, {**text(), "type": "sticker"}, 100)
    refused(api, {"messaging_product": "whatsapp", "to": ANNA, "type": "image"}, 100)
    refused(api, [text()], 100)
    assert api.post("messages", content=b"{not json", headers={"Content-Type": "application/json"}).status_code == 400


def test_a_text_is_at_most_4096_characters(api: httpx.Client) -> None:
    refused(api, text(body="x" * 4097), 131009)
    refused(api, text(body=""), 100)


def test_reply_buttons_are_one_to_three(api: httpx.Client) -> None:
    refused(api, buttons(), 131009)
    refused(api, buttons(("a", "A"), ("b", "B"), ("c", "C"), ("d", "D")), 131009)


def test_reply_button_ids_and_titles_are_unique(api: httpx.Client) -> None:
    refused(api, buttons(("a", "Ja"), ("a", "Nee")), 131009)
    refused(api, buttons(("a", "Ja"), ("b", "Ja")), 131009)


def test_a_reply_button_title_is_at_most_20_and_its_id_256(api: httpx.Client) -> None:
    refused(api, buttons(("a", "x" * 21)), 131009)
    refused(api, buttons(("a" * 257, "Ja")), 131009)


def test_a_button_message_body_is_at_most_1024(api: httpx.Client) -> None:
    refused(api, buttons(("a", "Ja"), body="x" * 1025), 131009)


def test_a_list_has_at_most_ten_rows_in_all(api: httpx.Client) -> None:
    refused(api, list_message([{"rows": rows(11)}]), 131009)
    refused(api, list_message([{"title": "A", "rows": rows(6)}, {"title": "B", "rows": rows(5)}]), 131009)


def test_a_list_row_title_is_at_most_24_its_description_72(api: httpx.Client) -> None:
    refused(api, list_message([{"rows": [{"id": "r", "title": "x" * 25}]}]), 131009)
    refused(api, list_message([{"rows": [{"id": "r", "title": "x", "description": "y" * 73}]}]), 131009)


def test_a_list_button_label_is_at_most_20_and_row_ids_unique(api: httpx.Client) -> None:
    refused(api, list_message([{"rows": rows(2)}], button="x" * 21), 131009)
    refused(api, list_message([{"rows": [{"id": "r", "title": "a"}, {"id": "r", "title": "b"}]}]), 131009)


def test_several_sections_need_titles_and_at_most_ten(api: httpx.Client) -> None:
    refused(api, list_message([{"rows": rows(1)}, {"rows": rows(1)}]), 100)
    refused(api, list_message([{"title": str(i), "rows": [{"id": str(i), "title": "x"}]} for i in range(11)]), 131009)


def test_a_template_must_be_approved_in_that_language(api: httpx.Client) -> None:
    refused(api, template(name="onbekend"), 132001)
    body = template()
    body["template"]["language"] = {"code": "en"}
    refused(api, body, 132001)


def test_a_template_gets_exactly_its_parameters(api: httpx.Client) -> None:
    refused(api, template(texts=("een", "twee")), 132000)
    refused(api, template(payloads=0), 132000)


@pytest.mark.parametrize("value", ["twee\nregels", "met\ttab", "vijf     spaties"])
def test_template_parameters_may_not_hold_newlines_tabs_or_five_spaces(api: httpx.Client, value: str) -> None:
    refused(api, template(texts=(value,)), 132018)


def test_a_clean_template_goes_out_outside_the_window(wa: FakeWhatsAppServer, api: httpx.Client) -> None:
    assert api.post("messages", json=template(texts=("vier    spaties mag",))).status_code == 200
    assert [m["type"] for m in wa.sent(ANNA)] == ["template"]


def test_configured_templates_replace_the_defaults(receiver: Receiver) -> None:
    with start_fake_whatsapp(templates={"eigen": Template(body_parameters=2)}) as wa:
        headers = {"Authorization": f"Bearer {wa.token}"}
        url = f"{wa.base_url}/{wa.phone_number_id}/messages"
        answer = httpx.post(url, json=template(), headers=headers, trust_env=False)
        assert answer.json()["error"]["code"] == 132001
        good = template(name="eigen", texts=("a", "b"), payloads=0)
        assert httpx.post(url, json=good, headers=headers, trust_env=False).status_code == 200


# -- media --------------------------------------------------------------------------------------------------------


def upload(client: httpx.Client, mime: str = "image/png", **data: str) -> httpx.Response:
    fields = {"messaging_product": "whatsapp", "type": mime, **data}
    return client.post("media", data=fields, files={"file": ("kaart.png", b"\x89PNG", mime)})


def test_an_uploaded_image_is_sent_by_its_media_id(wa: FakeWhatsAppServer, api: httpx.Client) -> None:
    wa.open_window(ANNA)
    media_id = upload(api).json()["id"]
    assert wa.media(media_id) == ("kaart.png", b"\x89PNG", "image/png")
    image = {"messaging_product": "whatsapp", "to": ANNA, "type": "image", "image": {"id": media_id, "caption": "x"}}
    assert api.post("messages", json=image).status_code == 200
    refused(api, {**image, "image": {"id": "404"}}, 131053)
    refused(api, {**image, "image": {"id": media_id, "link": "https://x"}}, 100)


def test_an_upload_needs_whatsapp_and_a_supported_type(api: httpx.Client) -> None:
    assert upload(api, "video/x-msvideo").json()["error"]["code"] == 131053
    assert upload(api, messaging_product="sms").json()["error"]["code"] == 100
    assert api.post("media", json={"messaging_product": "whatsapp"}).json()["error"]["code"] == 100


# -- the window and the status webhooks ---------------------------------------------------------------------------


def test_in_the_window_sent_then_delivered_arrive_signed(
    wa: FakeWhatsAppServer, api: httpx.Client, receiver: Receiver
) -> None:
    assert wa.send_text(ANNA, "Hoi") == 200
    wamid = api.post("messages", json=text()).json()["messages"][0]["id"]
    received = receiver.wait(3)
    for headers, body in received:
        assert verify_signature(DEFAULT_APP_SECRET, body, headers.get("X-Hub-Signature-256"))
    statuses = [e for e in receiver.events(3) if isinstance(e, StatusUpdate)]
    assert [(s.message_id, s.status, s.recipient_id) for s in statuses] == [
        (wamid, "sent", ANNA),
        (wamid, "delivered", ANNA),
    ]


def test_a_status_webhook_the_receiver_did_not_take_is_posted_again(
    wa: FakeWhatsAppServer, api: httpx.Client, receiver: Receiver
) -> None:
    assert wa.send_text(ANNA, "Hoi") == 200
    receiver.status = 500  # the receiver fails (its database is busy, say): Meta tries again
    wamid = api.post("messages", json=text()).json()["messages"][0]["id"]
    receiver.wait(2)
    receiver.status = 200
    statuses = [e for e in receiver.events(4) if isinstance(e, StatusUpdate)]
    assert [(s.message_id, s.status) for s in statuses][:3] == [(wamid, "sent"), (wamid, "sent"), (wamid, "delivered")]
    wa.wait_until(lambda: any(p.statuses == ["delivered"] for p in wa.webhooks()))  # recorded after the answer
    answers = [(p.statuses, p.status_code) for p in wa.webhooks() if p.statuses]
    assert answers[0] == (["sent"], 500) and (["sent"], 200) in answers and answers[-1] == (["delivered"], 200)


def test_outside_the_window_a_free_form_message_is_accepted_then_fails_with_131047(
    wa: FakeWhatsAppServer, api: httpx.Client, receiver: Receiver
) -> None:
    answer = api.post("messages", json=text())
    assert answer.status_code == 200  # as Meta: accepted, a wamid comes back
    wamid = answer.json()["messages"][0]["id"]
    [event] = receiver.events(1)
    assert isinstance(event, StatusUpdate)
    assert (event.message_id, event.status, event.error_code, event.error_title) == (
        wamid,
        "failed",
        131047,
        "Re-engagement message",
    )
    assert wa.sent(ANNA) == [] and [m["error_code"] for m in wa.accepted(ANNA)] == [131047]


def test_the_window_closes_24_hours_after_the_residents_last_message(wa: FakeWhatsAppServer, api: httpx.Client) -> None:
    wa.send_text(ANNA, "Hoi")
    wa.advance(23.9 * 3600)
    assert wa.window_open(ANNA)
    wa.advance(0.2 * 3600)
    assert not wa.window_open(ANNA)
    api.post("messages", json=text())
    assert wa.sent(ANNA) == []


def test_the_signature_can_be_left_out(receiver: Receiver) -> None:
    with start_fake_whatsapp(webhook_url=receiver.url, sign_webhooks=False) as wa:
        wa.send_text(ANNA, "Hoi")
        [(headers, _)] = receiver.wait(1)
        assert "X-Hub-Signature-256" not in headers


def test_without_a_webhook_url_statuses_are_only_recorded() -> None:
    with start_fake_whatsapp() as wa:
        wa.open_window(ANNA)
        headers = {"Authorization": f"Bearer {wa.token}"}
        httpx.post(f"{wa.base_url}/{wa.phone_number_id}/messages", json=text(), headers=headers, trust_env=False)
        wa.wait_until(lambda: wa.sent(ANNA)[0]["status"] == "delivered")
        assert wa.webhooks() == []


# -- residents ----------------------------------------------------------------------------------------------------


def test_residents_messages_arrive_as_meta_posts_them(wa: FakeWhatsAppServer, receiver: Receiver) -> None:
    assert wa.send_text(ANNA, "Er ligt afval", name="Anna") == 200
    assert wa.press_button(ANNA, "rb:7:0", "Ja", "wamid.OUT1") == 200
    assert wa.pick_row(ANNA, "pv:wa5:3", "Speeltuin", "wamid.OUT2") == 200
    assert wa.press_template_button(ANNA, "pv:wa5:open", "Stem nu", "wamid.OUT3") == 200
    assert wa.send_location(ANNA, 51.765, 5.518, label="Markt") == 200
    events = receiver.events(5)
    assert all(isinstance(e, Incoming) and e.wa_id == ANNA and e.name == "Anna" for e in events)
    assert [(e.kind, e.text, e.reply_id, e.context_id) for e in events] == [
        ("text", "Er ligt afval", None, None),
        ("button", "Ja", "rb:7:0", "wamid.OUT1"),
        ("button", "Speeltuin", "pv:wa5:3", "wamid.OUT2"),
        ("button", "Stem nu", "pv:wa5:open", "wamid.OUT3"),
        ("location", "Markt", None, None),
    ]
    assert wa.last_inbound_id(ANNA) == events[-1].message_id
    assert wa.window_open(ANNA) and not wa.window_open(BERT)


def test_a_forged_webhook_is_posted_as_given(wa: FakeWhatsAppServer, receiver: Receiver) -> None:
    assert wa.post_raw(b'{"object":"x"}', "sha256=" + "0" * 64) == 200
    assert wa.post_raw(b"[]", None) == 200
    (first, body), (second, _) = receiver.wait(2)
    assert body == b'{"object":"x"}' and not verify_signature(DEFAULT_APP_SECRET, body, first["X-Hub-Signature-256"])
    assert "X-Hub-Signature-256" not in second


def test_the_receivers_answer_is_returned() -> None:
    rejecting = Receiver(status=403)
    try:
        with start_fake_whatsapp(webhook_url=rejecting.url) as wa:
            assert wa.send_text(ANNA, "Hoi") == 403
    finally:
        rejecting.close()


# -- rate limits and faults ---------------------------------------------------------------------------------------


def test_the_pair_rate_limit_refuses_a_burst_to_one_resident_only(wa: FakeWhatsAppServer, api: httpx.Client) -> None:
    wa.set_pair_rate_limit(1, seconds=60)
    assert api.post("messages", json=template()).status_code == 200
    refused(api, template(), 131056)
    other = template()
    other["to"] = BERT
    assert api.post("messages", json=other).status_code == 200
    wa.set_pair_rate_limit(None)
    assert api.post("messages", json=template()).status_code == 200


def test_throughput_beyond_the_limit_is_refused(wa: FakeWhatsAppServer, api: httpx.Client) -> None:
    wa.set_throughput(1)
    assert api.post("messages", json=template()).status_code == 200
    refused(api, {**template(), "to": BERT}, 130429)


def test_fail_next_answers_with_metas_error(wa: FakeWhatsAppServer, api: httpx.Client) -> None:
    wa.fail_next(131026)
    error = refused(api, template(), 131026)
    assert "undeliverable" in error["message"]
    wa.fail_next(131000, 500)
    refused(api, template(), 131000, status=500)
    assert api.post("messages", json=template()).status_code == 200


def test_drop_next_closes_the_connection_before_or_after_the_send(wa: FakeWhatsAppServer, api: httpx.Client) -> None:
    wa.drop_next()
    with pytest.raises(httpx.RemoteProtocolError):
        api.post("messages", json=template())
    assert wa.accepted(ANNA) == []
    wa.drop_next(after_send=True)
    with pytest.raises(httpx.RemoteProtocolError):
        api.post("messages", json=template())
    assert len(wa.accepted(ANNA)) == 1


def test_delay_next_outlasts_a_client_timeout(wa: FakeWhatsAppServer, api: httpx.Client) -> None:
    wa.delay_next(2.0)
    with pytest.raises(httpx.ReadTimeout):
        api.post("messages", json=template(), timeout=0.2)
    assert [c.endpoint for c in wa.calls()] == ["messages"]


async def test_residents_can_write_from_an_async_test(wa: FakeWhatsAppServer, receiver: Receiver) -> None:
    assert await wa.send_text_async(ANNA, "Hoi") == 200
    assert await wa.press_button_async(ANNA, "rb:1:0", "Ja", "wamid.X") == 200
    assert await wa.pick_row_async(ANNA, "pv:wa1:4", "Licht", "wamid.Y") == 200
    assert await wa.press_template_button_async(ANNA, "pv:wa1:open", "Doe mee", "wamid.Z") == 200
    assert await wa.post_raw_async(b"{}", None) == 200
    assert len(receiver.wait(5)) == 5
