"""The scale-out profile's settings: Rasa's endpoints file for REDIS_URL, INDEX_DIR and where the sync lock lives."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]
from pydantic import ValidationError

from channels.launcher import DEFAULT_ENDPOINTS, child_env, scale_out_endpoints, write_endpoints
from channels.settings import Settings
from content_sync.settings import SyncSettings

SECRETS = {"sync_webhook_token": "a", "twilio_auth_token": "b", "privacy_key": "0123456789abcdef"}


def settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path, **(SECRETS | values))  # type: ignore[arg-type]


def test_without_redis_rasa_gets_the_default_endpoints_file(tmp_path: Path) -> None:
    plain = settings(tmp_path)
    assert scale_out_endpoints(plain) is None
    assert write_endpoints(plain) == DEFAULT_ENDPOINTS
    assert not (tmp_path / "rasa-endpoints.yml").exists()


def test_with_redis_rasa_gets_redis_tracker_and_lock_stores_and_no_password_on_disk(tmp_path: Path) -> None:
    profile = settings(tmp_path, redis_url="rediss://bot:s3cr%40t@cache.internal:6380/2", retention_days=30)
    path = Path(write_endpoints(profile))
    text = path.read_text()
    assert path == (tmp_path / "rasa-endpoints.yml").resolve()
    assert "s3cr" not in text
    config = yaml.safe_load(text)
    assert config["action_endpoint"]["url"] == "${ACTIONS_URL}/webhook"  # the default file's part, kept
    for store in ("tracker_store", "lock_store"):
        assert config[store] | {"password": None} == {
            "type": "redis",
            "url": "cache.internal",
            "port": 6380,
            "db": 2,
            "use_ssl": True,
            "key_prefix": "assistant",
            "username": "${REDIS_USERNAME}",
            "password": None,
            **({"record_exp": 30 * 86400} if store == "tracker_store" else {}),
        }
        assert config[store]["password"] == "${REDIS_PASSWORD}"
    env = child_env(profile, tmp_path / "model.tar.gz")
    assert env["REDIS_PASSWORD"] == "s3cr@t" and env["REDIS_USERNAME"] == "bot"


def test_redis_url_must_be_a_redis_url() -> None:
    with pytest.raises(ValidationError, match="not a Redis URL"):
        SyncSettings(_env_file=None, redis_url="http://127.0.0.1:6379")


def test_index_dir_defaults_to_data_dir_and_the_lock_follows_a_shared_one(tmp_path: Path) -> None:
    default = SyncSettings(_env_file=None, data_dir=tmp_path)
    assert default.index_dir == tmp_path / "index" and default.sync_lock_dir == tmp_path
    shared = SyncSettings(_env_file=None, data_dir=tmp_path, index_dir=tmp_path / "shared")
    assert shared.index_dir == tmp_path / "shared" and shared.sync_lock_dir == tmp_path / "shared"
