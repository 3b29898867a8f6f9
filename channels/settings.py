"""The gateway's settings: everything content_sync needs, plus ports, secrets and mail."""

from __future__ import annotations

from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import NoDecode

from content_sync.settings import SyncSettings


class Settings(SyncSettings):
    """Read from the environment (which wins) or `.env`. Secrets have no default: start-up fails without them."""

    bind_host: str = "127.0.0.1"
    gateway_port: int = Field(8000, ge=1, le=65535)
    rasa_port: int = Field(5005, ge=1, le=65535)
    actions_port: int = Field(5055, ge=1, le=65535)
    smtp_listen_port: int = Field(2525, ge=1, le=65535)

    sync_webhook_token: SecretStr
    twilio_auth_token: SecretStr
    public_base_url: str = "http://127.0.0.1:8000"

    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(1025, ge=1, le=65535)
    smtp_starttls: bool = False
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    email_from: str = "assistant@agency.example"
    # Bearer token for POST /email/inbound (a mail provider's inbound-parse webhook posting raw messages);
    # empty: the route is off (503).
    email_inbound_token: SecretStr = SecretStr("")
    # Bearer token for GET /metrics (docs/metrics.md); empty: /metrics answers loopback connections only.
    metrics_token: SecretStr = SecretStr("")

    max_message_chars: int = Field(2000, ge=10)
    sms_max_chars: int = Field(480, ge=160)

    # Where the gateway reaches Rasa and the action server; empty: loopback on RASA_PORT / ACTIONS_PORT.
    rasa_url: str = ""
    actions_url: str = ""
    # Shared secrets for the internal services (Rasa's --auth-token; the action server's token). Empty is
    # allowed only while they listen on loopback.
    rasa_token: SecretStr = SecretStr("")
    actions_token: SecretStr = SecretStr("")

    # Twilio's REST API, for SMS answers that are not ready inside Twilio's webhook window.
    twilio_account_sid: str = ""
    twilio_api_base_url: str = "https://api.twilio.com"
    # The agency's number that texts the assistant starts come from ("Text me this"); empty: that is off.
    twilio_from_number: str = Field("", pattern=r"^(\+[1-9][0-9]{6,14})?$")
    sms_inline_timeout: float = Field(8.0, gt=0, le=14)

    # Degraded mode (channels/degraded.py): a message Rasa has not answered within RASA_TIMEOUT seconds (or that
    # Rasa or the action server refused) is answered by the gateway from the index itself; after such a failure
    # Rasa is tried again (a short health probe) at most every RASA_RETRY_SECONDS. A message with no answer at all
    # within ANSWER_TIMEOUT seconds is told it has been passed on, and goes to the review queue.
    rasa_timeout: float = Field(5.0, gt=0, le=120)
    rasa_retry_seconds: float = Field(10.0, gt=0, le=3600)
    answer_timeout: float = Field(10.0, gt=0, le=300)
    # Seconds an inbound message (web or SMS) is held by the gateway answering it; a message still unanswered
    # after that (its gateway died) is answered again by another gateway, or this one after a restart.
    inbound_lease_seconds: float = Field(45.0, ge=1, le=3600)

    # Inbound email: answer only senders that this receiving server's Authentication-Results pass (SPF/DMARC).
    email_authserv_id: str = ""
    # Messages per minute from one client address on each public route, and within one conversation; 0: off.
    rate_limit_per_client: int = Field(60, ge=0)
    rate_limit_per_session: int = Field(20, ge=0)
    # Where the rate-limit counters live (channels/guards/limits.py): memory:// (each gateway process counts
    # alone) or a Redis URL (redis://host:port/db, rediss:// with TLS) that every gateway replica shares.
    # Empty: REDIS_URL when that is set (the scale-out profile), else memory://.
    rate_limit_storage: str = ""
    # Reverse proxies whose X-Forwarded-For is believed (addresses or CIDRs, comma-separated); empty: none, and
    # the client address is always the direct peer's (channels/guards/address.py).
    trusted_proxies: Annotated[list[IPv4Network | IPv6Network], NoDecode] = Field(default_factory=list)
    # Origins (scheme://host[:port]) of the pages that may embed the web chat widget (CORS on /api/chat and
    # /static/); `*` allows any. Empty: the origins of SYNC_SOURCES, the agency's own site.
    widget_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Personal data (channels/privacy.py): the key of the hashes that stand for customers' numbers and addresses
    # (make run generates it; changing it splits every stored conversation from its earlier turns), and how many
    # days transcripts, answer events and SMS rows are kept before the daily purge deletes them.
    privacy_key: SecretStr = Field(min_length=16)
    retention_days: int = Field(90, ge=1)

    # Staff sign-in (channels/staff): a session ends STAFF_SESSION_HOURS after sign-in, or after
    # STAFF_IDLE_MINUTES without a request. STAFF_LOGIN_MAX_FAILURES failed sign-ins for one email (or
    # STAFF_LOGIN_MAX_FAILURES_PER_CLIENT from one address) within STAFF_LOCKOUT_MINUTES lock it that long.
    staff_session_hours: float = Field(8.0, gt=0, le=720)
    staff_idle_minutes: float = Field(30.0, gt=0)
    staff_login_max_failures: int = Field(5, ge=1)
    staff_login_max_failures_per_client: int = Field(20, ge=1)
    staff_lockout_minutes: float = Field(15.0, gt=0)

    @field_validator("rate_limit_storage")
    @classmethod
    def _limit_storage(cls, value: str) -> str:
        value = value.strip()
        scheme = urlsplit(value).scheme
        if value not in ("", "memory://") and (scheme not in ("redis", "rediss") or not urlsplit(value).hostname):
            raise ValueError(f"{value!r} is not memory:// or a Redis URL such as redis://127.0.0.1:6379/0")
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxies(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list):
            return value
        networks = []
        for entry in value:
            try:
                networks.append(ip_network(str(entry), strict=False))
            except ValueError:
                raise ValueError(
                    f"{entry!r} is not an IP address or CIDR; give entries such as 10.0.0.5 or 10.0.0.0/8, "
                    "comma-separated"
                ) from None
        return networks

    @field_validator("widget_origins", mode="before")
    @classmethod
    def _origins_csv(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip().rstrip("/") for part in value.split(",") if part.strip()]
        return value

    @field_validator("widget_origins")
    @classmethod
    def _origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            parts = urlsplit(origin)
            if origin != "*" and (parts.scheme not in ("http", "https") or not parts.hostname or parts.path):
                raise ValueError(
                    f"{origin!r} is not an origin; give scheme://host[:port] entries or *, comma-separated"
                )
        return origins

    @model_validator(mode="after")
    def _service_urls(self) -> Settings:
        if not self.rasa_url:
            self.rasa_url = f"http://127.0.0.1:{self.rasa_port}"
        if not self.actions_url:
            self.actions_url = f"http://127.0.0.1:{self.actions_port}"
        self.rasa_url = self.rasa_url.rstrip("/")
        self.actions_url = self.actions_url.rstrip("/")
        return self

    @model_validator(mode="after")
    def _lease_outlasts_an_answer(self) -> Settings:
        if self.inbound_lease_seconds <= self.answer_timeout:
            raise ValueError(
                f"INBOUND_LEASE_SECONDS ({self.inbound_lease_seconds:g}) must be longer than ANSWER_TIMEOUT "
                f"({self.answer_timeout:g}): a message still being answered would be answered a second time"
            )
        return self

    @property
    def limits_storage(self) -> str:
        """RATE_LIMIT_STORAGE, or REDIS_URL when that is empty and REDIS_URL is set, else memory://."""
        return self.rate_limit_storage or self.redis_url or "memory://"

    @property
    def embed_origins(self) -> list[str]:
        """WIDGET_ORIGINS, or the origins of the sources (the agency's site embeds the widget)."""
        if self.widget_origins:
            return self.widget_origins
        return sorted({f"{p.scheme}://{p.netloc}".lower() for p in map(urlsplit, self.sources)})

    @property
    def sms_webhook_url(self) -> str:
        """The URL Twilio was given, which its signature covers."""
        return self.public_base_url.rstrip("/") + "/sms/twilio"


def describe_error(exc: ValidationError) -> str:
    """One line per bad variable, naming it and what is expected."""
    lines = []
    for error in exc.errors():
        name = str(error["loc"][0]).upper() if error["loc"] else "settings"
        message = (
            "is required but not set (put it in .env or the environment)"
            if error["type"] == "missing"
            else f"is invalid: {error['msg']}"
        )
        lines.append(f"  {name} {message}")
    return "Configuration error:\n" + "\n".join(lines)


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings()
