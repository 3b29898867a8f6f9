"""The answer's passage: whole sentences, the published wording untouched."""

from __future__ import annotations

from assistant.actions.answer import MAX_PASSAGE, _passage


def test_short_text_is_kept_whole() -> None:
    text = "Offices are open 8:00 a.m. to 6:00 p.m.\nCall first."
    assert _passage(text) == text


def test_long_text_is_cut_after_a_sentence_never_inside_an_abbreviation() -> None:
    text = "We are open Monday to Friday, 8:00 a.m. to 6:00 p.m. at every office. " * 20
    passage = _passage(text)
    assert len(passage) <= MAX_PASSAGE
    assert passage.endswith("every office.")
    assert "8:00 a.m. to 6:00 p.m." in passage
    assert text.startswith(passage)
