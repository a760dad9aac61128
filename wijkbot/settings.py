"""One typed settings object, read from the environment and an optional `.env` file."""

from __future__ import annotations

import secrets
from datetime import time
from functools import lru_cache
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MUNICIPALITIES = ("GM0826", "GM0828")


class Settings(BaseSettings):
    """Everything wijkbot reads from its environment. Names match DESIGN.md's contract."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    telegram_bot_token: SecretStr | None = None
    telegram_base_url: str = "https://api.telegram.org/bot"
    telegram_base_file_url: str | None = None
    telegram_bot_username: str = "wijkbot_bot"
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = 8443

    database_url: str = "sqlite:///var/wijkbot.db"
    rasa_url: str = "http://127.0.0.1:5005"
    action_server_url: str = "http://127.0.0.1:5055"
    rasa_tracker_db: str = "var/rasa_tracker.db"
    # Several Rasa replicas (RASA_URLS, comma separated; RASA_URL when empty) must share their conversations
    # and take turns per resident: a PostgreSQL tracker store and a Redis lock store (docs/deploy.md).
    rasa_urls: str = ""
    rasa_tracker_store_url: SecretStr | None = None  # postgresql://user:password@host:5432/rasa
    rasa_lock_store_url: SecretStr | None = None  # redis://:password@host:6379/0
    # How long the bot waits for one Rasa turn before it gives up and sends the turn again later. Longer than
    # Rasa's own worst case (it waits up to 300 s for the action server): a turn that is merely slow is waited
    # for, not resent (a resent turn is one Rasa may run twice; wijkbot.effects keeps its side effects single).
    rasa_timeout_seconds: float = Field(default=330.0, gt=0)
    # A resident whose turn takes longer than this gets one holding reply while the bot keeps waiting.
    holding_reply_after_seconds: float = Field(default=15.0, gt=0)
    # Telegram's pacing of one chat (its published limits: about one message a second to a private chat, twenty a
    # minute to a group); the sender keeps them. Only a test setup has a reason to make them shorter.
    telegram_chat_gap_seconds: float = Field(default=1.0, ge=0)
    telegram_group_gap_seconds: float = Field(default=3.0, ge=0)
    # Turns in flight to Rasa at once; the rest wait in order (admission control instead of a pile-up).
    rasa_max_in_flight: int = Field(default=8, ge=1)
    # Rasa's HTTP API (--enable-api) only answers with this token; `wijkbot run` makes one per run when unset
    rasa_token: SecretStr | None = None

    wijkbot_municipalities: str = ",".join(DEFAULT_MUNICIPALITIES)
    outreach_quiet_hours: str = "21:00-09:00"
    outreach_max_per_week: int = 1
    outreach_window_days: float = Field(default=7.0, gt=0)
    outreach_checkin_days: float = 28.0
    outreach_nudge_after_hours: float = 20.0
    poll_default_days: float = Field(default=7.0, gt=0)
    # The municipality's time zone (poll times, quiet hours, "vandaag"), read from MUNICIPALITY_TZ: never from
    # the process's TZ, which a server or container often sets to UTC.
    municipality_tz: str = "Europe/Amsterdam"

    reminder_after_hours: float = 24.0
    escalate_after_hours: float = 72.0
    staff_invite_days: float = Field(default=7.0, gt=0)  # an invite link stops working after this
    staff_awaiting_minutes: float = Field(default=30.0, gt=0)  # a pressed Beantwoorden waits this long for text
    retention_days: int = 90
    # The staff workspace on the web (issue 13; docs/web.md), served by `wijkbot run`. WEB_BASE_URL is the
    # address staff open (behind a reverse proxy with https in production); empty: http://WEB_HOST:WEB_PORT.
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=8080, ge=0, le=65535)
    web_base_url: str = ""
    # Signs the session cookie; empty: a random key per run (everyone signs in again after a restart).
    web_secret_key: SecretStr | None = None
    web_login_minutes: float = Field(default=10.0, gt=0)  # a login link works this long, once
    web_session_hours: float = Field(default=12.0, gt=0)  # a web session lasts this long
    small_group_threshold: int = Field(default=5, ge=1)

    # Channels (issue 14; docs/channels.md): each is off unless configured. WhatsApp through Meta's Cloud API:
    # the web app serves its webhook at /webhooks/whatsapp. Outside a resident's 24-hour customer-service
    # window only approved templates may be sent: polls and check-ins go out as these templates (the others
    # wait until the resident writes again, or go out as WHATSAPP_TEMPLATE_NOTICE when that is set).
    whatsapp_token: SecretStr | None = None
    whatsapp_app_secret: SecretStr | None = None
    whatsapp_verify_token: SecretStr | None = None
    whatsapp_phone_number_id: str = ""
    whatsapp_base_url: str = "https://graph.facebook.com/v21.0"
    whatsapp_template_poll: str = ""
    whatsapp_template_checkin: str = ""
    whatsapp_template_notice: str = ""
    whatsapp_template_language: str = "nl"
    whatsapp_per_second: float = Field(default=80.0, gt=0)  # the Cloud API's default throughput per number
    # The web chat for the municipality's site: the widget (/widget.js) is served by the web app; WEB_CHAT
    # turns it on, WEB_CHAT_ORIGINS lists the sites (https://www.oss.nl,…) that may embed it.
    web_chat: bool = False
    web_chat_origins: str = ""

    @field_validator(
        "telegram_bot_token",
        "webhook_secret",
        "rasa_token",
        "rasa_tracker_store_url",
        "rasa_lock_store_url",
        "web_secret_key",
        "whatsapp_token",
        "whatsapp_app_secret",
        "whatsapp_verify_token",
        mode="before",
    )
    @classmethod
    def _empty_secret_is_none(cls, value: object) -> object:
        return None if value in ("", None) else value

    @field_validator("outreach_quiet_hours")
    @classmethod
    def _quiet_hours_parse(cls, value: str) -> str:
        parse_quiet_hours(value)
        return value

    @field_validator("municipality_tz")
    @classmethod
    def _tz_exists(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ValueError, KeyError) as exc:  # ZoneInfoNotFoundError is a KeyError
            raise ValueError(f"unknown time zone {value!r} (e.g. Europe/Amsterdam)") from exc
        return value

    @property
    def municipality_codes(self) -> tuple[str, ...]:
        """The configured municipality codes, in order, e.g. ("GM0826", "GM0828")."""
        return tuple(code.strip().upper() for code in self.wijkbot_municipalities.split(",") if code.strip())

    @property
    def quiet_hours(self) -> tuple[time, time] | None:
        """Start and end of the daily period in which no unsolicited message is sent."""
        return parse_quiet_hours(self.outreach_quiet_hours)

    @model_validator(mode="after")
    def _replicas_share_their_stores(self) -> Settings:
        if self.rasa_tracker_store_url is not None:
            parts = urlsplit(self.rasa_tracker_store_url.get_secret_value())
            if parts.scheme not in ("postgresql", "postgres") or not parts.hostname or not parts.path.strip("/"):
                raise ValueError("RASA_TRACKER_STORE_URL must look like postgresql://user:password@host:5432/rasa")
        if self.rasa_lock_store_url is not None:
            parts = urlsplit(self.rasa_lock_store_url.get_secret_value())
            if parts.scheme != "redis" or not parts.hostname:
                raise ValueError("RASA_LOCK_STORE_URL must look like redis://host:6379/0")
        if len(self.rasa_replicas) > 1 and (self.rasa_tracker_store_url is None or self.rasa_lock_store_url is None):
            raise ValueError(
                "several Rasa replicas (RASA_URLS) need RASA_TRACKER_STORE_URL (PostgreSQL) and "
                "RASA_LOCK_STORE_URL (Redis): they must share conversations and take turns per resident"
            )
        return self

    @property
    def rasa_replicas(self) -> list[str]:
        """The Rasa servers the bot spreads turns over: RASA_URLS, else RASA_URL."""
        urls = [url.strip().rstrip("/") for url in self.rasa_urls.split(",") if url.strip()]
        return urls or [self.rasa_url.rstrip("/")]

    @property
    def rasa_tracker_url(self) -> str:
        """Rasa's SQL tracker store (endpoints): erasure and retention clean it too."""
        if self.rasa_tracker_store_url is not None:
            return self.rasa_tracker_store_url.get_secret_value()
        return f"sqlite:///{self.rasa_tracker_db}"

    @property
    def web_url(self) -> str:
        """The workspace's address without a trailing slash: WEB_BASE_URL, else http://WEB_HOST:WEB_PORT."""
        return (self.web_base_url or f"http://{self.web_host}:{self.web_port}").rstrip("/")

    @property
    def whatsapp_enabled(self) -> bool:
        """WhatsApp is on when its token, app secret, verify token and phone number id are all set."""
        return bool(self.whatsapp_token and self.whatsapp_app_secret and self.whatsapp_verify_token) and bool(
            self.whatsapp_phone_number_id.strip()
        )

    @property
    def chat_origins(self) -> list[str]:
        """The sites that may embed the web chat (WEB_CHAT_ORIGINS, comma separated)."""
        return [origin.strip().rstrip("/") for origin in self.web_chat_origins.split(",") if origin.strip()]

    @property
    def zone(self) -> ZoneInfo:
        """The municipality's time zone."""
        return ZoneInfo(self.municipality_tz)


