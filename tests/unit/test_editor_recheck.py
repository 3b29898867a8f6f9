"""The what-changed re-check: run once per (sync job, index version) in a thread, kept on disk, restartable."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from channels.editor.changes import SeenAnswer, TopQuestion
from channels.editor.recheck import Rechecks

QUESTIONS = [
    TopQuestion("how do i appeal", "How do I appeal?", 4, ("web",), SeenAnswer("Old.", True, "http://s/a", "v1")),
    TopQuestion("office hours", "Office hours?", 2, ("sms",), None),
    TopQuestion("summer meals", "Summer meals?", 1, ("web",), SeenAnswer("June.", True, "http://s/m", "v1"), True),
]


def wait_for(rechecks: Rechecks, job: str, version: str, status: str) -> None:
    deadline = time.monotonic() + 10
    while rechecks.state(job, version).status != status:
        assert time.monotonic() < deadline, rechecks.state(job, version)
        time.sleep(0.02)


def test_a_recheck_runs_in_the_background_and_is_kept_for_its_index_version(tmp_path: Path) -> None:
    gate = threading.Event()
    asked: list[str] = []

    def ask(question: str) -> SeenAnswer:
        gate.wait(5)
        asked.append(question)
        return SeenAnswer(f"Now: {question}", True, "http://s/b", "v2")

    rechecks = Rechecks(tmp_path / "recheck")
    state = rechecks.start("job1", "v2", QUESTIONS, ask)
    assert state.status == "running" and state.total == 3
    assert "0 of 3" in rechecks.state("job1", "v2").message
    assert rechecks.start("job1", "v2", QUESTIONS, ask) is state  # not started twice
    gate.set()
    wait_for(rechecks, "job1", "v2", "done")
    assert asked == ["How do I appeal?", "Office hours?", "Summer meals?"]
    # a new process (a restart) reads it from disk, and does not ask again
    again = Rechecks(tmp_path / "recheck")
    done = again.state("job1", "v2")
    assert done.status == "done" and done.questions == QUESTIONS
    assert done.answers["office hours"].text == "Now: Office hours?"
    assert done.questions[2].stale_quote, "the stale-quote mark is kept on disk"
    assert again.start("job1", "v2", QUESTIONS, ask).status == "done" and len(asked) == 3
    # another index version is another re-check
    assert again.state("job1", "v3").status == "none"


def test_a_failed_recheck_says_why_and_can_be_started_again(tmp_path: Path) -> None:
    def broken(question: str) -> SeenAnswer:
        raise RuntimeError("Rasa at http://127.0.0.1:1 refused the connection")

    rechecks = Rechecks(tmp_path / "recheck")
    rechecks.start("job1", "v2", QUESTIONS, broken)
    wait_for(rechecks, "job1", "v2", "failed")
    assert "refused the connection" in rechecks.state("job1", "v2").message
    assert not list((tmp_path / "recheck").glob("*.json"))  # nothing kept: it is asked again next time
    rechecks.start("job1", "v2", QUESTIONS, lambda q: SeenAnswer("ok", True, None, "v2"))
    wait_for(rechecks, "job1", "v2", "done")


def test_an_unreadable_file_is_made_again(tmp_path: Path) -> None:
    rechecks = Rechecks(tmp_path / "recheck")
    rechecks.start("job1", "v2", QUESTIONS, lambda q: SeenAnswer("ok", True, None, "v2"))
    wait_for(rechecks, "job1", "v2", "done")
    (path,) = (tmp_path / "recheck").glob("*.json")
    path.write_text("{not json")
    assert Rechecks(tmp_path / "recheck").state("job1", "v2").status == "none"
