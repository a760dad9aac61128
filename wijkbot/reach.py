"""Reaching residents per wijk (issue 12): a deep link and QR code per wijk and source, the opt-in it offers,
and how many residents each wijk reaches.

A wijk link is `https://t.me/<bot>?start=w_<AREA>_<source>`. Telegram passes the part after `start=` to the
bot as `/start <payload>` (1-64 characters of A-Za-z0-9_-). The payload names a known area code and a source
of lowercase letters, digits and dashes (no underscore, so it splits one way only); anything else starting
with `w_` is a bad link, answered kindly. Opening one sets the resident's wijk, records the source while they
are not subscribed yet, and the bot asks in one tap whether they want to hear from their wijk.

```mermaid
flowchart LR
    CLI["wijkbot areas link CODE --source flyer --qr"] --> QR[printed QR / link]
    WL["/wijklink (staff, council)"] --> QR
    QR -- "opens t.me/bot?start=w_CODE_flyer" --> S["/start w_CODE_flyer"]
    S -- "open_link: wijk set, source recorded" --> Q{"Wil je af en toe horen wat er in … speelt?"}
    Q -- "Ja (wl:yes:CODE)" --> SUB["accept_link: subscribed as 'aanmelden' does, via 'link'"]
    Q -- "Nee (wl:no)" --> NO[nothing changes]
    SUB --> R["wijkbot reach: subscribers, share, new this month, by source"]
```
"""

from __future__ import annotations

import io
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

import segno
from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import models
from wijkbot import purposes
from wijkbot.media import store_media
from wijkbot.municipalities import Area, Registry
from wijkbot.outbox import enqueue
from wijkbot.payloads import Photo
from wijkbot.residents import get_or_create_resident, set_home_area, set_outreach
from wijkbot.rights import Action, StaffLike, check

PREFIX = "w_"
DEFAULT_SOURCE = "link"
SOURCE = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
START_PAYLOAD = re.compile(r"[A-Za-z0-9_-]{1,64}")  # what Telegram accepts after ?start=
NO_SOURCE = "(none)"  # by_source key of subscribers who came without a wijk link
VIA = "link"  # consent_via of a subscription from a wijk link


class LinkError(ValueError):
    """A wijk link cannot be made or read; the message says why, in plain words."""


class ReachError(ValueError):
    """Reach cannot be counted as asked (an unknown municipality)."""


@dataclass(frozen=True)
class WijkLink:
    area: Area
    source: str

    @property
    def payload(self) -> str:
        return f"{PREFIX}{self.area.code}_{self.source}"


def is_wijk_link(payload: str) -> bool:
    """Whether a /start payload claims to be a wijk link (good or bad); anything else is e.g. a staff invite."""
    return payload.startswith(PREFIX)


def make_link(registry: Registry, *, area_code: str, source: str = DEFAULT_SOURCE) -> WijkLink:
    """The link of a known area and a source such as `flyer` or `wijkkrant` (lowercase; letters, digits, -)."""
    area = registry.find_area(area_code.strip().upper())
    if area is None:
        raise LinkError(f"unknown area code {area_code!r} (see `wijkbot areas list`)")
    name = source.strip().lower()
    if not SOURCE.fullmatch(name):
        raise LinkError(
            f"a source is 1-32 lowercase letters, digits or dashes, starting with a letter or digit: {source!r}"
        )
    link = WijkLink(area, name)
    if not START_PAYLOAD.fullmatch(link.payload):  # cannot happen with the patterns above; Telegram's limit
        raise LinkError(f"the start payload {link.payload!r} does not fit Telegram's limit")
    return link


def parse_link(registry: Registry, payload: str) -> WijkLink:
    """The wijk link a /start payload names; LinkError when it is malformed or its area is not configured."""
    if not START_PAYLOAD.fullmatch(payload) or not is_wijk_link(payload):
        raise LinkError("not a wijk link")
    code, underscore, source = payload[len(PREFIX) :].partition("_")
    if not underscore or not SOURCE.fullmatch(source) or code != code.upper():
        raise LinkError("not a wijk link")
    return make_link(registry, area_code=code, source=source)


def deep_link(bot_username: str, link: WijkLink) -> str:
    return f"https://t.me/{bot_username}?start={link.payload}"


# --- the printable QR code ------------------------------------------------------------------------------

QR_SCALE = 12  # pixels per module
QR_BORDER = 4  # modules of quiet zone, as the standard asks


def qr_matrix(url: str) -> list[list[bool]]:
    """The QR code's modules (True: dark), without the quiet zone."""
    code = segno.make_qr(url, error="m")
    return [[bool(module) for module in row] for row in code.matrix]


