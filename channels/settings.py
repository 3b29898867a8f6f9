"""The gateway's settings: everything content_sync needs, plus ports, secrets and mail."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr, ValidationError, model_validator

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
    sms_inline_timeout: float = Field(8.0, gt=0, le=14)

    # Inbound email: answer only senders that this receiving server's Authentication-Results pass (SPF/DMARC).
    email_authserv_id: str = ""
    # Messages per minute from one client address on each public route, and within one conversation; 0: off.
    rate_limit_per_client: int = Field(60, ge=0)
    rate_limit_per_session: int = Field(20, ge=0)

    @model_validator(mode="after")
    def _service_urls(self) -> Settings:
        if not self.rasa_url:
            self.rasa_url = f"http://127.0.0.1:{self.rasa_port}"
        if not self.actions_url:
            self.actions_url = f"http://127.0.0.1:{self.actions_port}"
        self.rasa_url = self.rasa_url.rstrip("/")
        self.actions_url = self.actions_url.rstrip("/")
        return self

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
