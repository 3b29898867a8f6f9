"""Settings: the environment wins over .env, and a bad value names the variable."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from channels.settings import Settings, describe_error
from content_sync.settings import SyncSettings


def test_defaults_point_at_the_bundled_sample_site(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNC_SOURCES", raising=False)
    monkeypatch.delenv("ALLOWED_DOMAINS", raising=False)
    settings = SyncSettings(_env_file=None, sample_site_port=8081)  # type: ignore[call-arg]
    assert settings.uses_sample_site
    assert settings.sources == ["http://127.0.0.1:8081/sitemap.xml"]
    assert settings.domains == ["127.0.0.1:8081"]
    assert settings.database_url.endswith("data/runtime/assistant.db")


def test_environment_wins_over_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "GATEWAY_PORT=9001\nRASA_PORT=9002\nSYNC_WEBHOOK_TOKEN=a\nTWILIO_AUTH_TOKEN=b\nPRIVACY_KEY=0123456789abcdef\n"
    )
    monkeypatch.setenv("GATEWAY_PORT", "9100")
    settings = Settings(_env_file=env_file)  # type: ignore[call-arg]
    assert settings.gateway_port == 9100 and settings.rasa_port == 9002


def test_invalid_values_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNC_SCHEDULE", "every day")
    monkeypatch.setenv("GATEWAY_PORT", "eighty")
    monkeypatch.setenv("SYNC_SOURCES", "ftp://files.example/")
    monkeypatch.delenv("SYNC_WEBHOOK_TOKEN", raising=False)
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None)  # type: ignore[call-arg]
    message = describe_error(caught.value)
    for name in ("SYNC_SCHEDULE", "GATEWAY_PORT", "SYNC_SOURCES", "SYNC_WEBHOOK_TOKEN", "TWILIO_AUTH_TOKEN"):
        assert name in message
    assert "cron" in message and "is required but not set" in message


def test_env_example_lists_every_setting() -> None:
    example = Path(__file__).resolve().parents[2] / ".env.example"
    names = {
        line.split("=", 1)[0] for line in example.read_text().splitlines() if "=" in line and not line.startswith("#")
    }
    assert names == {name.upper() for name in Settings.model_fields}


def test_allowed_domains_must_be_hosts() -> None:
    with pytest.raises(ValidationError, match="not a host or host:port"):
        SyncSettings(_env_file=None, allowed_domains="https://agency.gov")  # type: ignore[call-arg]
    settings = SyncSettings(_env_file=None, allowed_domains="agency.gov, [::1]:8080")  # type: ignore[call-arg]
    from content_sync.fetch import DomainPolicy

    policy = DomainPolicy(settings.domains)
    assert policy.allows("https://agency.gov/x") and policy.allows("http://[::1]:8080/")
    assert not policy.allows("http://[::1]:9090/") and not policy.allows("http://agency.gov.evil.example/")
