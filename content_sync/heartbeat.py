"""Heartbeats: how a process without an HTTP port (the sync worker) shows that it is alive.

The worker writes `DATA_DIR/heartbeats/worker-<host>-<pid>.json` every few seconds from a thread of its own,
with what its loop last said it was doing (`idle`, `running job <id>`), and removes the file when it stops.
`assistant status` reads them: a worker whose file is younger than STALE_SECONDS is up.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

EVERY_SECONDS = 5.0
STALE_SECONDS = 30.0  # six missed beats: the process is gone or stuck


@dataclass(frozen=True)
class Beat:
    """One process's last heartbeat."""

    name: str
    host: str
    pid: int
    state: str
    at: float  # Unix time of the beat

    def age(self, now: float | None = None) -> float:
        return max(0.0, (now if now is not None else time.time()) - self.at)

    def alive(self, now: float | None = None) -> bool:
        return self.age(now) < STALE_SECONDS


class Heartbeat:
    """Write this process's heartbeat file every EVERY_SECONDS until `stop`."""

    def __init__(self, data_dir: Path, name: str, every: float = EVERY_SECONDS) -> None:
        self.folder = data_dir / "heartbeats"
        self.name, self.every = name, every
        self.host, self.pid = socket.gethostname(), os.getpid()
        self.path = self.folder / f"{name}-{self.host}-{self.pid}.json"
        self.state = "starting"
        self._stop = threading.Event()
        self._writing = threading.Lock()
        self._thread: threading.Thread | None = None

    def beat(self) -> None:
        """Write the file now (atomically: a reader never sees half of it). Beats are one at a time, so the
        file always ends with the state set last."""
        with self._writing:
            self.folder.mkdir(parents=True, exist_ok=True)
            body = {"name": self.name, "host": self.host, "pid": self.pid, "state": self.state, "at": time.time()}
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(body))
            os.replace(tmp, self.path)

    def _run(self) -> None:
        while not self._stop.wait(self.every):  # `start` wrote the first beat
            try:
                self.beat()
            except OSError:
                pass  # a full or read-only disk: `assistant status` shows the worker as down, which it then is

    def _forget_dead(self) -> None:
        """Remove the files of this host's earlier processes of the same name that are gone (killed, not stopped)."""
        for beat in read_beats(self.folder.parent, self.name):
            if beat.host == self.host and beat.pid != self.pid and not _pid_alive(beat.pid):
                (self.folder / f"{beat.name}-{beat.host}-{beat.pid}.json").unlink(missing_ok=True)

    def start(self) -> Heartbeat:
        """Beat now, then every EVERY_SECONDS from a daemon thread."""
        self._forget_dead()
        self.beat()
        self._thread = threading.Thread(target=self._run, name=f"{self.name}-heartbeat", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop beating and remove the file: a worker that stopped cleanly is not listed."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self.path.unlink(missing_ok=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_beats(data_dir: Path, name: str) -> list[Beat]:
    """Every heartbeat file of processes called `name`, newest first (stale ones included: callers decide)."""
    beats = []
    for path in (data_dir / "heartbeats").glob(f"{name}-*.json"):
        try:
            body = json.loads(path.read_text())
            beats.append(
                Beat(str(body["name"]), str(body["host"]), int(body["pid"]), str(body["state"]), float(body["at"]))
            )
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return sorted(beats, key=lambda b: b.at, reverse=True)
