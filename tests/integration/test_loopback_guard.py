"""The loopback-only guard reaches the product's own processes, in both Python environments, not just pytest's."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.stack import ROOT, Stack
from tests.conftest import loopback_only_env
from tests.guard.sitecustomize import ENV_VAR, REFUSAL

pytestmark = pytest.mark.integration
RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"
INTERPRETERS = {"main (3.11)": Path(sys.executable), "rasa (3.10)": RASA_PYTHON}
# Connects to a non-routable address (and to a loopback port given as argv[1]); prints what happened.
PROBE = """
import socket, sys
for method in ("connect", "connect_ex"):
    with socket.socket() as sock:
        sock.settimeout(5)
        try:
            result = getattr(sock, method)(("10.255.255.1", 9))
        except OSError as exc:
            print(method, type(exc).__name__, exc)
        else:
            print(method, "not refused:", result)
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5):
    print("loopback connected")
"""
# The probe again, from a child started with an environment of the parent's making, as the launcher does.
CHILD_PROBE = """
import subprocess, sys
env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": sys.argv[2]}
print(subprocess.run([sys.executable, "-c", sys.argv[3], sys.argv[1]], env=env, capture_output=True, text=True,
                     timeout=60).stdout, end="")
"""


@pytest.fixture
def listener() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def refused_everything_but_loopback(output: str) -> bool:
    return output.splitlines() == [
        f"connect ConnectionRefusedError {REFUSAL} 10.255.255.1",
        f"connect_ex ConnectionRefusedError {REFUSAL} 10.255.255.1",
        "loopback connected",
    ]


def run_python(python: Path | str, script: str, *args: str, env: dict[str, str], cwd: Path = ROOT) -> str:
    result = subprocess.run(
        [str(python), "-c", script, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("python", INTERPRETERS.values(), ids=INTERPRETERS.keys())
def test_a_guarded_process_refuses_non_loopback_at_once(python: Path, listener: int) -> None:
    output = run_python(python, PROBE, str(listener), env=loopback_only_env({**os.environ}))
    assert refused_everything_but_loopback(output), output


@pytest.mark.parametrize("python", INTERPRETERS.values(), ids=INTERPRETERS.keys())
def test_the_guard_follows_children_given_an_environment_of_their_own(python: Path, listener: int) -> None:
    output = run_python(python, CHILD_PROBE, str(listener), str(ROOT), PROBE, env=loopback_only_env({**os.environ}))
    assert refused_everything_but_loopback(output), output


def test_without_the_switch_the_guard_changes_nothing() -> None:
    env = {**loopback_only_env({**os.environ}), ENV_VAR: ""}
    script = "import socket, _socket; print(socket.socket.connect is _socket.socket.connect)"
    assert run_python(sys.executable, script, env=env).strip() == "True"


def _descendants(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        try:
            parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (ValueError, OSError, IndexError):
            pass
    found, todo = [], [root]
    while todo:
        parent = todo.pop()
        kids = [c for c, p in parents.items() if p == parent]
        found += kids
        todo += kids
    return found


def test_every_product_process_runs_guarded(stack: Stack, listener: int) -> None:
    """Each Python process of the running product: its own interpreter, cwd and environment refuse at once."""
    checked: list[str] = []
    for pid in _descendants(stack.pid):
        proc = Path(f"/proc/{pid}")
        try:
            cmdline = [a.decode() for a in (proc / "cmdline").read_bytes().split(b"\0") if a]
            environ = dict(e.decode().split("=", 1) for e in (proc / "environ").read_bytes().split(b"\0") if b"=" in e)
            cwd = (proc / "cwd").resolve()
        except OSError:
            continue  # it exited meanwhile
        if not cmdline or not Path(cmdline[0]).name.startswith("python"):
            continue
        output = run_python(cmdline[0], PROBE, str(listener), env=environ, cwd=cwd)
        assert refused_everything_but_loopback(output), (cmdline, output)
        checked.append(" ".join(cmdline[1:3]))
    joined = "\n".join(checked)
    for part in ("uvicorn", "rasa", "assistant.actions.server", "content_sync", "channels.email"):
        assert part in joined, f"no guarded {part} process among:\n{joined}"
