"""Split a parsed page into heading-aware chunks with stable ids and digests."""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass

from content_sync.parse import ParsedPage

MAX_WORDS = 160
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9¿¡\"'(])")  # "a.m. to" does not end a sentence


@dataclass(frozen=True)
class Chunk:
    """One passage of one page, under its heading path. `id` is `<page_id>_<n>`."""

    id: str
    url: str
    title: str
    headings: tuple[str, ...]
    text: str
    digest: str
    last_updated: str | None = None
    language: str | None = None
    page: int | None = None  # for a PDF, the page the passage is on (from 1); None for an HTML page

    @property
    def embed_text(self) -> str:
        """What is embedded: the heading path gives a short passage its context."""
        return " > ".join(self.headings) + "\n" + self.text

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["headings"] = list(self.headings)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Chunk:
        """A dict from `to_dict`; one written before chunks had a `page` loads with page None."""
        return cls(**{**data, "headings": tuple(data["headings"])})  # type: ignore[arg-type]


def page_id(url: str) -> str:
    """A stable id for a page URL."""
    return hashlib.sha256(url.encode()).hexdigest()[:12]


def digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


def _pieces(blocks: list[str]) -> list[str]:
    """Group blocks into passages of at most MAX_WORDS words, splitting long blocks at sentences."""
    units: list[str] = []
    for block in blocks:
        if len(block.split()) <= MAX_WORDS:
            units.append(block)
        else:
            for sentence in SENTENCE_END.split(block):
                tokens = sentence.split()
                if len(tokens) <= MAX_WORDS:
                    units.extend([sentence] if sentence else [])
                else:  # one run-on "sentence" longer than a passage: cut between words
                    units.extend(" ".join(tokens[i : i + MAX_WORDS]) for i in range(0, len(tokens), MAX_WORDS))
    passages: list[str] = []
    current: list[str] = []
    words = 0
    for unit in units:
        n = len(unit.split())
        if current and words + n > MAX_WORDS:
            passages.append("\n".join(current))
            current, words = [], 0
        current.append(unit)
        words += n
    if current:
        passages.append("\n".join(current))
    return passages


def chunk_page(page: ParsedPage) -> list[Chunk]:
    """Chunks in reading order; the same page always gives the same ids and digests."""
    pid = page_id(page.url)
    chunks: list[Chunk] = []
    for section in page.sections:
        for text in _pieces(section.blocks):
            chunks.append(
                Chunk(
                    id=f"{pid}_{len(chunks)}",
                    url=page.url,
                    title=page.title,
                    headings=section.headings,
                    text=text,
                    digest=digest(page.title, *section.headings, text),
                    last_updated=page.last_updated,
                    language=(page.language or "").split("-")[0].lower() or None,
                    page=section.page,
                )
            )
    return chunks
