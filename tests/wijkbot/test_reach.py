"""Wijk links, their QR code, the one-tap opt-in and the reach per wijk (wijkbot.reach, issue 12)."""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import segno
from PIL import Image, ImageOps
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from db import models
from tests.factories import make_resident, make_staff
from wijkbot.cli import app
from wijkbot.municipalities import Registry
from wijkbot.privacy import export_resident
from wijkbot.reach import (
    LinkError,
    ReachError,
    accept_link,
    deep_link,
    make_link,
    open_link,
    parse_link,
    qr_png,
    queue_wijk_links,
    reach,
)
from wijkbot.residents import set_outreach
from wijkbot.rights import NotAllowed
from wijkbot.settings import get_settings

DORST, SLOTJES, RUWAARD = "WK082613", "WK082601", "WK082806"
ZONE = ZoneInfo("Europe/Amsterdam")
NOW = datetime(2026, 12, 15, 12, 0, tzinfo=UTC)


# --- the start payload ----------------------------------------------------------------------------------


def test_a_link_names_a_known_area_and_a_source_within_telegrams_limit(registry: Registry) -> None:
    link = make_link(registry, area_code="wk082613", source=" Flyer ")
    assert link.payload == "w_WK082613_flyer" and link.area.name == "Dorst"
    assert deep_link("OssBot", link) == "https://t.me/OssBot?start=w_WK082613_flyer"
    assert parse_link(registry, "w_WK082613_flyer") == link
    longest = make_link(registry, area_code=DORST, source="a" * 32)
    assert len(longest.payload) <= 64 and parse_link(registry, longest.payload) == longest
    assert make_link(registry, area_code=DORST).source == "link"


@pytest.mark.parametrize(
    ("code", "source"),
    [
        ("WK999999", "flyer"),  # no such area
        ("WK082613", ""),
        ("WK082613", "a" * 33),  # too long
        ("WK082613", "flyer_2"),  # an underscore would split the payload two ways
        ("WK082613", "-flyer"),
        ("WK082613", "wijk krant"),
        ("WK082613", "fl€yer"),
    ],
)
def test_a_link_cannot_be_made_for_an_unknown_area_or_a_bad_source(registry: Registry, code: str, source: str) -> None:
    with pytest.raises(LinkError):
        make_link(registry, area_code=code, source=source)


@pytest.mark.parametrize(
    "payload",
    [
        "w_WK999999_flyer",  # unknown area
        "w_WK082613",  # no source
        "w_WK082613_",
        "w_wk082613_flyer",  # a payload is read as written, not normalised
        "w_WK082613_Flyer",
        "w_WK082613_fl_yer",
        "w_WK082613_" + "a" * 33,
        "w_WK082613_" + "a" * 60,  # over Telegram's 64
        "w_WK082613_flyer?x=1",
        "w_",
        "x_WK082613_flyer",
        "",
    ],
)
def test_a_bad_payload_is_no_link(registry: Registry, payload: str) -> None:
    with pytest.raises(LinkError):
        parse_link(registry, payload)


# --- the QR code -----------------------------------------------------------------------------------------


def read_modules(png: bytes, size: int) -> tuple[list[list[bool]], Image.Image, tuple[int, int, int, int]]:
    """The dark/light modules of the QR code in a PNG, sampled at the centre of each module."""
    image = Image.open(io.BytesIO(png)).convert("L")
    dark = ImageOps.invert(image)
    # the QR code is the top block of dark pixels; the caption lies under it, apart
    rows = [y for y in range(image.height) if dark.crop((0, y, image.width, y + 1)).getbbox() is not None]
    end = next(previous + 1 for previous, y in itertools.pairwise(rows) if y - previous > 10)
    left, top, right, _ = dark.crop((0, 0, image.width, end)).getbbox() or (0, 0, 0, 0)
    module = (right - left) / size
    matrix = [
        [image.getpixel((int(left + (x + 0.5) * module), int(top + (y + 0.5) * module))) < 128 for x in range(size)]
        for y in range(size)
    ]
    return matrix, image, (left, top, right, end)


