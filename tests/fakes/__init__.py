"""Fakes of outside services for the tests (Telegram Bot API server on loopback)."""

from .telegram_api import (
    DEFAULT_TOKEN,
    ApiError,
    FakeTelegramServer,
    HtmlParseError,
    RecordedCall,
    UploadedFile,
    fast_request,
    parse_html,
    post_update,
    post_update_async,
    start_fake_telegram,
)

__all__ = [
    "DEFAULT_TOKEN",
    "ApiError",
    "FakeTelegramServer",
    "HtmlParseError",
    "RecordedCall",
    "UploadedFile",
    "fast_request",
    "parse_html",
    "post_update",
    "post_update_async",
    "start_fake_telegram",
]
