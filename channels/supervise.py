"""honcho's process manager, restarting a process that dies instead of stopping all the others.

honcho's own `Manager.loop` ends everything as soon as one process stops. `make run` must keep the product up
when one part fails (CONTRACT.md, Faults): here a process that stops on its own is started again, after a pause
that doubles with each quick death (RESTART_FIRST up to RESTART_MAX seconds, back to the first once it has run
for RESTART_STABLE seconds), while SIGINT or SIGTERM still stop every process, as before.
"""

from __future__ import annotations

import datetime
import multiprocessing
import queue
import signal
import time
from typing import Any

from honcho.manager import KILL_WAIT, SIGNALS, Manager

RESTART_FIRST = 1.0
RESTART_MAX = 30.0
RESTART_STABLE = 60.0


class RestartingManager(Manager):  # type: ignore[misc]
    """`honcho.manager.Manager` whose loop restarts a dead process; SIGINT/SIGTERM stop them all."""

    def _start_one(self, name: str) -> None:
        p = self._processes[name]
        p.pop("returncode", None)
        p["pid"] = None  # until its 'start' event
        p["started_at"] = time.monotonic()
        p["process"] = multiprocessing.Process(name=name, target=p["obj"].run, args=(self.events, True))
        p["process"].start()

    def _start(self) -> None:
        for name in self._processes:
            self._start_one(name)

    def _stopped(self, name: str, returncode: int) -> None:
        p = self._processes[name]
        p["returncode"] = returncode
        if self._terminating:
            return
        lived = time.monotonic() - p.get("started_at", 0.0)
        pause = RESTART_FIRST if lived >= RESTART_STABLE else min(p.get("pause", RESTART_FIRST / 2) * 2, RESTART_MAX)
        p["pause"] = pause
        p["restart_at"] = time.monotonic() + pause
        self._system_print(f"{name} stopped (rc={returncode}); restarting it in {pause:.0f} s\n")

    def loop(self) -> None:
        """Start every process, relay their output, restart any that dies; return once all stopped after a
        signal."""

        def _terminate(signum: int, frame: Any) -> None:
            self._system_print(f"{SIGNALS[signum]['name']} received\n")
            self.returncode = SIGNALS[signum]["rc"]
            for p in self._processes.values():
                p.pop("restart_at", None)
            self.terminate()

        signal.signal(signal.SIGTERM, _terminate)
        signal.signal(signal.SIGINT, _terminate)
        self._start()
        exit_start: datetime.datetime | None = None
        while True:
            try:
                msg = self.events.get(timeout=0.1)
            except queue.Empty:
                msg = None
            if msg is not None and msg.type == "line":
                self._printer.write(msg)
            elif msg is not None and msg.type == "start":
                self._processes[msg.name]["pid"] = msg.data["pid"]
                self._system_print(f"{msg.name} started (pid={msg.data['pid']})\n")
                if self._terminating:  # restarted just as the signal came: stop it too
                    self._procmgr.terminate(msg.data["pid"])
            elif msg is not None and msg.type == "stop":
                self._stopped(msg.name, msg.data["returncode"])
            now = time.monotonic()
            for name, p in self._processes.items():
                if not self._terminating and p.get("restart_at") is not None and now >= p["restart_at"]:
                    del p["restart_at"]
                    self._start_one(name)
            if self._terminating:
                if exit_start is None:
                    exit_start = self._clock.now()
                if all(p.get("returncode") is not None for p in self._processes.values()) and msg is None:
                    break
                if self._clock.now() - exit_start > datetime.timedelta(seconds=KILL_WAIT):
                    self.kill()

    def _killall(self, force: bool = False) -> None:
        """Signal every running process (one waiting to be restarted has none)."""
        for name, p in self._processes.items():
            if p.get("returncode") is None and p.get("pid"):
                signame = "SIGKILL" if force else "SIGTERM"
                self._system_print(f"sending {signame} to {name} (pid {p['pid']})\n")
                if force:
                    self._procmgr.kill(p["pid"])
                else:
                    self._procmgr.terminate(p["pid"])
