"""Files to send (results charts): stored once in the database, uploaded once, then sent by Telegram file id.

An outbox row refers to a file by `Photo.media_id`; the sender attaches the bytes (or the file id
Telegram gave for an earlier upload) when it claims the row, so the outbox never holds the bytes.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db import models
from wijkbot.payloads import Delivery, Payload, Photo, Upload


def store_media(session: Session, *, kind: str, filename: str, content_type: str, data: bytes) -> models.Media:
    media = models.Media(kind=kind, filename=filename, content_type=content_type, data=data)
    session.add(media)
    session.flush()
    return media


def attach_media(session: Session, message: Payload) -> Payload:
    """The message to send: a photo of a stored file with its Telegram file id (`photo`), or with its bytes
    (`upload`) when Telegram has not seen it yet; any other message as it is."""
    if not isinstance(message, Photo) or message.media_id is None:
        return message
    media = session.get(models.Media, message.media_id)
    if media is None:
        return message
    if media.telegram_file_id:
        return replace(message, photo=media.telegram_file_id)
    return replace(message, upload=Upload(media.data, media.filename))


def remember_file_id(session: Session, *, message: Payload, delivery: Delivery) -> None:
    """Delivery hook: after the first upload of a stored file, send the same file by its Telegram id."""
    if not isinstance(message, Photo) or message.media_id is None or delivery.file_id is None:
        return
    session.execute(
        update(models.Media)
        .where(models.Media.id == message.media_id, models.Media.telegram_file_id.is_(None))
        .values(telegram_file_id=delivery.file_id)
    )


def one_upload_per_file(
    session: Session, rows: list[models.OutboxMessage], *, now: datetime, wait: timedelta = timedelta(seconds=2)
) -> list[models.OutboxMessage]:
    """Of these claimed rows, those to send now: of the rows with a file Telegram has not seen yet, only the
    first; the others go back to the queue for a moment and are then sent by the file id the first got."""
    ids = {int(r.payload["media_id"]) for r in rows if r.payload.get("media_id") is not None}
    if not ids:
        return rows
    unseen = set(
        session.scalars(
            select(models.Media.id).where(models.Media.id.in_(ids), models.Media.telegram_file_id.is_(None))
        )
    )
    keep: list[models.OutboxMessage] = []
    uploading: set[int] = set()
    for row in rows:
        media_id = row.payload.get("media_id")
        if media_id is None or int(media_id) not in unseen:
            keep.append(row)
        elif int(media_id) not in uploading:
            uploading.add(int(media_id))
            keep.append(row)
        else:
            row.status, row.not_before, row.claimed_by = "pending", now + wait, None
    session.flush()
    return keep
