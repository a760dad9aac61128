"""The `wijkbot` command: set-up, areas, staff and running the stack. Every command migrates first."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer

from db import models
from db.migrate import downgrade, migration_lock, upgrade
from db.models import utcnow
from db.session import transaction
from wijkbot.data_schema import DataFileError
from wijkbot.loading import load_registry_into_db
from wijkbot.municipalities import registry_for
from wijkbot.postcodes import resolve_postcode
from wijkbot.services import Services, open_services
from wijkbot.settings import Settings, get_settings
from wijkbot.staff import (
    ROLES,
    StaffError,
    add_staff,
    deactivate_staff,
    invite_expires_at,
    invite_link,
    invite_staff,
    list_staff,
    set_staff_areas,
)

app = typer.Typer(
    help="wijkbot: the neighbourhood front door for residents of Oss and Oosterhout.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
areas_app = typer.Typer(help="Wijken, dorpen and postcodes.", no_args_is_help=True)
staff_app = typer.Typer(help="Wijkmakelaars, wijkcoördinatoren, council members.", no_args_is_help=True)
db_app = typer.Typer(help="The database schema and data.", no_args_is_help=True)
app.add_typer(areas_app, name="areas")
app.add_typer(staff_app, name="staff")
app.add_typer(db_app, name="db")

AreaOption = Annotated[list[str], typer.Option("--area", help="A wijk or dorp code, e.g. WK082611; repeat.")]
RoleOption = Annotated[
    str,
    typer.Option(
        "--role",
        help=f"One of: {', '.join(ROLES)}, or afdeling:<key> (a department in profiles.yaml). "
        "Default: the municipality's own.",
    ),
]


def fail(message: str, code: int = 2) -> None:
    typer.echo(f"wijkbot: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def services() -> Iterator[Services]:
    """Open the database (migrated and loaded) for one command."""
    opened = open_services(get_settings())
    try:
        yield opened
    finally:
        opened.close()


@areas_app.command("resolve")
def areas_resolve(postcode: str) -> None:
    """Print JSON: which wijk or dorp a postcode belongs to (unique, ambiguous, outside or invalid)."""
    with services() as s:
        typer.echo(json.dumps(resolve_postcode(postcode, s.registry).as_json(), ensure_ascii=False))


@areas_app.command("link")
def areas_link(
    code: Annotated[str, typer.Argument(help="A wijk or dorp code, e.g. WK082613.")],
    source: Annotated[
        str, typer.Option("--source", help="Where the link is shown: flyer, wijkkrant, meeting … (a-z, 0-9, -).")
    ] = "link",
    qr: Annotated[
        Path | None, typer.Option("--qr", help="Write a printable QR code (PNG) with the wijk's name.")
    ] = None,
) -> None:
    """Print the wijk's deep link (last line): opening it sets the resident's wijk and offers outreach."""
    from wijkbot.reach import LinkError, deep_link, make_link, qr_png

    with services() as s:
        try:
            link = make_link(s.registry, area_code=code, source=source)
        except LinkError as exc:
            fail(str(exc))
            raise
        url = deep_link(s.settings.telegram_bot_username, link)
    if qr is not None:
        try:
            qr.write_bytes(qr_png(url, caption=link.area.name))
        except OSError as exc:
            fail(f"cannot write the QR code to {qr}: {exc.strerror}")
        typer.echo(f"QR code for {link.area.label} ({link.source}) written to {qr}")
    typer.echo(url)


@areas_app.command("list")
def areas_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the wijken and dorpen with their codes, postcodes and councils."""
    with services() as s:
        rows: list[dict[str, Any]] = []
        for m in s.registry.municipalities:
            for area in m.areas:
                body = s.registry.body_for(area.code)
                pc4s = sorted(pc for pc, codes in m.pc4_index.items() if area.code in codes)
                rows.append(
                    {
                        "municipality": m.name,
                        "code": area.code,
                        "name": area.name,
                        "kind": area.kind,
                        "population": area.population,
                        "postcodes": pc4s,
                        "council": body.name if body else None,
                    }
                )
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        council = f"  [{row['council']}]" if row["council"] else ""
        typer.echo(
            f"{row['code']}  {row['municipality']:<10} {row['kind']:<4} {row['name']:<26} "
            f"{','.join(row['postcodes'])}{council}"
        )


def _default_role(s: Services, area_codes: list[str]) -> str:
    area = s.registry.find_area(area_codes[0]) if area_codes else None
    return s.registry.municipality(area.municipality_code).staff_role if area else "wijkmakelaar"


