"""Passage vectors already computed, kept by digest, so that the same model never embeds the same passage twice.

The index's previous version already lends its vectors to the next one. This cache also keeps what no published
version holds: after a sync that died halfway, the next one picks up every batch the dead one embedded; a page
that comes back (restored, or withdrawn and published again) keeps its vectors; a new product on a copy of the
same site (the test suite's stacks) embeds nothing that another already did.

One folder per model under EMBEDDING_CACHE_DIR, one `.npz` file per batch embedded, each written to a temporary
name and renamed, so a killed sync leaves no half file and several workers may share the folder. Opening a
folder of more than MAX_FILES files merges them into one, keeping the newest MAX_VECTORS vectors. A cache that
cannot be read or written is passed over with a warning: it saves time, never decides content.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import uuid
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

MAX_FILES = 64
MAX_VECTORS = 500_000  # 384-dimensional float32: about 770 MB on disk at most
_TEMP_AGE_SECONDS = 3600  # a temporary file this old was left by a killed writer


class VectorCache:
    """The vectors `model` gave, by passage digest, in `root`/<a hash of the model's name>."""

    def __init__(self, root: Path, model: str) -> None:
        self.folder = root / hashlib.sha256(model.encode()).hexdigest()[:16]
        self._known: dict[str, np.ndarray] | None = None

    def take(self, digests: Iterable[str]) -> dict[str, np.ndarray]:
        """The cached vectors of those of `digests` that were embedded before."""
        known = self._load()
        return {d: known[d] for d in digests if d in known}

    def put(self, digests: Sequence[str], vectors: np.ndarray) -> None:
        """Keep one batch: `vectors[i]` is the vector of the passage with digest `digests[i]`."""
        if not len(digests):
            return
        try:
            self._write(np.asarray(digests, dtype=str), np.asarray(vectors, dtype=np.float32))
        except OSError as exc:
            log.warning("could not write to the vector cache %s (%s); the sync goes on without it", self.folder, exc)
            return
        if self._known is not None:
            self._known.update(zip(digests, np.asarray(vectors, dtype=np.float32), strict=True))

    def _write(self, digests: np.ndarray, vectors: np.ndarray, name: str | None = None) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        final = self.folder / (name or f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.npz")
        temp = final.with_name(final.name + ".tmp")
        with temp.open("wb") as out:
            np.savez(out, digests=digests, vectors=vectors)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, final)
        return final

    def _files(self) -> list[Path]:
        """The batch files, oldest first (names start with their write time)."""
        try:
            return sorted(self.folder.glob("*.npz"))
        except OSError:
            return []

    def _load(self) -> dict[str, np.ndarray]:
        if self._known is not None:
            return self._known
        known: dict[str, np.ndarray] = {}
        files = self._files()
        for path in files:  # newer files overwrite older ones' vectors for the same digest (they are equal)
            batch = _read(path)
            if batch is not None:
                known.update(zip(batch[0].tolist(), batch[1], strict=True))
        self._known = known
        self._sweep_temporaries()
        if len(files) > MAX_FILES:
            self._merge(files, known)
        return known

    def _merge(self, files: list[Path], known: dict[str, np.ndarray]) -> None:
        """Replace `files` by one file of the newest MAX_VECTORS vectors (dicts keep insertion order: oldest
        first). A reader that lists the folder meanwhile may miss a removed file: it embeds those passages."""
        keep = list(known.items())[-MAX_VECTORS:]
        if not keep:
            return
        try:
            merged = self._write(
                np.asarray([d for d, _ in keep], dtype=str),
                np.stack([v for _, v in keep]).astype(np.float32),
                name=files[-1].stem + "-merged.npz",
            )
            for path in files:
                if path != merged:
                    path.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not merge the vector cache %s (%s)", self.folder, exc)

    def _sweep_temporaries(self) -> None:
        try:
            for temp in self.folder.glob("*.tmp"):
                if time.time() - temp.stat().st_mtime > _TEMP_AGE_SECONDS:
                    temp.unlink(missing_ok=True)
        except OSError:
            pass


def _read(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """One batch file's digests and vectors; None for a file that is gone or unreadable."""
    try:
        with np.load(path, allow_pickle=False) as data:
            digests, vectors = data["digests"], data["vectors"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        log.warning("skipping unreadable vector cache file %s (%s)", path, exc)
        return None
    if vectors.ndim != 2 or len(digests) != len(vectors):
        log.warning("skipping vector cache file %s: %d digests for %s vectors", path, len(digests), vectors.shape)
        return None
    return digests, vectors
