"""The launcher's own steps: writing .env, and refusing to start on a bad setting."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from channels.launcher import GENERATED_SECRETS, training_digest, write_env_if_missing
from tests.conftest import ROOT


def test_writes_env_with_fresh_secrets_once(tmp_path: Path) -> None:
    (tmp_path / ".env.example").write_text((ROOT / ".env.example").read_text())
    assert write_env_if_missing(tmp_path) is True
    values = dict(
        line.split("=", 1) for line in (tmp_path / ".env").read_text().splitlines() if "=" in line and line[0] != "#"
    )
    for name in GENERATED_SECRETS:
        assert len(values[name]) >= 32
    first = (tmp_path / ".env").read_text()
    assert write_env_if_missing(tmp_path) is False
    assert (tmp_path / ".env").read_text() == first
    assert oct((tmp_path / ".env").stat().st_mode)[-3:] == "600"


def test_a_bad_setting_stops_start_up_naming_it(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "GATEWAY_PORT": "eighty",
        "SYNC_SCHEDULE": "sometimes",
        "DATA_DIR": str(tmp_path),
        "SYNC_WEBHOOK_TOKEN": "x",
        "TWILIO_AUTH_TOKEN": "y",
    }
    result = subprocess.run(
        [sys.executable, "-m", "channels.launcher", "--no-write-env"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "GATEWAY_PORT" in result.stderr and "SYNC_SCHEDULE" in result.stderr
    assert "cron" in result.stderr


def test_training_digest_follows_the_training_data() -> None:
    assert training_digest() == training_digest()
    assert len(training_digest()) == 12
