"""Index versions on disk: pruning spares what a rollback needs, and readers refuse what they cannot use."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from content_sync.chunk import Chunk
from content_sync.errors import IndexNotReady
from content_sync.index_store import IndexStore
from content_sync.search import LEXICAL_FILE, Searcher, build_lexical

MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def publish(store: IndexStore, text: str, model: str = MODEL, lexical: bytes | None = None) -> str:
    chunks = [Chunk(id="p_0", url="http://a.example/p", title="P", headings=("P",), text=text, digest=text)]
    vectors = np.ones((1, 384), dtype=np.float32) / np.sqrt(384)
    pages = {"http://a.example/p": {"language": "en"}}
    extras = {LEXICAL_FILE: lexical if lexical is not None else build_lexical(chunks, pages)}
    return store.publish(chunks, vectors, pages, {"model": model}, extras)


def test_pruning_spares_the_version_rolled_back_to(tmp_path: Path) -> None:
    store = IndexStore(tmp_path)
    names = [publish(store, f"version {n}") for n in range(5)]
    store.switch(names[0])  # a rollback
    after = publish(store, "published from the rolled-back version")
    store.prune(3, also_keep=(names[0],))
    assert store.list_versions() == [names[0], names[3], names[4], after]


def test_a_reader_refuses_a_version_built_with_another_model(tmp_path: Path) -> None:
    store = IndexStore(tmp_path)
    good = publish(store, "good")
    searcher = Searcher(tmp_path, MODEL, watch_seconds=0)
    assert searcher.current().version.version == good
    publish(store, "other model", model="some/other-model")
    with pytest.raises(IndexNotReady, match="built with some/other-model"):
        searcher.refresh()
    assert searcher.loaded_version() == good, "the version loaded keeps answering"


def test_a_lexical_file_of_another_format_is_rebuilt(tmp_path: Path) -> None:
    store = IndexStore(tmp_path)
    stale = pickle.dumps({"not": "the current format"})
    publish(store, "heating grant rules", lexical=stale)
    rebuilt = Searcher(tmp_path, MODEL, watch_seconds=0).current().lexical
    assert rebuilt.chunk_lexical.size == 1 and "heating" in rebuilt.chunk_lexical.vocabulary


def test_chunk_digests_are_read_per_version_without_loading_the_index(tmp_path: Path) -> None:
    store = IndexStore(tmp_path)
    assert store.chunk_digests() == frozenset()  # nothing published yet
    first = publish(store, "30 days")
    second = publish(store, "60 days")
    assert store.chunk_digests() == {"60 days"}  # the published version's
    assert store.chunk_digests(first) == {"30 days"}
    (tmp_path / "versions" / second / "index.faiss").unlink()  # FAISS is not read
    assert store.chunk_digests(second) == {"60 days"}
    assert store.chunk_digests("gone") == frozenset()
