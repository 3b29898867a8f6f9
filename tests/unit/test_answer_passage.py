"""The answer's passage: whole sentences around the one that answers, the published wording untouched."""

from __future__ import annotations

from content_sync.chunk import Chunk
from content_sync.search import Hit
from content_sync.search.answer import MAX_PASSAGE, SHORT_FORM, _cut, passage_for, short_passage_for


def _hit(text: str) -> Hit:
    chunk = Chunk(id="p_0", url="http://x/p", title="T", headings=("T",), text=text, digest="d", language="en")
    return Hit(chunk=chunk, score=0.9, language="en")


def test_short_text_is_kept_whole() -> None:
    text = "Offices are open 8:00 a.m. to 6:00 p.m.\nCall first."
    assert passage_for(_hit(text), "when are offices open") == text


def test_long_text_is_cut_after_a_sentence_never_inside_an_abbreviation() -> None:
    text = "We are open Monday to Friday, 8:00 a.m. to 6:00 p.m. at every office. " * 20
    passage = _cut(text)
    assert len(passage) <= MAX_PASSAGE
    assert passage.endswith("every office.")
    assert "8:00 a.m. to 6:00 p.m." in passage
    assert text.startswith(passage)


def test_a_long_passage_is_cut_around_the_sentence_that_answers() -> None:
    filler = " ".join(f"Sentence number {n} says something general about the program." for n in range(30))
    answer = "The burial allowance pays up to $1,500 for a burial."
    text = f"{filler} {answer} {filler}"
    passage = passage_for(_hit(text), "how much does the burial allowance pay")
    assert answer in passage
    assert len(passage) <= MAX_PASSAGE
    assert all(s.endswith(".") for s in passage.split("\n"))


def test_a_table_row_keeps_its_header_row() -> None:
    rows = "\n".join(f"{n} people | ${100 * n}" for n in range(1, 40))
    text = f"Household size | Monthly amount\n{rows}\nFamily of 27 people | $9,999"
    passage = passage_for(_hit(text), "how much for a family of 27 people")
    assert passage.startswith("Household size | Monthly amount")
    assert "$9,999" in passage


def test_the_brief_form_keeps_the_sentences_that_answer() -> None:
    key = "Before you can use the card, choose a 4-digit PIN by calling customer service at (555) 010-3282."
    passage = (
        "Your card arrives by mail within 5 business days. Each household gets one card. "
        "It comes in a plain white envelope with a return address in Harrowgate, and you should keep it safe.\n" + key
    )
    short = short_passage_for(passage, "What number do I call to set up my PIN?", "en")
    assert short is not None and key in short and len(short) <= SHORT_FORM
    assert all(line in passage for line in short.splitlines())
    assert short_passage_for("A short passage. Two sentences.", "short", "en") is None