def test_the_qr_code_is_a_png_of_the_link_with_the_wijk_name_under_it() -> None:
    url = "https://t.me/OssBot?start=w_WK082613_flyer"
    png = qr_png(url, caption="Dorst")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    expected = [[bool(m) for m in row] for row in segno.make_qr(url, error="m").matrix]
    matrix, image, (left, top, right, qr_bottom) = read_modules(png, len(expected))
    assert Image.open(io.BytesIO(png)).format == "PNG"
    assert image.width >= 400 and right - left == qr_bottom - top  # square, big enough to print
    assert matrix == expected  # the picture round-trips to segno's matrix of this very link
    other = [[bool(m) for m in row] for row in segno.make_qr(url.replace("flyer", "krant"), error="m").matrix]
    assert matrix != other
    caption = ImageOps.invert(image).crop((0, qr_bottom, image.width, image.height)).getbbox()
    assert caption is not None  # the name is printed under the code
    under_other_name = Image.open(io.BytesIO(qr_png(url, caption="Den Hout"))).convert("L")
    assert (
        under_other_name.crop((0, qr_bottom, image.width, image.height)).tobytes()
        != image.crop((0, qr_bottom, image.width, image.height)).tobytes()
    )


# --- opening a link, and Ja ------------------------------------------------------------------------------


def test_opening_a_link_sets_the_wijk_and_records_the_source_and_ja_subscribes(
    session: Session, registry: Registry
) -> None:
    link = make_link(registry, area_code=DORST, source="flyer")
    opened = open_link(session, telegram_id=5551, first_name="Anna", link=link)
    assert opened.area.code == DORST and not opened.subscribed
    resident = session.scalars(select(models.Resident).where(models.Resident.telegram_id == 5551)).one()
    assert (resident.area_code, resident.source, resident.outreach_opt_in) == (DORST, "flyer", False)
    exported = export_resident(session, telegram_id=5551)
    assert exported is not None and exported["resident"]["source"] == "flyer"  # /mijngegevens shows it
    assert accept_link(session, registry, telegram_id=5551, area_code=DORST, now=NOW)
    assert (resident.outreach_opt_in, resident.consent_at, resident.consent_via) == (True, NOW, "link")
    assert not accept_link(session, registry, telegram_id=5551, area_code=DORST, now=NOW)  # already
    # a later link does not take the subscription's source away
    again = open_link(session, telegram_id=5551, first_name="Anna", link=make_link(registry, area_code=DORST))
    assert again.subscribed and resident.source == "flyer"
    with pytest.raises(LinkError):
        accept_link(session, registry, telegram_id=5551, area_code="WK999999", now=NOW)


def test_wijk_links_are_queued_as_qr_photos_for_each_area_of_staff_and_council(
    session: Session, registry: Registry
) -> None:
    member = make_staff(session, registry, areas=[DORST, SLOTJES], role="council", telegram_id=6601)
    assert (
        queue_wijk_links(
            session, registry, staff=member, bot_username="OssBot", chat_id=6601, update_id=9, source="krant", now=NOW
        )
        == 2
    )
    rows = {r.purpose: r for r in session.scalars(select(models.OutboxMessage))}
    assert set(rows) == {f"wijklink:9:{DORST}", f"wijklink:9:{SLOTJES}"}
    dorst = rows[f"wijklink:9:{DORST}"]
    assert dorst.method == "sendPhoto" and "https://t.me/OssBot?start=w_WK082613_krant" in dorst.payload["caption"]
    media = session.get(models.Media, dorst.payload["media_id"])
    assert media is not None and media.data.startswith(b"\x89PNG")
    queue_wijk_links(session, registry, staff=member, bot_username="OssBot", chat_id=6601, update_id=10, now=NOW)
    queue_wijk_links(session, registry, staff=member, bot_username="OssBot", chat_id=6601, update_id=11, now=NOW)
    assert len(list(session.scalars(select(models.Media)))) == 4  # one picture per link, made once
    inbox = make_staff(session, registry, areas=[DORST], role="inbox", telegram_id=6602)
    with pytest.raises(NotAllowed):
        queue_wijk_links(session, registry, staff=inbox, bot_username="b", chat_id=6602, update_id=12, now=NOW)
    with pytest.raises(LinkError):
        queue_wijk_links(
            session, registry, staff=member, bot_username="b", chat_id=6601, update_id=13, source="a b", now=NOW
        )


# --- reach -----------------------------------------------------------------------------------------------


def subscriber(session: Session, area: str, *, at: datetime, source: str | None = None) -> models.Resident:
    resident = make_resident(session)
    resident.area_code, resident.source = area, source
    set_outreach(session, resident, opt_in=True, via="link" if source else "chat", now=at)
    return resident


