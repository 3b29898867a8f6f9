"""The only code that touches index files: versions written beside each other, one pointer switched atomically.

Layout under `<DATA_DIR>/index/`:

    CURRENT                      the published version's name (replaced atomically with os.replace)
    versions/<version>/          index.faiss, chunks.jsonl, pages.json, meta.json, and extras such as
                                 lexical.pkl (the BM25 indexes content_sync.search builds at publish)
    versions/.tmp-<version>/     a version being written; never read, removed by the next publish
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from content_sync.chunk import Chunk
from content_sync.errors import IndexNotReady

RESERVED = {"index.faiss", "chunks.jsonl", "pages.json", "meta.json"}


@dataclass
class IndexVersion:
    """One published, immutable index version held in memory."""

    version: str
    index: Any
    chunks: list[Chunk]
    pages: dict[str, dict[str, Any]]
    meta: dict[str, Any] = field(default_factory=dict)

    def vectors(self) -> np.ndarray:
        """Every chunk's vector, in chunk order."""
        if not self.chunks:
            return np.zeros((0, int(self.meta.get("dim", 0))), dtype=np.float32)
        return np.asarray(self.index.reconstruct_n(0, len(self.chunks)), dtype=np.float32)


def _fsync(path: Path) -> None:
    """Flush a file or a folder (its entries) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write(path: Path, data: str) -> None:
    with path.open("w", encoding="utf-8") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


class IndexStore:
    """Reads and publishes index versions under one folder."""

    def __init__(self, root: Path, redis_url: str = "") -> None:
        self.root = root
        self.redis_url = redis_url  # REDIS_URL: every switch is announced there (content_sync.notify)
        self.versions = root / "versions"
        self.pointer = root / "CURRENT"

    def current_version(self) -> str | None:
        """The published version's name, or None before the first publish."""
        try:
            name = self.pointer.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return name or None

    def load(self, version: str | None = None) -> IndexVersion:
        """Load a version (default: the published one)."""
        version = version or self.current_version()
        if version is None:
            raise IndexNotReady("no index version is published yet; run `assistant sync` or wait for the first sync")
        folder = self.versions / version
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        with (folder / "chunks.jsonl").open(encoding="utf-8") as fh:
            chunks = [Chunk.from_dict(json.loads(line)) for line in fh if line.strip()]
        pages = json.loads((folder / "pages.json").read_text(encoding="utf-8"))
        index = faiss.read_index(str(folder / "index.faiss"))
        return IndexVersion(version=version, index=index, chunks=chunks, pages=pages, meta=meta)

    def chunk_digests(self, version: str | None = None) -> frozenset[str]:
        """The digests of a version's passages (default: the published one), read from its chunks file alone,
        without loading FAISS. Empty before the first publish or for a version that is not kept."""
        version = version or self.current_version()
        if version is None:
            return frozenset()
        try:
            with (self.versions / version / "chunks.jsonl").open(encoding="utf-8") as fh:
                return frozenset(str(json.loads(line)["digest"]) for line in fh if line.strip())
        except FileNotFoundError:
            return frozenset()

    def read_extra(self, version: str, name: str) -> bytes | None:
        """A file stored beside a version at publish (see `publish`'s `extras`), or None."""
        try:
            return (self.versions / version / name).read_bytes()
        except FileNotFoundError:
            return None

    def publish(
        self,
        chunks: list[Chunk],
        vectors: np.ndarray,
        pages: dict[str, dict[str, Any]],
        meta: dict[str, Any],
        extras: dict[str, bytes] | None = None,
    ) -> str:
        """Write a complete new version, then switch CURRENT to it. A crash before the switch changes nothing."""
        if len(chunks) != len(vectors):
            raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors")
        self.versions.mkdir(parents=True, exist_ok=True)
        self.recover()
        version = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")[:-4] + "Z-" + secrets.token_hex(3)
        tmp = self.versions / f".tmp-{version}"
        tmp.mkdir()
        index = faiss.IndexFlatIP(int(vectors.shape[1]))
        if len(vectors):
            index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        faiss.write_index(index, str(tmp / "index.faiss"))
        _fsync(tmp / "index.faiss")
        _write(tmp / "chunks.jsonl", "".join(json.dumps(c.to_dict(), ensure_ascii=False) + "\n" for c in chunks))
        _write(tmp / "pages.json", json.dumps(pages, ensure_ascii=False, indent=1))
        meta = {
            **meta,
            "version": version,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "dim": int(vectors.shape[1]),
            "chunks": len(chunks),
            "pages": len(pages),
        }
        for name, data in (extras or {}).items():
            if "/" in name or name.startswith(".") or name in RESERVED:
                raise ValueError(f"{name!r} cannot be stored beside a version")
            with (tmp / name).open("wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        _write(tmp / "meta.json", json.dumps(meta, indent=1))
        _fsync(tmp)
        os.rename(tmp, self.versions / version)
        _fsync(self.versions)
        self.switch(version)
        return version

    def recover(self) -> list[str]:
        """Remove what a sync that died left behind (half-written versions, a pointer never switched); says
        what was removed. The published version is never touched."""
        removed: list[str] = []
        if self.versions.exists():
            for stale in sorted(self.versions.glob(".tmp-*")):
                shutil.rmtree(stale, ignore_errors=True)
                removed.append(f"removed the half-written version {stale.name.removeprefix('.tmp-')}")
        for pointer in sorted(self.root.glob(".CURRENT.*")) if self.root.exists() else []:
            pointer.unlink(missing_ok=True)
            removed.append(f"removed the unswitched pointer {pointer.name}")
        return removed

    def switch(self, version: str) -> None:
        """Point CURRENT at a published version (a rollback); every reader follows within moments."""
        if version not in self.list_versions():
            raise IndexNotReady(f"no published version {version!r} here; `assistant index list` shows the ones kept")
        pointer_tmp = self.root / f".CURRENT.{version}"
        _write(pointer_tmp, version + "\n")
        os.replace(pointer_tmp, self.pointer)
        _fsync(self.root)
        if self.redis_url:
            from content_sync.notify import announce_version

            announce_version(self.redis_url, version, str(self.root))

    def describe(self) -> list[dict[str, Any]]:
        """Every kept version, oldest first: name, when it was published, pages, chunks, and which serves."""
        current = self.current_version()
        rows = []
        for name in self.list_versions():
            try:
                meta = json.loads((self.versions / name / "meta.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                meta = {}
            rows.append(
                {
                    "version": name,
                    "created_at": meta.get("created_at"),
                    "pages": meta.get("pages"),
                    "chunks": meta.get("chunks"),
                    "current": name == current,
                }
            )
        return rows

    def list_versions(self) -> list[str]:
        """Published versions, oldest first."""
        if not self.versions.exists():
            return []
        return sorted(p.name for p in self.versions.iterdir() if p.is_dir() and not p.name.startswith("."))

    def prune(self, keep: int, also_keep: tuple[str | None, ...] = ()) -> None:
        """Remove all but the newest `keep` versions. The published one is always kept, and so is every name in
        `also_keep` (the version a sync started from: after a rollback, the one rolled back to)."""
        spared = {self.current_version(), *also_keep}
        for name in self.list_versions()[:-keep]:
            if name not in spared:
                shutil.rmtree(self.versions / name, ignore_errors=True)
