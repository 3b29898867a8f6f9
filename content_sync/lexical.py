"""Lexical (BM25) ranking with `bm25s`: language-aware tokens, Snowball stems and stopwords for English and Spanish."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

import bm25s
import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN, STOPWORDS_EN_PLUS, STOPWORDS_SPANISH

__all__ = ["LANGUAGES", "LexicalIndex", "fold", "stem_tokens", "words"]

LANGUAGES = ("en", "es")
WORD = re.compile(r"[0-9a-z]+(?:[.,][0-9]+)*")


def fold(text: str) -> str:
    """Lower case without accents: customers often type "como" for "cómo"."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


# Stopword lists by name: "plus" (bm25s's longer English list), "lucene" (its 33-word list), "none".
_EXTRA_EN = {"hi", "hello", "please", "thanks", "get", "can", "need", "want", "would"}
_SPANISH = frozenset(fold(w) for w in STOPWORDS_SPANISH) | {"hola", "gracias", "favor", "quiero", "puedo"}
STOPWORD_LISTS: dict[str, dict[str, frozenset[str]]] = {
    "plus": {"en": frozenset(STOPWORDS_EN_PLUS) | _EXTRA_EN, "es": _SPANISH},
    "lucene": {"en": frozenset(STOPWORDS_EN) | _EXTRA_EN, "es": _SPANISH},
    "none": {"en": frozenset(), "es": frozenset()},
}
DEFAULT_STOPWORDS = "plus"


def words(text: str) -> list[str]:
    """Folded word tokens, numbers kept whole ("$1,500" → "1,500")."""
    return WORD.findall(fold(text))


@lru_cache(maxsize=4)
def _stemmer(language: str) -> Stemmer.Stemmer:
    return Stemmer.Stemmer("spanish" if language == "es" else "english")


def stem_tokens(
    tokens: Sequence[str], language: str, stopwords: str = DEFAULT_STOPWORDS, stem: bool = True
) -> list[str]:
    """Stopwords dropped, the rest stemmed with the language's Snowball stemmer."""
    lists = STOPWORD_LISTS[stopwords]
    stops = lists.get(language, lists["en"])
    kept = [t for t in tokens if t not in stops]
    return list(_stemmer(language).stemWords(kept)) if stem else kept


class LexicalIndex:
    """BM25 over documents (chunks or pages), each tokenised in its own language.

    A query is tokenised once per language present in the index, and each document is scored with the tokens
    of its own language, so an English query matches English stems and a Spanish one Spanish stems.
    """

    def __init__(
        self,
        texts: Sequence[str],
        languages: Sequence[str | None],
        stopwords: str = DEFAULT_STOPWORDS,
        stem: bool = True,
        k1: float = 1.2,
        b: float = 0.75,
    ) -> None:
        self.languages = [lang if lang in LANGUAGES else "en" for lang in languages]
        self.size = len(texts)
        self.stopwords, self.stem = stopwords, stem
        tokenised = [words(t) for t in texts]  # once: for the BM25 terms and for the vocabulary
        corpus = [self._terms(t, lang) or ["\x00"] for t, lang in zip(tokenised, self.languages, strict=True)]
        self.vocabulary: Counter[str] = Counter()
        for tokens in tokenised:
            self.vocabulary.update(tokens)
        self.present = sorted(set(self.languages))
        self.masks = {lang: np.array([x == lang for x in self.languages]) for lang in self.present}
        self.bm25 = bm25s.BM25(k1=k1, b=b)
        if self.size:
            self.bm25.index(corpus, show_progress=False)
        self._known = {lang: set(self.bm25.vocab_dict) if self.size else set() for lang in self.present}
        self._stems = [set(doc) for doc in corpus]

    def _terms(self, tokens: Sequence[str], language: str) -> list[str]:
        return stem_tokens(tokens, language, self.stopwords, self.stem)

    def scores(self, tokens: Sequence[str]) -> np.ndarray:
        """Every document's BM25 score for the (folded, unstemmed) query tokens."""
        out = np.zeros(self.size, dtype=np.float32)
        if not self.size:
            return out
        for lang in self.present:
            stems = [s for s in self._terms(tokens, lang) if s in self._known[lang]]
            if not stems:
                continue
            scored = np.asarray(self.bm25.get_scores(stems), dtype=np.float32)
            out = np.where(self.masks[lang], scored, out) if len(self.present) > 1 else scored
        return out

    def coverage(self, tokens: Sequence[str], row: int) -> float:
        """The share of the query's content stems that occur in document `row`."""
        stems = set(self._terms(tokens, self.languages[row]))
        return len(stems & self._stems[row]) / len(stems) if stems else 0.0
