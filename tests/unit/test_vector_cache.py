"""The vector cache: what one sync embedded, the next one (or another product on the same site) takes instead of
embedding it again; broken files are passed over, many files are merged, an unwritable folder costs only time."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from content_sync import vector_cache
from content_sync.chunk import Chunk, digest
from content_sync.embed import embed_texts
from content_sync.indexer import Indexer
from content_sync.settings import DEFAULT_MODEL
from content_sync.vector_cache import VectorCache


def vectors(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, 8)).astype(np.float32)


def test_a_batch_put_by_one_cache_is_taken_by_another_of_the_same_model_only(tmp_path: Path) -> None:
    batch = vectors(3)
    VectorCache(tmp_path, "model-a").put(["d1", "d2", "d3"], batch)
    found = VectorCache(tmp_path, "model-a").take(["d3", "d1", "unknown"])
    assert sorted(found) == ["d1", "d3"]
    np.testing.assert_array_equal(found["d3"], batch[2])
    assert VectorCache(tmp_path, "model-b").take(["d1"]) == {}


def test_a_broken_file_and_a_killed_writers_temporary_are_passed_over(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = VectorCache(tmp_path, "m")
    cache.put(["good"], vectors(1))
    (cache.folder / "0-broken.npz").write_bytes(b"not a zip file")
    (cache.folder / "1-half.npz.tmp").write_bytes(b"half")
    with caplog.at_level(logging.WARNING):
        found = VectorCache(tmp_path, "m").take(["good"])
    assert list(found) == ["good"]
    assert "0-broken.npz" in caplog.text


def test_more_files_than_max_files_are_merged_into_one_keeping_every_vector(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vector_cache, "MAX_FILES", 3)
    writer = VectorCache(tmp_path, "m")
    batches = {f"d{i}": vectors(1, seed=i)[0] for i in range(5)}
    for key, vector in batches.items():
        writer.put([key], vector[None, :])
    assert len(list(writer.folder.glob("*.npz"))) == 5
    VectorCache(tmp_path, "m").take([])  # opening the folder merges it
    assert len(list(writer.folder.glob("*.npz"))) == 1
    found = VectorCache(tmp_path, "m").take(batches)
    assert found.keys() == batches.keys()
    for key, vector in batches.items():
        np.testing.assert_array_equal(found[key], vector)


def test_an_unwritable_folder_is_a_warning_not_a_failure(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the folder should be")
    cache = VectorCache(blocker, "m")
    with caplog.at_level(logging.WARNING):
        cache.put(["d"], vectors(1))
    assert "could not write to the vector cache" in caplog.text
    assert cache.take(["d"]) == {}


def chunks(texts: list[str]) -> list[Chunk]:
    return [
        Chunk(id=f"p_{i}", url="http://site.example/p", title="P", headings=("P",), text=t, digest=digest("P", t))
        for i, t in enumerate(texts)
    ]


def test_a_sync_that_never_published_leaves_its_vectors_for_the_next(tmp_path: Path) -> None:
    """The second indexer has no previous version to borrow from (the first sync was killed before publishing):
    every vector comes from the cache, equal to what the model gives, and nothing is embedded again."""
    texts = ["Ask for a fair hearing within 30 days.", "Call (555) 010-4400 on weekdays."]
    first = Indexer(
        None, DEFAULT_MODEL, full=False, start_with_previous=False, cache=VectorCache(tmp_path, DEFAULT_MODEL)
    )
    first.embed(chunks(texts))
    assert (first.embedded, first.from_cache) == (2, 0)

    again = Indexer(
        None, DEFAULT_MODEL, full=False, start_with_previous=False, cache=VectorCache(tmp_path, DEFAULT_MODEL)
    )
    again.put("http://site.example/p", chunks(texts), {"title": "P"})
    seen: list[int] = []
    again.embed(again.missing(), seen.append)
    assert (again.embedded, again.from_cache) == (0, 2)
    assert sum(seen) == 2, "the progress bar counts passages taken from the cache"
    _, matrix, _ = again.build()
    np.testing.assert_allclose(matrix, embed_texts(DEFAULT_MODEL, [c.embed_text for c in chunks(texts)]), atol=1e-5)

    full = Indexer(
        None, DEFAULT_MODEL, full=True, start_with_previous=False, cache=VectorCache(tmp_path, DEFAULT_MODEL)
    )
    full.embed(chunks(texts))
    assert (full.embedded, full.from_cache) == (2, 0), "a full sync embeds everything again, as asked"