@staff_app.command("add")
def staff_add(
    name: Annotated[str, typer.Option("--name")],
    telegram_id: Annotated[int, typer.Option("--telegram-id", help="The person's numeric Telegram user id.")],
    area: AreaOption,
    role: RoleOption = "",
) -> None:
    """Add a staff member bound to a Telegram account, for one or more areas."""
    with services() as s, transaction(s.sessions) as session:
        try:
            member = add_staff(
                session,
                s.registry,
                name=name,
                role=role or _default_role(s, area),
                area_codes=area,
                telegram_id=telegram_id,
            )
        except StaffError as exc:
            fail(str(exc))
        typer.echo(f"staff {member.id}: {member.name} ({member.role}) for {', '.join(member.area_codes)}")


@staff_app.command("invite")
def staff_invite(area: AreaOption, role: RoleOption = "", name: Annotated[str, typer.Option("--name")] = "") -> None:
    """Create an invite; the person opens the printed link in Telegram to become staff for these areas."""
    with services() as s, transaction(s.sessions) as session:
        try:
            member = invite_staff(session, s.registry, role=role or _default_role(s, area), area_codes=area, name=name)
        except StaffError as exc:
            fail(str(exc))
        typer.echo(invite_link(s.settings.telegram_bot_username, member.invite_code or ""))
        until = invite_expires_at(member, valid_for=timedelta(days=s.settings.staff_invite_days))
        typer.echo(f"valid until {until.astimezone(s.settings.zone):%Y-%m-%d %H:%M} (STAFF_INVITE_DAYS)", err=True)


@staff_app.command("deactivate")
def staff_deactivate(staff_id: Annotated[int, typer.Argument(help="The staff id (see `wijkbot staff list`).")]) -> None:
    """Take a staff member out of service: no routing, rights or reminders; open threads close, claimed items
    go back to their colleagues."""
    with services() as s, transaction(s.sessions) as session:
        try:
            done = deactivate_staff(
                session, staff_id=staff_id, escalate_after=timedelta(hours=s.settings.escalate_after_hours)
            )
        except StaffError as exc:
            fail(str(exc))
            raise
        typer.echo(
            f"staff {done.member.id} ({done.member.name}) deactivated; {done.threads_closed} open thread(s) closed, "
            f"{done.items_released} item(s) back to their colleagues"
        )


@staff_app.command("set-areas")
def staff_set_areas(
    staff_id: Annotated[int, typer.Argument(help="The staff id (see `wijkbot staff list`).")], area: AreaOption
) -> None:
    """Replace a staff member's areas (routing, /inbox and polls follow at once)."""
    with services() as s, transaction(s.sessions) as session:
        try:
            member = set_staff_areas(session, s.registry, staff_id=staff_id, area_codes=area)
        except StaffError as exc:
            fail(str(exc))
            raise
        typer.echo(f"staff {member.id}: {member.name} ({member.role}) for {', '.join(member.area_codes)}")


@staff_app.command("list")
def staff_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List staff with their role, areas and whether their Telegram account is bound."""
    with services() as s, transaction(s.sessions) as session:
        valid_for = timedelta(days=s.settings.staff_invite_days)
        rows: list[dict[str, Any]] = [
            {
                "id": m.id,
                "name": m.name,
                "role": m.role,
                "areas": m.area_codes,
                "telegram_bound": m.telegram_id is not None,
                "active": m.active,
                "invite_expired": m.invite_code is not None and utcnow() >= invite_expires_at(m, valid_for=valid_for),
            }
            for m in list_staff(session)
        ]
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        typer.echo("no staff yet: add with `wijkbot staff add` or `wijkbot staff invite`")
    for row in rows:
        bound = "bound" if row["telegram_bound"] else ("invite expired" if row["invite_expired"] else "invite pending")
        if not row["active"]:
            bound = "deactivated"
        typer.echo(f"{row['id']:>4}  {row['name']:<24} {row['role']:<16} {','.join(row['areas'])}  ({bound})")


@staff_app.command("login-link")
def staff_login_link(
    telegram_id: Annotated[int, typer.Option("--telegram-id", help="The staff member's numeric Telegram user id.")],
) -> None:
    """Print a one-time link into the web workspace (valid WEB_LOGIN_MINUTES, 10; usable once), on the last line."""
    from wijkbot.web_login import LoginRefused, create_login_link

    with services() as s:
        try:
            with transaction(s.sessions) as session:
                link = create_login_link(
                    session,
                    telegram_id=telegram_id,
                    base_url=s.settings.web_url,
                    valid_for=timedelta(minutes=s.settings.web_login_minutes),
                )
        except LoginRefused as exc:
            fail(str(exc))
            return
    minutes = round(s.settings.web_login_minutes)
    typer.echo(f"One-time login link, valid {minutes} minutes (until {link.expires_at:%H:%M} UTC), usable once:")
    typer.echo(link.url)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Bring the database to the given revision (default: the newest) and load the municipality data."""
    settings = get_settings()
    upgrade(settings.database_url, revision)
    if revision == "head":
        with services() as s, migration_lock(s.settings.database_url), transaction(s.sessions) as session:
            report = load_registry_into_db(session, s.registry)
        typer.echo(f"database up to date; {report.areas} areas, {report.changed} rows changed")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="Target revision, e.g. base.")]) -> None:
    """Undo migrations down to a revision (`base` empties the database)."""
    downgrade(get_settings().database_url, revision)
    typer.echo(f"database at {revision}")


