"""SMS text rules: GSM-7 / UCS-2 segment counts, fitting a reply into two segments, keywords, long input."""

from __future__ import annotations

import pytest

from channels.answers import answers_from_rasa
from channels.sms.text import (
    MAX_INBOUND_CHARS,
    compose_sms,
    fit_reply,
    inbound_problem,
    is_gsm7,
    keyword,
    segment_count,
    split_reply,
)

URL = "https://agency.example/appeals/how-to-appeal.html"


def answer(text: str, lang: str = "en") -> list:
    payload = {"kind": "answer", "answered": True, "text": text, "source_url": URL, "lang": lang}
    return answers_from_rasa([{"custom": payload}])


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("€" * 80, 1),  # an extension character counts two septets
        ("€" * 81, 2),
        ("a" * 152 + "€", 1),  # 154 septets: still one segment of 160
        ("a" * 159 + "[", 2),  # 161 septets
        ("é" * 160, 1),  # é is in GSM-7
        ("á" * 70, 1),  # á is not: UCS-2
        ("á" * 71, 2),
        ("😀" * 35, 1),  # an emoji is a surrogate pair: two UTF-16 units
        ("😀" * 36, 2),
        ("a" * 66 + "😀" + "a" * 10, 2),  # the pair is never split across segments
    ],
)
def test_segments_are_counted_as_the_network_counts_them(text: str, segments: int) -> None:
    assert segment_count(text) == segments


def test_a_pair_that_would_straddle_a_segment_starts_the_next_one() -> None:
    text = "a" * 66 + "😀" * 34  # 134 units, but 66 + 2 does not fit in 67: the emoji moves on
    assert segment_count(text) == 3


def test_gsm7_or_not() -> None:
    assert is_gsm7("Hello {name} €5 @ ñ ü ¿?")
    assert not is_gsm7("Más información")
    assert not is_gsm7("ok 👍")


@pytest.mark.parametrize(
    ("body", "word"),
    [
        ("STOP", "stop"),
        (" stop ", "stop"),
        ("Stop.", "stop"),
        ("STOPALL", "stop"),
        ("unsubscribe", "stop"),
        ("Cancel", "stop"),
        ("END", "stop"),
        ("quit!", "stop"),
        ("START", "start"),
        ("yes", "start"),
        ("UNSTOP", "start"),
        ("help", "help"),
        ("INFO", "help"),
        ("stop sending me the wrong forms", None),
        ("How do I cancel my appointment?", None),
        ("", None),
    ],
)
def test_keywords_are_whole_messages(body: str, word: str | None) -> None:
    assert keyword(body) == word


def test_empty_and_oversized_messages_are_refused_clearly() -> None:
    assert "text your question" in (inbound_problem("   ") or "")
    assert inbound_problem("x" * MAX_INBOUND_CHARS) is None
    refusal = inbound_problem("x" * 1700) or ""
    assert "too long" in refusal and "1700 characters" in refusal and "1600" in refusal


def test_a_short_answer_is_one_message_unchanged() -> None:
    parts = compose_sms(answer("You must ask for a fair hearing within 30 days."), 480)
    assert parts == [f"You must ask for a fair hearing within 30 days.\nMore: {URL}"]


def test_a_long_answer_is_shortened_into_two_segments_keeping_its_first_sentence_and_url() -> None:
    text = "You must ask for a fair hearing within 30 days of the notice. " + " ".join(
        f"Detail number {n} about how the hearing works and what to bring." for n in range(8)
    )
    parts = compose_sms(answer(text), 480)
    assert len(parts) == 1
    assert segment_count(parts[0]) <= 2
    assert parts[0].startswith("You must ask for a fair hearing within 30 days of the notice.")
    assert parts[0].endswith(URL)


def test_a_long_answer_is_sent_in_the_actions_brief_form() -> None:
    key = "Before you can use the card, choose a 4-digit PIN by calling customer service at (555) 010-3282."
    text = " ".join(f"Detail number {n} about how the card arrives and what it looks like." for n in range(8))
    short = f"Detail number 7 about how the card arrives and what it looks like.\n{key}"
    payload = {"kind": "answer", "answered": True, "text": f"{text}\n{key}", "source_url": URL, "short_text": short}
    (part,) = compose_sms(answers_from_rasa([{"recipient_id": "t", "custom": payload}]), 480)
    assert part == f"{short}\nMore: {URL}" and segment_count(part) <= 2
    (first,) = compose_sms(answer(f"{text}\n{key}"), 480)  # without a brief form: the start of the passage
    assert key not in first and first.startswith("Detail number 0")


def test_a_brief_form_that_is_not_from_the_passage_is_ignored() -> None:
    payload = {
        "kind": "answer",
        "answered": True,
        "text": "The office opens at 9. It closes at 5.",
        "source_url": URL,
        "short_text": "Send your bank details to this number.",
    }
    (answer_,) = answers_from_rasa([{"recipient_id": "t", "custom": payload}])
    assert answer_.short_text is None


def test_spanish_answer_is_ucs2_and_still_fits_two_segments() -> None:
    text = "Debe pedir una audiencia en 30 días. " + "Más detalles sobre la audiencia y qué traer. " * 6
    parts = compose_sms(answer(text, "es"), 480)
    assert len(parts) == 1 and not is_gsm7(parts[0])
    assert segment_count(parts[0]) <= 2 and len(parts[0]) <= 134
    assert parts[0].startswith("Debe pedir una audiencia en 30 días.")
    assert parts[0].endswith(f"Más información: {URL}")


def test_emoji_text_counts_as_ucs2() -> None:
    text = "👍 Your card is on its way and arrives within 7 to 10 days. " + "More details follow here. " * 10
    parts = compose_sms(answer(text), 480)
    assert all(segment_count(p) <= 2 for p in parts)
    assert URL in "".join(parts) and "arrives within 7 to 10 days." in "".join(parts)


def test_a_reply_whose_first_sentence_cannot_fit_is_split_and_numbered() -> None:
    first = "You can ask for a fair hearing " + "and explain in detail why " * 10 + "the decision was wrong."
    parts = fit_reply(lambda limit: f"{first} Second sentence here.\nMore: {URL}"[:limit], 480, keep=[first, URL])
    assert len(parts) >= 2
    assert parts[0].startswith(f"(1/{len(parts)}) ")
    assert parts[-1].startswith(f"({len(parts)}/{len(parts)}) ")
    assert all(segment_count(p) <= 2 for p in parts)
    joined = " ".join(p.split(") ", 1)[1] for p in parts)
    assert URL in joined and "the decision was wrong." in joined


def test_split_cuts_between_sentences_and_keeps_the_url_whole() -> None:
    sentences = [f"Sentence {n} is about the hearing and what it needs from you, in full." for n in range(8)]
    long_url = "https://agency.example/" + "a/" * 40 + "page.html"
    parts = split_reply(" ".join(sentences) + f"\nMore: {long_url}")
    bodies = [p.split(") ", 1)[1] for p in parts]
    for body in bodies:
        for piece in body.replace("\n", " ").split(". "):
            assert piece.rstrip(".").startswith(("Sentence", "More:")), piece  # no sentence cut in two
    assert any(long_url in body for body in bodies)
    assert [p.split(")", 1)[0] for p in parts] == [f"({i}/{len(parts)}" for i in range(1, len(parts) + 1)]
