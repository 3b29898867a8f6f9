"""The launcher's own steps: writing .env, and refusing to start on a bad setting."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from channels import launcher
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


def _append(relative: str, text: str) -> Callable[[Path], None]:
    def change(assistant: Path) -> None:
        path = assistant / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as file:
            file.write(text)

    return change


def _replace(relative: str, old: str, new: str) -> Callable[[Path], None]:
    def change(assistant: Path) -> None:
        path = assistant / relative
        assert old in path.read_text(), f"{relative} no longer contains {old!r}; pick another edit"
        path.write_text(path.read_text().replace(old, new, 1))

    return change


NEW_STORY = """version: "3.1"
stories:
- story: thanks
  steps:
  - intent: thanks
  - action: utter_you_are_welcome
"""
TRAINING_CHANGES = {
    "an NLU example": _append("data/nlu/questions.yml", "    - how do i change my mailing address\n"),
    "a rule": _replace("data/rules/fallback.yml", "action: action_answer_question", "action: utter_greet"),
    "the domain": _replace("domain/chitchat.yml", "  - thanks\n", "  - thanks\n  - thanks_a_lot\n"),
    "config.yml": _replace("config.yml", "epochs: 50", "epochs: 60"),
    "a new story file": _append("data/stories/thanks.yml", NEW_STORY),
    "a renamed training file": lambda a: (a / "data/rules/fallback.yml").rename(a / "data/rules/fallbacks.yml"),
    # Rasa reads .yaml training data and domain files as well as .yml.
    "a .yaml training file": _append("data/stories/thanks.yaml", NEW_STORY),
}
UNRELATED_CHANGES = {
    "the story tests": _append("tests/test_stories.yml", "# a comment\n"),
    "endpoints.yml": _append("endpoints.yml", "# a comment\n"),
    "credentials.yml": _append("credentials.yml", "# a comment\n"),
    "the action code": _append("actions/answer.py", "# a comment\n"),
    "a note beside the data": _append("data/README.txt", "Notes for editors.\n"),
}


@pytest.fixture
def assistant_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of assistant/ that training_digest() reads instead of the real one."""
    copy = tmp_path / "assistant"
    shutil.copytree(ROOT / "assistant", copy, ignore=shutil.ignore_patterns("__pycache__", ".rasa"))
    monkeypatch.setattr(launcher, "ASSISTANT", copy)
    return copy


def test_training_digest_names_the_model(assistant_copy: Path) -> None:
    digest = training_digest()
    assert re.fullmatch(r"[0-9a-f]{12}", digest)
    assert training_digest() == digest, "the same training data must give the same digest (and reuse the model)"


@pytest.mark.parametrize("change", TRAINING_CHANGES.values(), ids=TRAINING_CHANGES.keys())
def test_training_digest_changes_with_every_training_input(
    assistant_copy: Path, change: Callable[[Path], None]
) -> None:
    before = training_digest()
    change(assistant_copy)
    assert training_digest() != before, "a change Rasa trains on must give a new model name"


@pytest.mark.parametrize("change", UNRELATED_CHANGES.values(), ids=UNRELATED_CHANGES.keys())
def test_training_digest_ignores_what_rasa_does_not_train_on(
    assistant_copy: Path, change: Callable[[Path], None]
) -> None:
    before = training_digest()
    change(assistant_copy)
    assert training_digest() == before, "a change Rasa doesn't train on must not force a retrain"
