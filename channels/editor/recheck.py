"""Ask the top questions (and those whose quoted passage changed) again after a sync, in a background thread,
and keep the result per index version.

One re-check is kept per (sync job, index version now serving) as a JSON file in `DATA_DIR/editor/recheck/`, so
it survives a restart and is made once: asking again at the same index version would give the same answers.
While it runs, its progress is kept in memory and the page polls it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from channels.editor.changes import SeenAnswer, TopQuestion

log = logging.getLogger(__name__)
Ask = Callable[[str], SeenAnswer]


@dataclass
class RecheckState:
    """Where one re-check is: `status` none, running, done or failed; `answers` by question key."""

    job_id: str
    index_version: str
    status: str = "none"
    total: int = 0
    done: int = 0
    questions: list[TopQuestion] = field(default_factory=list)
    answers: dict[str, SeenAnswer] = field(default_factory=dict)
    started_at: str | None = None
    finished_at: str | None = None
    error: str | None = None

    @property
    def message(self) -> str:
        """A one-line progress note for people."""
        if self.status == "running":
            return f"Asking the top questions again: {self.done} of {self.total} done."
        if self.status == "done":
            return f"Asked {self.total} questions again at index version {self.index_version}."
        if self.status == "failed":
            return f"The re-check stopped: {self.error}. Start it again once the assistant is healthy."
        return "The top questions have not been asked again at this index version yet."

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "index_version": self.index_version,
            "status": self.status,
            "total": self.total,
            "done": self.done,
            "questions": [
                {
                    "key": q.key,
                    "question": q.question,
                    "count": q.count,
                    "channels": list(q.channels),
                    "before": q.before.to_dict() if q.before else None,
                    "stale_quote": q.stale_quote,
                }
                for q in self.questions
            ],
            "answers": {key: a.to_dict() for key, a in self.answers.items()},
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RecheckState:
        questions = [
            TopQuestion(
                key=q["key"],
                question=q["question"],
                count=int(q["count"]),
                channels=tuple(q.get("channels") or ()),
                before=SeenAnswer.from_dict(q["before"]) if q.get("before") else None,
                stale_quote=bool(q.get("stale_quote")),
            )
            for q in data.get("questions") or []
        ]
        return cls(
            job_id=data["job_id"],
            index_version=data["index_version"],
            status=data.get("status", "done"),
            total=int(data.get("total", len(questions))),
            done=int(data.get("done", len(questions))),
            questions=questions,
            answers={k: SeenAnswer.from_dict(v) for k, v in (data.get("answers") or {}).items()},
            started_at=data.get("started_at"),
            finished_at=data.get("finished_at"),
            error=data.get("error"),
        )


class Rechecks:
    """The re-checks of one DATA_DIR: read a finished one from its file, or run one in a thread."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._running: dict[tuple[str, str], RecheckState] = {}

    def _path(self, job_id: str, version: str) -> Path:
        digest = hashlib.sha256(f"{job_id}\n{version}".encode()).hexdigest()[:32]
        return self.folder / f"{digest}.json"

    def state(self, job_id: str, version: str) -> RecheckState:
        """The re-check of `job_id` at index `version`: running (or failed), finished (from its file), or none yet."""
        with self._lock:
            running = self._running.get((job_id, version))
        if running is not None:
            return running
        return self.state_from_file(job_id, version) or RecheckState(job_id, version)

    def start(self, job_id: str, version: str, questions: Sequence[TopQuestion], ask: Ask) -> RecheckState:
        """Start re-asking `questions` in a thread, unless one is running or done for this job and version."""
        with self._lock:
            current = self._running.get((job_id, version))
            if current is not None and current.status != "failed":  # a failed one may be started again
                return current
            existing = self.state_from_file(job_id, version)
            if existing is not None and existing.status == "done":
                return existing
            state = RecheckState(
                job_id,
                version,
                status="running",
                total=len(questions),
                questions=list(questions),
                started_at=datetime.now(UTC).isoformat(),
            )
            self._running[(job_id, version)] = state
        thread = threading.Thread(target=self._run, args=(state, ask), name=f"recheck-{job_id[:8]}", daemon=True)
        thread.start()
        return state

    def state_from_file(self, job_id: str, version: str) -> RecheckState | None:
        """The finished re-check kept on disk, or None (none yet, or its file is unreadable)."""
        path = self._path(job_id, version)
        if not path.is_file():
            return None
        try:
            return RecheckState.from_dict(json.loads(path.read_text()))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("re-check file %s is unreadable (%s); it will be made again", path, exc)
            return None

    def _run(self, state: RecheckState, ask: Ask) -> None:
        """Ask each question in turn; keep the result on disk before the page can see it is done."""
        key = (state.job_id, state.index_version)
        try:
            for question in state.questions:
                state.answers[question.key] = ask(question.question)
                state.done += 1
            finished = datetime.now(UTC).isoformat()
            self._save({**state.to_dict(), "status": "done", "finished_at": finished})
        except Exception as exc:  # a re-check must end in a state the page can show, whatever went wrong
            log.exception("re-check of sync job %s failed", state.job_id)
            state.error = str(exc) or type(exc).__name__
            state.finished_at, state.status = datetime.now(UTC).isoformat(), "failed"
            return  # kept in memory, so the failure shows until someone starts it again
        with self._lock:
            state.finished_at, state.status = finished, "done"
            self._running.pop(key, None)

    def _save(self, data: dict[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self._path(data["job_id"], data["index_version"])
        partial = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        partial.write_text(json.dumps(data, indent=1))
        partial.replace(path)


@lru_cache(maxsize=4)
def get_rechecks(data_dir: str) -> Rechecks:
    """The one `Rechecks` of a DATA_DIR in this process."""
    return Rechecks(Path(data_dir) / "editor" / "recheck")