def test_reach_counts_subscribers_against_the_population_this_month_and_by_source(
    session: Session, registry: Registry
) -> None:
    subscriber(session, DORST, at=datetime(2026, 10, 3, tzinfo=UTC))  # through the chat, earlier
    subscriber(session, DORST, at=datetime(2026, 11, 30, 23, 30, tzinfo=UTC), source="flyer")  # 1 Dec in NL
    subscriber(session, DORST, at=datetime(2026, 12, 14, tzinfo=UTC), source="flyer")
    subscriber(session, DORST, at=datetime(2026, 11, 30, 22, 59, tzinfo=UTC), source="krant")  # still November
    subscriber(session, DORST, at=datetime(2026, 12, 2, tzinfo=UTC), source="krant").blocked = True
    left = subscriber(session, DORST, at=datetime(2026, 12, 2, tzinfo=UTC), source="flyer")
    set_outreach(session, left, opt_in=False, via="/stop")
    not_asked = make_resident(session)
    not_asked.area_code, not_asked.source = DORST, "flyer"  # opened the link, said no
    subscriber(session, RUWAARD, at=datetime(2026, 12, 1, tzinfo=UTC), source="meeting")
    session.flush()

    rows = {row.code: row for row in reach(session, registry, now=NOW, zone=ZONE)}
    dorst = rows[DORST]
    assert (dorst.name, dorst.population, dorst.subscribers, dorst.new_this_month) == ("Dorst", 3475, 4, 2)
    assert dorst.by_source == {"(none)": 1, "flyer": 2, "krant": 1}
    assert dorst.as_json()["share"] == pytest.approx(4 / 3475, abs=1e-6)
    assert rows[SLOTJES].as_json() == {
        "code": SLOTJES,
        "name": "Slotjes",
        "population": 8010,
        "subscribers": 0,
        "share": 0.0,
        "new_this_month": 0,
        "by_source": {},
    }
    assert rows[RUWAARD].subscribers == 1
    a_month_later = {r.code: r for r in reach(session, registry, now=datetime(2027, 1, 2, tzinfo=UTC), zone=ZONE)}
    assert a_month_later[DORST].new_this_month == 0 and a_month_later[DORST].subscribers == 4
    only_oss = reach(session, registry, now=NOW, zone=ZONE, municipality_codes=["GM0828"])
    assert {r.code[:6] for r in only_oss} == {"WK0828"} and len(only_oss) == 23
    with pytest.raises(ReachError):
        reach(session, registry, now=NOW, zone=ZONE, municipality_codes=["GM0999"])


# --- the command line ------------------------------------------------------------------------------------


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("TELEGRAM_BOT_USERNAME", "OssWijkBot")
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_areas_link_prints_the_deep_link_last_and_writes_the_qr_code(cli: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "dorst.png"
    result = cli.invoke(app, ["areas", "link", "WK082613", "--source", "wijkkrant", "--qr", str(target)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == "https://t.me/OssWijkBot?start=w_WK082613_wijkkrant"
    expected = [[bool(m) for m in row] for row in segno.make_qr(result.stdout.splitlines()[-1], error="m").matrix]
    assert read_modules(target.read_bytes(), len(expected))[0] == expected
    plain = cli.invoke(app, ["areas", "link", "WK082613"])
    assert plain.stdout.strip().splitlines()[-1] == "https://t.me/OssWijkBot?start=w_WK082613_link"
    for bad in (["areas", "link", "WK999999"], ["areas", "link", "WK082613", "--source", "wijk krant"]):
        refused = cli.invoke(app, bad)
        assert refused.exit_code == 2 and "https://" not in refused.stdout


def test_reach_prints_the_contract_json_and_a_table(cli: CliRunner) -> None:
    result = cli.invoke(app, ["reach", "--municipality", "GM0826", "--json"])
    assert result.exit_code == 0, result.output
    areas = json.loads(result.stdout)["areas"]
    assert len(areas) == 14 and set(areas[0]) == {
        "code",
        "name",
        "population",
        "subscribers",
        "share",
        "new_this_month",
        "by_source",
    }
    table = cli.invoke(app, ["reach"])
    assert table.exit_code == 0 and "Dorst" in table.stdout and "Ruwaard" in table.stdout
    assert cli.invoke(app, ["reach", "--municipality", "GM0999"]).exit_code == 2
