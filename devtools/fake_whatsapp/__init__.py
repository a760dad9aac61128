"""A strict fake of Meta's WhatsApp Business Cloud API on loopback, for the tests (docs/whatsapp.md).

The transport (bot/whatsapp_transport.py) talks to it over HTTP as to graph.facebook.com::

    with start_fake_whatsapp(webhook_url="http://127.0.0.1:8080/webhooks/whatsapp") as wa:
        settings = Settings(whatsapp_base_url=wa.base_url, whatsapp_token=wa.token, ...)
        wa.send_text("31612345678", "Hallo")   # a resident writes: a signed webhook, the window opens
        ...
        wa.wait_for("31612345678", count=1)     # what the municipality sent to that resident

It serves ``POST /{version}/{phone_number_id}/messages`` and ``/media`` with a bearer token, and refuses what
Meta refuses, with Meta's error shape and codes (checks.py): unknown keys (100), too many or duplicate buttons
and rows, titles and bodies over their limits (131009), unknown templates (132001), a wrong number of template
parameters (132000), parameters with newlines, tabs or five spaces (132018), a wrong token (190, HTTP 401).

The 24-hour window as Meta has it: every message a resident sends through the fake's helpers opens it for that
wa_id; a non-template message outside it is accepted (a wamid comes back) and then reported as ``failed`` with
error 131047 in a status webhook, never ``sent``. Inside, ``sent`` then ``delivered`` are posted. Webhooks go
to ``webhook_url``, signed with the app secret (``sign_webhooks=False`` to leave the signature out).
The clock can be moved on (``advance``) to close a window without waiting.

Rate limits (off unless set): the pair rate limit (131056, ``set_pair_rate_limit``) and throughput (130429,
``set_throughput``). Faults: ``fail_next(code, http_status)``, ``drop_next()`` (the connection is closed after
the request was read; ``after_send=True``: after it took effect), ``delay_next(seconds)``.

The server runs tornado on its own event loop in a background thread, so sync and async tests alike can use it.
"""

from .checks import ApiError, Template
from .server import (
    DEFAULT_APP_SECRET,
    DEFAULT_PHONE_NUMBER_ID,
    DEFAULT_TEMPLATES,
    DEFAULT_TOKEN,
    FakeWhatsAppServer,
    Posted,
    RecordedCall,
    start_fake_whatsapp,
)

__all__ = [
    "DEFAULT_APP_SECRET",
    "DEFAULT_PHONE_NUMBER_ID",
    "DEFAULT_TEMPLATES",
    "DEFAULT_TOKEN",
    "ApiError",
    "FakeWhatsAppServer",
    "Posted",
    "RecordedCall",
    "Template",
    "start_fake_whatsapp",
]
