"""Group review items into clusters of one question asked many ways: nearest centroid by cosine similarity.

An item joins the cluster whose centroid (the normalised mean of its items' vectors) is nearest, when the
cosine is at least THRESHOLD; otherwise it starts a cluster of its own. Vectors come from the same
sentence-transformers model the index uses (EMBEDDING_MODEL), always called off the event loop. The model runs
in a child process (content_sync.embed.child_embedder) that starts when items wait to be clustered and exits
two minutes after the last: the gateway itself never imports torch for clustering (about 400 MB).

THRESHOLD = 0.60, chosen on dev-half questions (`.venv/bin/python -m bench.review_clusters` prints the table;
docs/benchmarks.md keeps it). tests/fixtures/review_paraphrases.json holds 24 dev questions of tests/eval (the
unanswerable kind mostly, plus the two programmes only the site update adds), each asked three or four ways.
At 0.60, 94 % of paraphrase pairs reach the threshold, 0.08 % of pairs from different groups do, and 0.21 % of
pairs of dev questions about different pages; clustered greedily in arrival order, the 74 questions make 26
clusters for the 24 groups with B-cubed precision 100 % and recall 96 %: a few paraphrases start a row of their
own, and no two programmes share a row. 0.55 merges two groups (precision 92 %); 0.70 splits paraphrases
into 32 clusters (recall 87 %). A split cluster costs a reviewer one more row; a merged one hides a question.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

THRESHOLD = 0.60


@dataclass(frozen=True)
class Centroid:
    """One cluster's place: the mean of its items' unit vectors (not normalised) and how many went in."""

    cluster_id: int
    mean: np.ndarray
    size: int

    def cosine(self, vector: np.ndarray) -> float:
        """Cosine between the centroid and a unit vector."""
        norm = float(np.linalg.norm(self.mean))
        return float(self.mean @ vector) / norm if norm > 0 else 0.0

    def add(self, vector: np.ndarray, weight: int = 1) -> Centroid:
        """The centroid once `weight` more copies of `vector` are in it."""
        size = self.size + weight
        mean = (self.mean * self.size + vector * weight) / size
        return Centroid(self.cluster_id, mean.astype(np.float32), size)


def nearest(vector: np.ndarray, centroids: Sequence[Centroid], threshold: float = THRESHOLD) -> Centroid | None:
    """The centroid nearest to `vector` if its cosine reaches `threshold`, else None (start a new cluster)."""
    best: Centroid | None = None
    best_score = threshold
    for centroid in centroids:
        score = centroid.cosine(vector)
        if score >= best_score:
            best, best_score = centroid, score
    return best


def to_bytes(vector: np.ndarray) -> bytes:
    """A vector as stored in the database (float32, native order)."""
    return np.asarray(vector, dtype=np.float32).tobytes()


def from_bytes(data: bytes) -> np.ndarray:
    """A stored vector back as float32."""
    return np.frombuffer(data, dtype=np.float32).copy()


def embed_questions(model: str, questions: Sequence[str]) -> np.ndarray:
    """Unit vectors for the questions, from the index's embedding model in a child process (blocking: use a
    thread; the first call after a quiet spell waits for the model to load there)."""
    from content_sync.embed import child_embedder

    return child_embedder(model).embed(list(questions))


def cluster_greedily(vectors: np.ndarray, threshold: float = THRESHOLD) -> list[int]:
    """Each vector's cluster number when they arrive in order (what the queue does, for tuning and tests)."""
    centroids: list[Centroid] = []
    labels: list[int] = []
    for vector in vectors:
        found = nearest(vector, centroids, threshold)
        if found is None:
            found = Centroid(len(centroids), np.zeros_like(vector), 0)
            centroids.append(found)
        centroids[found.cluster_id] = found.add(vector)
        labels.append(found.cluster_id)
    return labels