@db_app.command("load")
def db_load() -> None:
    """Load (or refresh) the municipality data into the database; running it twice changes nothing."""
    with services() as s, migration_lock(s.settings.database_url), transaction(s.sessions) as session:
        report = load_registry_into_db(session, s.registry)
    typer.echo(
        f"{report.municipalities} municipalities, {report.areas} areas, {report.buurten} buurten, "
        f"{report.bodies} councils; {report.changed} rows changed"
    )


@app.command("reach")
def reach_command(
    municipality: Annotated[
        list[str] | None, typer.Option("--municipality", help="A municipality code, e.g. GM0828; repeat.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """How many residents each wijk reaches: subscribers against the CBS population, new this month, by source."""
    from wijkbot.reach import ReachError, reach

    with services() as s, transaction(s.sessions) as session:
        try:
            rows = reach(session, s.registry, now=utcnow(), zone=s.settings.zone, municipality_codes=municipality)
        except ReachError as exc:
            fail(str(exc))
            raise
    if as_json:
        typer.echo(json.dumps({"areas": [row.as_json() for row in rows]}, ensure_ascii=False))
        return
    typer.echo(f"{'code':<9} {'name':<26} {'population':>10} {'subscribers':>11} {'share':>7} {'new':>4}  by source")
    for row in rows:
        sources = ", ".join(f"{name} {count}" for name, count in sorted(row.by_source.items()))
        typer.echo(
            f"{row.code:<9} {row.name[:26]:<26} {row.population:>10} {row.subscribers:>11} "
            f"{row.share:>7.2%} {row.new_this_month:>4}  {sources}"
        )


# --- initiatives and their budget (issue 11) ----------------------------------------------------------

initiatives_app = typer.Typer(help="Buurtinitiatieven: their stage, support and money.", no_args_is_help=True)
budget_app = typer.Typer(help="The money for initiatives: available, granted, remaining.", no_args_is_help=True)
app.add_typer(initiatives_app, name="initiatives")
app.add_typer(budget_app, name="budget")


@initiatives_app.command("list")
def initiatives_list(
    area: Annotated[str | None, typer.Option("--area", help="Only this wijk or dorp, e.g. WK082613.")] = None,
    stage: Annotated[
        str | None,
        typer.Option("--stage", help="idea, collecting, review, granted, rejected, other_fund, in_progress, done."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Every initiative with its stage, supporters, amount requested and granted."""
    from wijkbot.initiatives import InitiativeError, euros, list_initiatives

    with services() as s, transaction(s.sessions) as session:
        if area is not None and s.registry.find_area(area) is None:
            fail(f"unknown area {area!r} (see `wijkbot areas list`)")
        try:
            rows = list_initiatives(session, area=area, stage=stage)
        except InitiativeError as exc:
            fail(str(exc))
            raise
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False))
        return
    if not rows:
        typer.echo("No initiatives.")
    for row in rows:
        typer.echo(
            f"#{row['id']:<5} {row['area']:<9} {row['stage']:<11} {row['supporters']:>3} supporters  "
            f"asked {euros(row['requested']):>10}  granted {euros(row['granted']):>10}  {row['title']}"
        )


@budget_app.command("show")
def budget_show(
    municipality: Annotated[
        str | None, typer.Option("--municipality", help="A municipality code, e.g. GM0826.")
    ] = None,
    year: Annotated[int | None, typer.Option("--year", help="Only this year.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Each pot for initiatives (profiles.yaml, initiatives.budgets): available, granted, remaining."""
    from wijkbot.initiatives import budgets, euros

    with services() as s, transaction(s.sessions) as session:
        if municipality is not None and municipality not in [m.code for m in s.registry.municipalities]:
            fail(f"unknown municipality {municipality!r}")
        rows = budgets(session, s.registry, municipality=municipality, year=year)
    if as_json:
        typer.echo(json.dumps({"budgets": [row.as_json() for row in rows]}, ensure_ascii=False))
        return
    if not rows:
        typer.echo("No budgets configured (profiles.yaml, initiatives.budgets).")
    for row in rows:
        typer.echo(
            f"{row.municipality} {row.area or 'all areas':<9} {row.year}  available {euros(row.available):>10}  "
            f"granted {euros(row.granted):>10}  remaining {euros(row.remaining):>10}"
        )


# --- polls (issue 5) --------------------------------------------------------------------------------

poll_app = typer.Typer(help="Neighbourhood polls: create, results, list.", no_args_is_help=True)
app.add_typer(poll_app, name="poll")


def _parse_time(value: str, zone: ZoneInfo, option: str) -> datetime | None:
    """An ISO time from the command line; without a zone it is local time."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        fail(f"{option} must be an ISO date and time such as 2026-12-01T09:00, not {value!r}")
        raise
    return parsed.replace(tzinfo=zone) if parsed.tzinfo is None else parsed


@poll_app.command("create")
def poll_create(
    area: AreaOption,
    question: Annotated[str, typer.Option("--question", help="The question (at most 300 characters).")],
    option: Annotated[list[str], typer.Option("--option", help="An answer; give 2 to 10.")],
    at: Annotated[str, typer.Option("--at", help="Start (ISO; local time without a zone). Default: now.")] = "",
    closes: Annotated[str, typer.Option("--closes", help="Closing time (ISO). Default: a week after the start.")] = "",
    staff_id: Annotated[
        int | None, typer.Option("--staff", help="Staff id of the creator: their areas are checked, they get results.")
    ] = None,
    multiple: Annotated[bool, typer.Option("--multiple", help="Residents may pick several answers.")] = False,
    buurt: Annotated[
        list[str] | None, typer.Option("--buurt", help="Only residents of this buurt (BU code) of the area; repeat.")
    ] = None,
) -> None:
    """Schedule a poll for the subscribers of these areas; prints the poll id."""
    from wijkbot.outreach import Policy
    from wijkbot.polls import PollError, schedule_poll

    with services() as s, transaction(s.sessions) as session:
        zone = s.settings.zone
        starts_at, closes_at = _parse_time(at, zone, "--at"), _parse_time(closes, zone, "--closes")
        creator = session.get(models.StaffMember, staff_id) if staff_id is not None else None
        if staff_id is not None and creator is None:
            fail(f"there is no staff member {staff_id} (see `wijkbot staff list`)")
        now = utcnow()
        try:
            scheduled = schedule_poll(
                session,
                s.registry,
                question=question,
                options=option,
                area_codes=area,
                via="cli",
                policy=Policy.from_settings(s.settings),
                creator=creator,
                starts_at=starts_at,
                closes_at=closes_at,
                default_duration=timedelta(days=s.settings.poll_default_days),
                multiple=multiple,
                buurt_codes=buurt or None,
                now=now,
            )
        except PollError as exc:
            fail(str(exc))
            raise
        typer.echo(scheduled.poll.id)


@poll_app.command("results")
def poll_results_command(
    poll_id: Annotated[int, typer.Argument(help="The poll id.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Print a poll's results in total and per area; small groups are not shown separately."""
    from wijkbot.polls import PollError, poll_results

    with services() as s, transaction(s.sessions) as session:
        threshold = s.settings.small_group_threshold
        try:
            results = poll_results(session, s.registry, poll_id=poll_id, threshold=threshold)
        except PollError as exc:
            fail(str(exc))
            raise
    if as_json:
        typer.echo(json.dumps(results.as_json(), ensure_ascii=False))
        return
    typer.echo(f"poll {results.poll_id} ({results.status}): {results.question}")
    typer.echo(f"  sent to {results.recipients}, votes {results.total}")
    for counted in results.options:
        shown = "hidden" if counted.votes is None else str(counted.votes)
        typer.echo(f"  {shown:>6}  {counted.text}")
    if not results.shown:
        typer.echo(f"  fewer than {threshold} votes in all: the votes per answer are not shown")
    for area_result in results.areas:
        if area_result.options is None:
            typer.echo(f"  {area_result.code} {area_result.name}: not shown (groups under {threshold} votes)")
        else:
            counts = ", ".join(f"{o.text} {o.votes}" for o in area_result.options)
            typer.echo(f"  {area_result.code} {area_result.name} ({area_result.total}): {counts}")


@poll_app.command("list")
def poll_list() -> None:
    """The most recent polls with their status and times."""
    from wijkbot.polls import list_polls

    with services() as s, transaction(s.sessions) as session:
        zone = s.settings.zone
        for poll in list_polls(session):
            typer.echo(
                f"{poll.id:>5}  {poll.status:<9} {poll.starts_at.astimezone(zone):%Y-%m-%d %H:%M} → "
                f"{poll.closes_at.astimezone(zone):%Y-%m-%d %H:%M}  {','.join(poll.area_codes)}  {poll.question[:60]}"
            )


# --- the outbox: what could not be delivered (issue 16, item 9) -----------------------------------------

outbox_app = typer.Typer(help="Messages that could not be delivered: list them, send them again.", no_args_is_help=True)
app.add_typer(outbox_app, name="outbox")


def _age(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // (24 * 60)} d"


@outbox_app.command("failed")
def outbox_failed(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List failed and uncertain (maybe delivered) messages: id, purpose, chat, age, last error and only the
    first few characters of the text."""
    from wijkbot.delivery import undelivered

    with services() as s, transaction(s.sessions) as session:
        rows = undelivered(session, now=utcnow())
    if as_json:
        typer.echo(json.dumps([r.as_json() for r in rows], ensure_ascii=False, indent=2))
        return
    if not rows:
        typer.echo("no failed or uncertain messages")
    for r in rows:
        typer.echo(
            f"{r.id:>6}  {r.status:<9} {r.purpose:<32} chat {r.chat_id:<12} {_age(r.age.total_seconds()):>6}  "
            f"tries {r.attempts:<2}  {r.error}  [{r.prefix}]"
        )


@outbox_app.command("retry")
def outbox_retry(
    row_ids: Annotated[list[int] | None, typer.Argument(help="Outbox ids (see `wijkbot outbox failed`).")] = None,
    retry_all: Annotated[bool, typer.Option("--all", help="Every failed and uncertain message.")] = False,
) -> None:
    """Queue failed or uncertain messages again, due now with a fresh budget of tries."""
    from wijkbot.delivery import requeue

    if bool(row_ids) == retry_all:
        fail("give outbox ids, or --all")
    with services() as s, transaction(s.sessions) as session:
        done = requeue(session, row_ids=None if retry_all else row_ids, now=utcnow())
    typer.echo(
        f"{len(done.requeued)} message(s) queued again"
        + (f": {', '.join(map(str, done.requeued))}" if done.requeued else "")
    )
    if done.not_undelivered:
        fail(f"not failed or uncertain (left alone): {', '.join(map(str, done.not_undelivered))}", code=1)


# --- the monthly digest (issue 13) -------------------------------------------------------------------------

digest_app = typer.Typer(help="The monthly digest for the leads (wijkwethouder), in Telegram.", no_args_is_help=True)
app.add_typer(digest_app, name="digest")


@digest_app.command("send")
def digest_send(
    month: Annotated[str, typer.Option("--month", help="The month, e.g. 2026-11. Default: the previous one.")] = "",
) -> None:
    """Queue a month's digest for every active lead now (the running bot sends it); a lead who has that month's
    digest already does not get it again."""
    from wijkbot.digest import DigestError, leads, previous_month, queue_digests

    with services() as s, transaction(s.sessions) as session:
        settings = s.settings
        now = utcnow()
        wanted = month or previous_month(now, settings.zone)
        try:
            queued = queue_digests(
                session,
                s.registry,
                month=wanted,
                zone=settings.zone,
                now=now,
                web_url=settings.web_url,
                threshold=settings.small_group_threshold,
            )
        except DigestError as exc:
            fail(str(exc))
            raise
        receivers = len(leads(session))
    typer.echo(f"digest {wanted}: {queued} message(s) queued for {receivers} lead(s)")


log = logging.getLogger("wijkbot")


def log_outbox_summary() -> None:
    """At start: how many messages failed, are uncertain or still wait (a warning when any failed)."""
    from wijkbot.delivery import summary

    with services() as s, transaction(s.sessions) as session:
        counts = summary(session, now=utcnow())
    log.log(logging.WARNING if counts.worrying else logging.INFO, "%s", counts.describe())


@app.command("run")
def run() -> None:
    """Start Rasa, the action server and the bot together; Ctrl-C stops them all."""
    from wijkbot.runner import run_stack

    settings: Settings = get_settings()
    registry_for(settings.municipality_codes)
    log_outbox_summary()
    raise typer.Exit(run_stack(settings))


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    except DataFileError as exc:  # a file in wijkbot/data/ is wrong: which file, where in it and what, no traceback
        typer.echo(f"wijkbot: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
