"""`assistant staff ...` as an operator runs it: the real command in a subprocess, then signing in with the account."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from channels.app import create_app
from channels.settings import get_settings
from channels.staff.deps import get_staff_store
from tests.integration.staff_support import HTML, PASSWORD, sign_in, use_staff_settings

pytestmark = pytest.mark.integration
ASSISTANT = Path(sys.executable).parent / "assistant"


def assistant(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run `assistant ARGS` with DATABASE_URL in tmp_path, from a folder without a .env."""
    env = {
        **os.environ,
        "DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'data' / 'assistant.db'}",
        "COLUMNS": "120",
    }
    return subprocess.run(
        [str(ASSISTANT), *args], input=stdin, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120
    )


def add(tmp_path: Path, email: str, role: str, password: str = PASSWORD) -> subprocess.CompletedProcess[str]:
    """`assistant staff add EMAIL --role ROLE --password-stdin`, the password on standard input."""
    return assistant(tmp_path, "staff", "add", email, "--role", role, "--password-stdin", stdin=password + "\n")


def test_an_account_added_from_the_command_line_can_sign_in(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    added = add(tmp_path, "New.Editor@agency.example", "editor")
    assert added.returncode == 0, added.stderr
    assert "Added new.editor@agency.example as editor" in added.stdout
    listed = assistant(tmp_path, "staff", "list")
    assert listed.returncode == 0 and "new.editor@agency.example" in listed.stdout and "active" in listed.stdout

    use_staff_settings(monkeypatch, tmp_path)
    with TestClient(create_app()) as client:
        assert sign_in(client, "new.editor@agency.example").status_code == 303
        home = client.get("/staff/", headers=HTML)
        assert "You are signed in as an editor" in home.text
    entry = get_staff_store(get_settings()).list_audit(action="staff.add")[0]
    assert entry.target == "new.editor@agency.example" and entry.client == "cli" and entry.detail == {"role": "editor"}
    get_settings.cache_clear()


def test_weak_passwords_and_duplicates_are_refused_with_what_to_do(tmp_path: Path) -> None:
    weak = add(tmp_path, "a@agency.example", "admin", "short1!")
    assert weak.returncode == 1
    assert "Password refused" in weak.stdout and "use at least 12" in weak.stdout
    assert "No staff accounts yet" in assistant(tmp_path, "staff", "list").stdout

    first = add(tmp_path, "a@agency.example", "admin")
    assert first.returncode == 0, first.stdout + first.stderr
    again = add(tmp_path, "A@agency.example", "reviewer")
    assert again.returncode == 1 and "already exists" in again.stdout

    not_email = assistant(tmp_path, "staff", "add", "admin", "--role", "admin", "--password-stdin", stdin=PASSWORD)
    assert not_email.returncode == 1 and "is not an email address" in not_email.stdout
    bad_role = assistant(tmp_path, "staff", "add", "b@agency.example", "--role", "owner", "--password-stdin")
    assert bad_role.returncode == 2 and "invalid choice: 'owner'" in bad_role.stderr


def test_disable_enable_and_a_new_password(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    add(tmp_path, "r@agency.example", "reviewer")
    disabled = assistant(tmp_path, "staff", "disable", "R@agency.example")
    assert disabled.returncode == 0 and "Disabled r@agency.example" in disabled.stdout
    assert "disabled" in assistant(tmp_path, "staff", "list").stdout
    missing = assistant(tmp_path, "staff", "disable", "nobody@agency.example")
    assert missing.returncode == 1 and "there is no staff account for nobody@agency.example" in missing.stdout
    assert assistant(tmp_path, "staff", "enable", "r@agency.example").returncode == 0
    new = "a brand new passphrase\n"
    reset = assistant(tmp_path, "staff", "password", "r@agency.example", "--password-stdin", stdin=new)
    assert reset.returncode == 0 and "New password set" in reset.stdout

    use_staff_settings(monkeypatch, tmp_path)
    with TestClient(create_app()) as client:
        assert sign_in(client, "r@agency.example").status_code == 400  # the old password is gone
        assert sign_in(client, "r@agency.example", "a brand new passphrase").status_code == 303
    get_settings.cache_clear()


def test_help_shows_examples(tmp_path: Path) -> None:
    top = assistant(tmp_path, "--help")
    assert top.returncode == 0 and "assistant staff add admin@agency.example --role admin" in top.stdout
    staff = assistant(tmp_path, "staff", "add", "--help")
    assert staff.returncode == 0 and "--password-stdin" in staff.stdout and "examples:" in staff.stdout
