"""Shared fixtures. Tests may only open sockets to loopback: an autouse fixture refuses anything else.

The processes the tests start get the same refusal from tests/guard/sitecustomize.py: give them
`loopback_only_env(env)` as their environment.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.stack import ROOT, free_port
from tests.guard.sitecustomize import check_address
from tests.guard.sitecustomize import guarded_env as loopback_only_env

__all__ = ["ROOT", "SCREENSHOTS", "free_port", "loopback_only_env"]

# Where the browser tests save their screenshots: test artifacts under build/ (git-ignored), or the README's own
# pictures with `make screenshots` (SCREENSHOT_DIR=docs/screenshots).
SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR") or ROOT / "build" / "screenshots")
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _guarded_connect(self: socket.socket, address: object) -> None:
    check_address(address)
    _real_connect(self, address)  # type: ignore[arg-type]


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    check_address(address)
    return _real_connect_ex(self, address)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect_ex)
    yield
