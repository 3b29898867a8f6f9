"""Refuse socket connections to anything but loopback in every process the tests start.

Put this folder first on PYTHONPATH and set ASSISTANT_TEST_LOOPBACK_ONLY=1: Python imports `sitecustomize` at
start-up (the 3.11 main environment and Rasa's 3.10 environment alike), and this module then patches
`socket.socket.connect` and `connect_ex` to raise ConnectionRefusedError for a non-loopback address. It also
keeps itself in the environment of any subprocess started with an explicit `env` (the launcher gives its
processes a PYTHONPATH of its own), so the whole process tree is guarded. Without the variable it does nothing.
Standard library only, and valid Python 3.10.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
from typing import Any

ENV_VAR = "ASSISTANT_TEST_LOOPBACK_ONLY"
GUARD_DIR = os.path.dirname(os.path.abspath(__file__))
REFUSAL = "tests may only connect to loopback, not"

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_popen_init = subprocess.Popen.__init__


def check_address(address: object) -> None:
    """Raise ConnectionRefusedError unless `address` is a loopback (or non-IP, e.g. Unix socket) address."""
    if isinstance(address, tuple) and address:
        host = str(address[0])
        try:
            ok = ipaddress.ip_address(host.split("%")[0]).is_loopback
        except ValueError:
            ok = host == "localhost"
        if not ok:
            raise ConnectionRefusedError(f"{REFUSAL} {host}")


def _guarded_connect(self: socket.socket, address: Any) -> None:
    check_address(address)
    _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    check_address(address)
    return _real_connect_ex(self, address)


def guarded_env(env: dict[str, str]) -> dict[str, str]:
    """`env` with the guard switched on and this folder first on PYTHONPATH."""
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != GUARD_DIR]
    return {**env, ENV_VAR: "1", "PYTHONPATH": os.pathsep.join([GUARD_DIR, *paths])}


def _guarded_popen_init(self: subprocess.Popen[Any], *args: Any, **kwargs: Any) -> None:
    if kwargs.get("env") is not None:
        kwargs["env"] = guarded_env(dict(kwargs["env"]))
    _real_popen_init(self, *args, **kwargs)


def install() -> None:
    """Guard this process's sockets and the environment of the subprocesses it starts."""
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign,assignment]
    subprocess.Popen.__init__ = _guarded_popen_init  # type: ignore[method-assign]


if os.environ.get(ENV_VAR) == "1":
    install()
