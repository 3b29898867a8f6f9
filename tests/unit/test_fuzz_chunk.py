"""Property tests (hypothesis) of the chunker: size limit, every word in order, headings kept, stable ids."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from content_sync.chunk import MAX_WORDS, chunk_page
from content_sync.parse import ParsedPage, Section

FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Tokens that make sentence ends ("Office. Next"), ones that do not ("a.m. to"), line breaks and tabs.
TOKENS: tuple[str, ...] = ("apply", "benefits", "card", "a.m.", "Office.", "Next", "¿Cómo", "días?", "3", "(see")
TOKENS += ("notice)", "\n", "\t", "end.", "Yes!", "ñandú", '"Quoted."', "x" * 30)
VOCABULARY = ("apply", "benefits", "card", "office", "renewal", "hearing", "notice", "días", "año", "a.m.", "3")


def make_block(n: int, seed: int, run_on: bool) -> str:
    """`n` tokens, chosen by `seed`: a mix with sentence ends, or (run_on) words without one. One draw each
    instead of one per token keeps an example cheap; hypothesis still shrinks `n`."""
    rng = random.Random(seed)
    text = " ".join(rng.choice(VOCABULARY if run_on else TOKENS) for _ in range(n)).strip()
    return text or "x"


# A block: up to two passages of tokens; or one run-on sentence, most often longer than a passage.
block = st.builds(make_block, st.integers(1, MAX_WORDS * 2), st.integers(0, 2**32), st.booleans())
headings = st.lists(st.text(alphabet=st.sampled_from("Howtoapel ¿Cómo?"), min_size=1, max_size=20), max_size=3).map(
    tuple
)
sections = st.lists(st.builds(Section, headings=headings, blocks=st.lists(block, min_size=1, max_size=4)), max_size=4)


def page_of(found: list[Section]) -> ParsedPage:
    return ParsedPage(url="https://agency.example/page.html", title="A page", sections=found)


@FUZZ
@given(sections)
def test_chunks_keep_the_size_limit_every_word_in_order_and_their_headings(found: list[Section]) -> None:
    chunks = chunk_page(page_of(found))
    assert all(len(c.text.split()) <= MAX_WORDS for c in chunks), max(len(c.text.split()) for c in chunks)
    assert all(c.text.strip() for c in chunks)  # no empty passage
    expected = [(s.headings, w) for s in found for b in s.blocks for w in b.split()]
    got = [(c.headings, w) for c in chunks for w in c.text.split()]
    assert got == expected  # every word once, in reading order, under its own section's headings
    assert [c.id for c in chunks] == [f"{chunks[0].id.rsplit('_', 1)[0]}_{n}" for n in range(len(chunks))]


@FUZZ
@given(sections)
def test_the_same_page_always_gives_the_same_chunks(found: list[Section]) -> None:
    first, again = chunk_page(page_of(found)), chunk_page(page_of(found))
    assert [(c.id, c.digest, c.text) for c in first] == [(c.id, c.digest, c.text) for c in again]


@FUZZ
@given(st.lists(block, min_size=1, max_size=6))
def test_blocks_that_fit_together_are_not_split(blocks: list[str]) -> None:
    chunks = chunk_page(page_of([Section(headings=("H",), blocks=blocks)]))
    if sum(len(b.split()) for b in blocks) <= MAX_WORDS:
        assert len(chunks) == 1
