"""The launcher's own steps: writing .env, refusing to start on a bad setting or unguarded internal services."""

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
from channels.launcher import (
    GENERATED_SECRETS,
    add_missing_secrets,
    check_internal_secrets,
    child_env,
    service_urls,
    training_digest,
    write_env_if_missing,
)
from channels.settings import Settings
from tests.conftest import ROOT


def test_writes_env_with_fresh_secrets_once(tmp_path: Path) -> None:
    (tmp_path / ".env.example").write_text((ROOT / ".env.example").read_text())
    assert write_env_if_missing(tmp_path) is True
    values = dict(
        line.split("=", 1) for line in (tmp_path / ".env").read_text().splitlines() if "=" in line and line[0] != "#"
    )
    assert {"RASA_TOKEN", "ACTIONS_TOKEN"} <= set(GENERATED_SECRETS)
    for name in GENERATED_SECRETS:
        assert len(values[name]) >= 32
    assert len({values[name] for name in GENERATED_SECRETS}) == len(GENERATED_SECRETS), "each secret is its own"
    first = (tmp_path / ".env").read_text()
    assert write_env_if_missing(tmp_path) is False
    assert (tmp_path / ".env").read_text() == first
    assert oct((tmp_path / ".env").stat().st_mode)[-3:] == "600"


def test_an_older_env_gets_the_privacy_key_it_lacks_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PRIVACY_KEY", raising=False)
    (tmp_path / ".env").write_text("SYNC_WEBHOOK_TOKEN=kept\nTWILIO_AUTH_TOKEN=kept-too")  # no final newline
    assert add_missing_secrets(tmp_path) == ["PRIVACY_KEY"]
    lines = (tmp_path / ".env").read_text().splitlines()
    assert lines[:2] == ["SYNC_WEBHOOK_TOKEN=kept", "TWILIO_AUTH_TOKEN=kept-too"]
    assert lines[2].startswith("PRIVACY_KEY=") and len(lines[2]) > len("PRIVACY_KEY=") + 32
    assert add_missing_secrets(tmp_path) == []
    assert (tmp_path / ".env").read_text().splitlines() == lines
    monkeypatch.setenv("PRIVACY_KEY", "from-the-environment-0123")
    (tmp_path / ".env").write_text("SYNC_WEBHOOK_TOKEN=kept\n")
    assert add_missing_secrets(tmp_path) == [], "the environment's key wins; none is written"


def test_a_bad_setting_stops_start_up_naming_it(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "GATEWAY_PORT": "eighty",
        "SYNC_SCHEDULE": "sometimes",
        "DATA_DIR": str(tmp_path),
        "SYNC_WEBHOOK_TOKEN": "x",
        "TWILIO_AUTH_TOKEN": "y",
        "PRIVACY_KEY": "0123456789abcdef",
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


def settings(**values: str) -> Settings:
    """Settings from `values` alone (no .env; the test environment's values are overridden)."""
    base = {"sync_webhook_token": "x", "twilio_auth_token": "y", "rasa_url": "", "actions_url": ""}
    base |= {"privacy_key": "0123456789abcdef"}
    base |= {"rasa_token": "", "actions_token": "", "rasa_port": "5005", "actions_port": "5055"}
    return Settings(_env_file=None, **(base | values))  # type: ignore[arg-type]


def test_a_public_bind_host_needs_both_internal_tokens() -> None:
    problem = check_internal_secrets(settings(bind_host="0.0.0.0"))
    assert problem is not None
    assert "RASA_TOKEN and ACTIONS_TOKEN must be set" in problem and "BIND_HOST=0.0.0.0" in problem
    only_actions = check_internal_secrets(settings(bind_host="192.0.2.10", rasa_token="r" * 32))
    assert only_actions is not None and "ACTIONS_TOKEN must be set" in only_actions and "RASA_TOKEN" not in only_actions
    assert check_internal_secrets(settings(bind_host="0.0.0.0", rasa_token="r" * 32, actions_token="a" * 32)) is None


def test_a_remote_rasa_url_needs_its_token_even_on_a_loopback_bind_host() -> None:
    problem = check_internal_secrets(settings(rasa_url="http://rasa.internal:5005"))
    assert problem is not None and "RASA_TOKEN must be set" in problem and "ACTIONS_TOKEN" not in problem


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_needs_no_token(host: str) -> None:
    assert check_internal_secrets(settings(bind_host=host)) is None


def test_start_up_stops_on_a_public_bind_host_without_tokens(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(ROOT)  # main() changes into the repository; come back afterwards
    for name in ("RASA_TOKEN", "ACTIONS_TOKEN", "RASA_URL", "ACTIONS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BIND_HOST", "0.0.0.0")
    monkeypatch.setenv("SYNC_WEBHOOK_TOKEN", "x")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "y")
    monkeypatch.setenv("PRIVACY_KEY", "0123456789abcdef")
    monkeypatch.setattr(launcher, "Settings", lambda: Settings(_env_file=None))  # the repository's .env aside
    monkeypatch.setattr(launcher, "ensure_model", lambda: pytest.fail("trained before checking the tokens"))
    monkeypatch.setattr(sys, "argv", ["launcher", "--no-write-env"])
    with pytest.raises(SystemExit) as stopped:
        launcher.main()
    message = str(stopped.value.code)
    assert "RASA_TOKEN and ACTIONS_TOKEN must be set" in message and "BIND_HOST=0.0.0.0" in message


def test_internal_urls_follow_bind_host_unless_set() -> None:
    assert service_urls(settings(bind_host="127.0.0.2")) == ("http://127.0.0.2:5005", "http://127.0.0.2:5055")
    assert service_urls(settings(bind_host="0.0.0.0")) == ("http://127.0.0.1:5005", "http://127.0.0.1:5055")
    assert service_urls(settings(bind_host="::1")) == ("http://[::1]:5005", "http://[::1]:5055")
    given = settings(bind_host="0.0.0.0", rasa_url="http://rasa:7000/", actions_url="http://actions:7001")
    assert service_urls(given) == ("http://rasa:7000", "http://actions:7001")


def test_every_process_gets_the_internal_urls_and_tokens(tmp_path: Path) -> None:
    env = child_env(
        settings(bind_host="127.0.0.2", rasa_token="r" * 32, actions_token="a" * 32), tmp_path / "model.tar.gz"
    )
    assert env["RASA_URL"] == "http://127.0.0.2:5005" and env["ACTIONS_URL"] == "http://127.0.0.2:5055"
    assert env["RASA_TOKEN"] == "r" * 32 and env["ACTIONS_TOKEN"] == "a" * 32
    # endpoints.yml and credentials.yml name these; Rasa stops on an unset one, so they are always defined.
    assert "${ACTIONS_URL}" in (ROOT / "assistant/endpoints.yml").read_text()
    assert "${ACTIONS_TOKEN}" in (ROOT / "assistant/endpoints.yml").read_text()
    assert "${RASA_TOKEN}" in (ROOT / "assistant/credentials.yml").read_text()


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
