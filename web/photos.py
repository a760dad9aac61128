"""A resident's photo for the item page, fetched from Telegram when a staff member with rights opens it.

Items keep only Telegram file ids (wijkbot.items.add_photo_to_latest_item downloads nothing), so the workspace
asks the Bot API for the file (getFile, then the file URL) each time the page shows it: nothing is stored on the
web server, and the browser is told not to keep it (`Cache-Control: no-store`). The file id never reaches the
browser; the page names a photo by the item's number and the photo's place. Only JPEG, PNG and WebP bytes are
served, at most MAX_BYTES.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx

from wijkbot.settings import Settings

MAX_BYTES = 10 * 1024 * 1024
TELEGRAM_FILE_URL = "https://api.telegram.org/file/bot"
IMAGE_TYPES = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"))


class PhotoUnavailable(Exception):
    """Telegram did not give the file (gone, too large, not an image, or unreachable)."""


@dataclass(frozen=True)
class Image:
    data: bytes
    content_type: str


def image_type(data: bytes) -> str | None:
    """The image's content type from its first bytes, or None when it is not a JPEG, PNG or WebP."""
    for magic, content_type in IMAGE_TYPES:
        if data.startswith(magic):
            return content_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def telegram_fetcher(settings: Settings, *, timeout: float = 10.0) -> Callable[[str], Image]:
    """Fetch a file by its Telegram file id through the Bot API of these settings (as the bot reaches it)."""

    def fetch(file_id: str) -> Image:
        if settings.telegram_bot_token is None:
            raise PhotoUnavailable("no TELEGRAM_BOT_TOKEN")
        token = settings.telegram_bot_token.get_secret_value()
        file_base = settings.telegram_base_file_url or TELEGRAM_FILE_URL
        try:
            with httpx.Client(timeout=timeout) as client:
                found = client.get(f"{settings.telegram_base_url}{token}/getFile", params={"file_id": file_id})
                result = found.json().get("result") if found.status_code == 200 else None
                if not isinstance(result, dict) or not result.get("file_path"):
                    raise PhotoUnavailable(f"getFile answered {found.status_code}")
                if int(result.get("file_size") or 0) > MAX_BYTES:
                    raise PhotoUnavailable("too large")
                downloaded = client.get(f"{file_base}{token}/{result['file_path']}")
        except (httpx.HTTPError, ValueError) as exc:
            raise PhotoUnavailable(type(exc).__name__) from None
        data = downloaded.content
        content_type = image_type(data) if downloaded.status_code == 200 and len(data) <= MAX_BYTES else None
        if content_type is None:
            raise PhotoUnavailable("not an image")
        return Image(data, content_type)

    return fetch
