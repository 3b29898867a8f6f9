"""The launcher's process manager restarts a process that dies, and still stops them all on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

SCRIPT = """
import sys
from channels.supervise import RestartingManager

manager = RestartingManager()
manager.add_process("dies", "echo born; sleep 0.5; exit 3")
manager.add_process("lives", "sleep 600")
manager.loop()
sys.exit(manager.returncode)
"""


def test_a_dead_process_is_started_again_and_sigterm_stops_every_one(tmp_path: Path) -> None:
    log = tmp_path / "out.log"
    root = Path(__file__).resolve().parents[2]
    with log.open("w") as out:
        manager = subprocess.Popen(
            [sys.executable, "-c", SCRIPT], cwd=root, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and log.read_text().count("born") < 3:
            time.sleep(0.2)
        text = log.read_text()
        assert text.count("born") >= 3, text  # started, died, and was started again, twice
        assert "restarting it in" in text and "lives stopped" not in text, text
        manager.send_signal(signal.SIGTERM)
        assert manager.wait(timeout=15) == 143
    finally:
        if manager.poll() is None:
            os.killpg(manager.pid, signal.SIGKILL)
    text = log.read_text()
    assert "sending SIGTERM to lives" in text, text