def qr_png(url: str, *, caption: str) -> bytes:
    """A printable PNG: the QR code of `url`, with `caption` (the wijk's name) centred under it."""
    matrix = qr_matrix(url)
    side = (len(matrix) + 2 * QR_BORDER) * QR_SCALE
    font = ImageFont.load_default(size=max(24, side // 16))
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    left, top, right, bottom = (int(v) for v in probe.textbbox((0, 0), caption, font=font))
    width = max(side, right - left + 2 * QR_BORDER * QR_SCALE)
    image = Image.new("L", (width, side + (bottom - top) + 2 * QR_BORDER * QR_SCALE), 255)
    draw = ImageDraw.Draw(image)
    offset = (width - side) // 2 + QR_BORDER * QR_SCALE
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if dark:
                x0, y0 = offset + x * QR_SCALE, QR_BORDER * QR_SCALE + y * QR_SCALE
                draw.rectangle((x0, y0, x0 + QR_SCALE - 1, y0 + QR_SCALE - 1), fill=0)
    draw.text(((width - (right - left)) // 2 - left, side - top), caption, font=font, fill=0)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


# --- opening a link, and the one-tap opt-in -------------------------------------------------------------


@dataclass(frozen=True)
class Opened:
    area: Area
    subscribed: bool  # already subscribed: nothing to ask


def open_link(session: Session, *, telegram_id: int, first_name: str | None, link: WijkLink) -> Opened:
    """A resident opened a wijk link: their wijk becomes the link's; its source is recorded unless they are
    subscribed already (the source says what brought a subscription)."""
    resident = get_or_create_resident(session, telegram_id=telegram_id, first_name=first_name)
    set_home_area(session, resident, area_code=link.area.code)
    if not resident.outreach_opt_in:
        resident.source = link.source
    return Opened(link.area, resident.outreach_opt_in)


def accept_link(
    session: Session, registry: Registry, *, telegram_id: int, area_code: str, now: datetime, via: str = VIA
) -> bool:
    """ "Ja" under a wijk link's question (or the offer's, via `offer`: wijkbot.offers): subscribed to that wijk
    as `aanmelden` does (consent time and channel kept); False when they were subscribed already. LinkError
    for an area that is not configured."""
    area = registry.find_area(area_code)
    if area is None:
        raise LinkError(f"unknown area code {area_code!r}")
    resident = get_or_create_resident(session, telegram_id=telegram_id)
    set_home_area(session, resident, area_code=area.code)
    return set_outreach(session, resident, opt_in=True, via=via, now=now)


# --- /wijklink: each of a staff or council member's areas, as a link and a QR code -----------------------


def link_picture(session: Session, *, url: str, link: WijkLink) -> models.Media:
    """The stored QR picture of this link (made once; later sends reuse it and its Telegram file id)."""
    filename = f"{link.payload}.png"
    found = session.scalars(
        select(models.Media).where(models.Media.kind == "wijklink", models.Media.filename == filename)
    ).first()
    if found is not None:
        return found
    data = qr_png(url, caption=link.area.name)
    return store_media(session, kind="wijklink", filename=filename, content_type="image/png", data=data)


def queue_wijk_links(
    session: Session,
    registry: Registry,
    *,
    staff: StaffLike,
    bot_username: str,
    chat_id: int,
    update_id: int,
    source: str = DEFAULT_SOURCE,
    now: datetime,
) -> int:
    """Queue, for each of this staff member's areas, its QR code with the link in the caption; how many.
    NotAllowed unless their role may recruit (wijkbot.rights); LinkError for a bad source."""
    check(staff, Action.LINK)
    queued = 0
    for code in staff.area_codes:
        link = make_link(registry, area_code=code, source=source)
        url = deep_link(bot_username, link)
        label = escape(link.area.label)
        caption = (
            f"<b>Wijklink {label}</b> (bron: {escape(link.source)})\n{escape(url)}\n\nPrint de QR-code of deel "
            f"de link. Wie hem opent, krijgt {label} als wijk en de vraag of hij op de hoogte wil blijven."
        )
        media = link_picture(session, url=url, link=link)
        enqueue(
            session,
            purpose=purposes.wijk_link(update_id, code),
            chat_id=chat_id,
            message=Photo(media_id=media.id, caption=caption),
            priority=10,
            now=now,
        )
        queued += 1
    return queued


# --- reach per wijk -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AreaReach:
    code: str
    name: str
    population: int
    subscribers: int
    new_this_month: int
    by_source: dict[str, int] = field(default_factory=dict)

    @property
    def share(self) -> float:
        """Subscribers as a fraction of the CBS population (0.0 when it is unknown)."""
        return round(self.subscribers / self.population, 6) if self.population else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "population": self.population,
            "subscribers": self.subscribers,
            "share": self.share,
            "new_this_month": self.new_this_month,
            "by_source": dict(sorted(self.by_source.items())),
        }


def month_start(now: datetime, zone: ZoneInfo) -> datetime:
    """The first moment of `now`'s calendar month in the municipality's time zone."""
    local = now.astimezone(zone)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def reach(
    session: Session,
    registry: Registry,
    *,
    now: datetime,
    zone: ZoneInfo,
    municipality_codes: Sequence[str] | None = None,
) -> list[AreaReach]:
    """Per area of these municipalities (all configured ones by default): the residents subscribed to outreach
    (opted in, not blocked) against the CBS population, those who subscribed this month, and by source."""
    wanted = set(municipality_codes) if municipality_codes else {m.code for m in registry.municipalities}
    unknown = wanted - {m.code for m in registry.municipalities}
    if unknown:
        raise ReachError(f"unknown or unconfigured municipality: {', '.join(sorted(unknown))}")
    since = month_start(now, zone)
    rows = session.execute(
        select(models.Resident.area_code, models.Resident.source, models.Resident.consent_at).where(
            models.Resident.outreach_opt_in.is_(True),
            models.Resident.blocked.is_(False),
            models.Resident.area_code.is_not(None),
        )
    ).all()
    total: Counter[str] = Counter()
    new: Counter[str] = Counter()
    sources: dict[str, Counter[str]] = {}
    for area_code, source, consent_at in rows:
        total[area_code] += 1
        new[area_code] += consent_at is not None and since <= consent_at <= now
        sources.setdefault(area_code, Counter())[source or NO_SOURCE] += 1
    return [
        AreaReach(
            code=area.code,
            name=area.name,
            population=area.population or 0,
            subscribers=total[area.code],
            new_this_month=new[area.code],
            by_source=dict(sources.get(area.code, {})),
        )
        for m in registry.municipalities
        if m.code in wanted
        for area in m.areas
    ]