def rasa_environment(settings: Settings) -> dict[str, str]:
    """Environment for the Rasa server and the action server: endpoints.replicas.yml reads ${ACTION_SERVER_URL}
    and the shared stores' ${RASA_TRACKER_*} and ${RASA_LOCK_*} (Rasa substitutes them and refuses to start
    when one is unset; endpoints.yml for one replica reads nothing, see wijkbot.runner.endpoints_for); the
    action server binds to SANIC_HOST (rasa_sdk's default is 0.0.0.0, and the webhook has no authentication)."""
    env = {
        "ACTION_SERVER_URL": settings.action_server_url.rstrip("/"),
        "RASA_TELEMETRY_ENABLED": "false",
        "SANIC_HOST": "127.0.0.1",
    }
    if settings.rasa_tracker_store_url is not None:  # endpoints.replicas.yml
        tracker = urlsplit(settings.rasa_tracker_store_url.get_secret_value())
        env |= {
            "RASA_TRACKER_HOST": tracker.hostname or "",
            "RASA_TRACKER_PORT": str(tracker.port or 5432),
            "RASA_TRACKER_NAME": tracker.path.strip("/"),
            "RASA_TRACKER_USER": unquote(tracker.username or ""),
            "RASA_TRACKER_PASSWORD": unquote(tracker.password or ""),
        }
    if settings.rasa_lock_store_url is not None:
        lock = urlsplit(settings.rasa_lock_store_url.get_secret_value())
        env |= {
            "RASA_LOCK_HOST": lock.hostname or "",
            "RASA_LOCK_PORT": str(lock.port or 6379),
            "RASA_LOCK_DB": lock.path.strip("/") or "0",
            "RASA_LOCK_PASSWORD": unquote(lock.password or ""),
        }
    return env


def with_rasa_token(settings: Settings) -> Settings:
    """These settings with a Rasa token: RASA_TOKEN when set, else a new random one for this run."""
    if settings.rasa_token is not None:
        return settings
    return settings.model_copy(update={"rasa_token": SecretStr(secrets.token_urlsafe(32))})


def parse_quiet_hours(value: str) -> tuple[time, time] | None:
    """Parse "21:00-09:00" into two times; an empty string means no quiet hours."""
    value = value.strip()
    if not value:
        return None
    try:
        start, end = (part.strip() for part in value.split("-"))
        return time.fromisoformat(start), time.fromisoformat(end)
    except ValueError as exc:
        raise ValueError(f"OUTREACH_QUIET_HOURS must look like 21:00-09:00, not {value!r}") from exc


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
