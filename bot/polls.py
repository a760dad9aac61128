"""Poll answers, and the jobs that open and close polls and send check-ins and nudges.

The database holds what is due (poll start and closing times, check-in schedules, open questions); these
jobs only ask it, so a restart loses nothing. Everything they cause leaves through the outbox.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session
from telegram import Update
from telegram.ext import ContextTypes, JobQueue

from bot.runtime import runtime
from wijkbot.monthly import send_monthly_reports
from wijkbot.outreach import Policy, prune_contacts, run_checkins, send_nudges
from wijkbot.polls import close_due_polls, open_due_polls, record_vote

log = logging.getLogger(__name__)
POLL_JOB_SECONDS = 15.0
OUTREACH_JOB_SECONDS = 600.0


async def record_poll_answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A resident voted, changed their vote or took it back in one of our polls."""
    answer = update.poll_answer
    if answer is None or answer.user is None:
        return
    user_id, poll_id, options = answer.user.id, answer.poll_id, list(answer.option_ids)
    rt = runtime(context)
    now = rt.clock()
    outcome = await rt.db(
        lambda s: record_vote(s, telegram_poll_id=poll_id, user_id=user_id, option_ids=options, now=now)
    )
    log.info("poll answer for %s: %s", poll_id, outcome)


async def run_due_polls(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Open the polls whose start has come; close those whose end has come, with their results."""
    rt = runtime(context)
    settings, registry = rt.services.settings, rt.services.registry
    policy = Policy.from_settings(settings)
    now = rt.clock()

    def work(session: Session) -> int:
        opened = open_due_polls(session, registry, policy=policy, now=now)
        return opened + close_due_polls(session, registry, threshold=settings.small_group_threshold, now=now)

    if await rt.db(work):
        rt.sender.wake()


async def run_outreach(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Send the periodic check-ins, the unfinished-form nudges and the monthly reports per wijk that are due."""
    rt = runtime(context)
    settings, registry = rt.services.settings, rt.services.registry
    policy = Policy.from_settings(settings)
    now = rt.clock()

    def work(session: Session) -> int:
        every = timedelta(days=settings.outreach_checkin_days)
        queued = run_checkins(session, registry, policy=policy, every=every, now=now)
        after = timedelta(hours=settings.outreach_nudge_after_hours)
        queued += send_nudges(session, policy=policy, after=after, now=now)
        queued += send_monthly_reports(session, registry, now=now, zone=settings.zone)  # issue 12
        prune_contacts(session, policy=policy, now=now)
        return queued

    if await rt.db(work):
        rt.sender.wake()


def schedule_jobs(jobs: JobQueue[Any]) -> None:
    """The poll and outreach jobs, on PTB's JobQueue (APScheduler)."""
    jobs.run_repeating(run_due_polls, interval=POLL_JOB_SECONDS, first=2.0, name="polls")
    jobs.run_repeating(run_outreach, interval=OUTREACH_JOB_SECONDS, first=60.0, name="outreach")
