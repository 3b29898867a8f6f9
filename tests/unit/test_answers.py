"""One Answer from Rasa's reply, rendered for each channel."""

from __future__ import annotations

from typing import Any

import pytest

from channels.answers import (
    Answer,
    AnswerEvent,
    answers_from_rasa,
    events_to_record,
    render_email,
    render_sms,
    render_text,
    render_web,
    reply_hint,
)

URL = "http://127.0.0.1:8080/appeals/how-to-appeal.html"
SITE = "http://127.0.0.1:8080"
FEEDBACK_EN = {
    "prompt": "Was this helpful?",
    "buttons": [
        {"title": "Yes", "payload": '/feedback{"helpful": "yes"}'},
        {"title": "No", "payload": '/feedback{"helpful": "no"}'},
    ],
}
PAYLOAD: dict[str, Any] = {
    "kind": "answer",
    "answered": True,
    "text": "You must ask for a fair hearing within 30 days. " * 20,
    "source_url": URL,
    "source_title": "How to appeal a decision",
    "index_version": "v1",
    "last_updated": "2026-09-14",
    "section": "Deadlines",
    "chunk_id": "abc_0",
    "chunk_digest": "d1g35t",
    "score": 0.71,
    "lang": "en",
    "feedback": FEEDBACK_EN,
}
TITLES = ["Burial Allowance", "Funeral Costs Help", "Survivor Benefits"]


def clarify(lang: str = "en", titles: list[str] = TITLES, text: str | None = None) -> dict[str, Any]:
    question = {
        "en": "I found a few pages that could answer that. Which one do you mean?",
        "es": "Encontré algunas páginas que podrían responder a eso. ¿Cuál quiere decir?",
    }[lang]
    return {
        "kind": "clarify",
        "answered": False,
        "reason": "clarify",
        "text": question if text is None else text,
        "source_url": None,
        "source_title": None,
        "index_version": "v1",
        "lang": lang,
        "choices": [
            {"n": n, "title": title, "url": f"{SITE}/allowances/{n}.html", "payload": str(n)}
            for n, title in enumerate(titles, start=1)
        ],
    }


def not_answered(reason: str, lang: str = "en") -> dict[str, Any]:
    return {
        "kind": "answer",
        "answered": False,
        "reason": reason,
        "text": "I'm sorry, I couldn't find that in our published guidance.",
        "source_url": None,
        "source_title": None,
        "index_version": "v1",
        "lang": lang,
    }


FEEDBACK_ACK: dict[str, Any] = {
    "kind": "feedback",
    "answered": False,
    "reason": "feedback",
    "text": "Thank you for telling us.",
    "source_url": None,
    "source_title": None,
    "index_version": "v2",
    "lang": "en",
    "helpful": False,
    "about": {"question": "how do I appeal?", "source_url": URL, "chunk_digest": "d1g35t", "index_version": "v1"},
}


def test_custom_payload_becomes_an_answer() -> None:
    answers = answers_from_rasa([{"recipient_id": "x", "custom": PAYLOAD}, {"recipient_id": "x", "text": "Hi!"}])
    assert answers[0].answered and answers[0].source_url == URL and answers[0].index_version == "v1"
    assert answers[0].kind == "answer" and answers[0].lang == "en" and answers[0].reason is None
    assert answers[1] == Answer(text="Hi!")
    assert answers[1].kind == "text"


def test_an_answer_without_a_source_is_not_answered() -> None:
    (answer,) = answers_from_rasa([{"custom": PAYLOAD | {"source_url": None}}])
    assert not answer.answered and answer.source_url is None
    assert answer.feedback is None  # "Was this helpful?" belongs to an answer from the guidance


def test_only_answers_can_be_answered() -> None:
    (answer,) = answers_from_rasa([{"custom": clarify() | {"answered": True, "source_url": URL}}])
    assert not answer.answered and answer.source_url is None


def test_web_keeps_every_contract_field() -> None:
    (message,) = render_web(answers_from_rasa([{"custom": PAYLOAD}]))
    assert {"text", "answered", "source_url", "source_title", "index_version"} <= set(message)
    assert message["kind"] == "answer" and message["lang"] == "en" and message["choices"] == []
    assert message["feedback"] == FEEDBACK_EN


def test_web_carries_the_choices_and_plain_responses_have_none() -> None:
    clar, hello = render_web(answers_from_rasa([{"custom": clarify()}, {"text": "Hello!"}]))
    assert clar["kind"] == "clarify" and not clar["answered"] and clar["source_url"] is None
    assert [c["title"] for c in clar["choices"]] == TITLES
    assert clar["choices"][0] == {"n": 1, "title": TITLES[0], "url": f"{SITE}/allowances/1.html", "payload": "1"}
    assert clar["feedback"] is None
    assert hello == {
        "text": "Hello!",
        "answered": False,
        "source_url": None,
        "source_title": None,
        "index_version": None,
        "last_updated": None,
        "indexed_at": None,
        "kind": "text",
        "lang": None,
        "choices": [],
        "feedback": None,
        "degraded": False,
    }


def test_a_choice_link_that_is_not_http_is_dropped() -> None:
    payload = clarify()
    payload["choices"][0]["url"] = "javascript:alert(1)"
    (answer,) = answers_from_rasa([{"custom": payload}])
    assert answer.choices[0].url is None and answer.choices[1].url == f"{SITE}/allowances/2.html"


def test_sms_is_short_and_keeps_the_full_url() -> None:
    sms = render_sms(answers_from_rasa([{"custom": PAYLOAD}]), limit=320)
    assert len(sms) <= 320
    assert sms.endswith(URL)
    assert sms.startswith("You must ask for a fair hearing within 30 days.")
    assert "helpful" not in sms.lower()  # no "Was this helpful?" on SMS


def test_sms_in_spanish_names_the_source_in_spanish() -> None:
    sms = render_sms(answers_from_rasa([{"custom": PAYLOAD | {"lang": "es"}}]), limit=320)
    assert sms.endswith(f"Más información: {URL}") and len(sms) <= 320


@pytest.mark.parametrize(
    ("numbers", "spanish", "hint"),
    [
        ([1, 2, 3], False, "Reply 1, 2 or 3."),
        ([1, 2, 3], True, "Responda 1, 2 o 3."),
        ([1, 2], False, "Reply 1 or 2."),
        ([1, 2, 3, 4], True, "Responda 1, 2, 3 o 4."),
        ([7, 8], True, "Responda 7 u 8."),
    ],
)
def test_reply_hint(numbers: list[int], spanish: bool, hint: str) -> None:
    assert reply_hint(numbers, spanish) == hint


def test_sms_numbers_the_choices_in_english() -> None:
    sms = render_sms(answers_from_rasa([{"custom": clarify()}]), limit=480)
    assert sms == (
        "I found a few pages that could answer that. Which one do you mean?\n"
        "1. Burial Allowance\n2. Funeral Costs Help\n3. Survivor Benefits\nReply 1, 2 or 3."
    )


def test_sms_numbers_the_choices_in_spanish() -> None:
    sms = render_sms(answers_from_rasa([{"custom": clarify("es", ["Ayuda para el entierro", "Beneficios"])}]), 480)
    assert sms.splitlines()[1:] == ["1. Ayuda para el entierro", "2. Beneficios", "Responda 1 o 2."]
    assert sms.startswith("Encontré algunas páginas")


def test_sms_with_long_choices_fits_and_keeps_every_choice() -> None:
    titles = [f"{name} " + "and a very long page title that goes on " * 4 for name in ("Burial", "Funeral", "Grave")]
    titles.append("Survivor Benefits for spouses, children and dependent parents of a deceased worker")
    for limit in (160, 320, 480):
        sms = render_sms(answers_from_rasa([{"custom": clarify(titles=titles)}]), limit=limit)
        assert len(sms) <= limit, (limit, len(sms), sms)
        lines = sms.splitlines()
        assert lines[-1] == "Reply 1, 2, 3 or 4."
        numbered = lines[-5:-1]
        assert [line.split(". ", 1)[0] for line in numbered] == ["1", "2", "3", "4"]
        for line, title in zip(numbered, titles, strict=True):
            shown = line.split(". ", 1)[1]
            assert title.startswith(shown.removesuffix("…").rstrip()) and len(shown) >= 8


def test_sms_with_several_messages_stays_within_the_limit() -> None:
    messages: list[dict[str, Any]] = [{"text": "Hello! " * 10}, {"custom": PAYLOAD}, {"custom": clarify()}]
    sms = render_sms(answers_from_rasa(messages), limit=480)
    assert len(sms) <= 480
    assert URL in sms and sms.endswith("Reply 1, 2 or 3.")
    assert sms.startswith("Hello! Hello!")  # a short part keeps its length; the long answer is shortened


def test_email_has_the_full_answer_source_and_version() -> None:
    body = render_email(answers_from_rasa([{"custom": PAYLOAD}]))
    assert PAYLOAD["text"].strip() in body
    assert URL in body and "Guidance version: v1" in body
    assert body.startswith("Hello,")


def test_email_numbers_the_choices_with_their_links() -> None:
    body = render_email(answers_from_rasa([{"custom": clarify()}]))
    for n, title in enumerate(TITLES, start=1):
        assert f"{n}. {title}\n   {SITE}/allowances/{n}.html" in body
    assert "Which one do you mean?" in body
    assert body.index("Reply 1, 2 or 3.") > body.index("3. Survivor Benefits")


def test_email_in_spanish() -> None:
    body = render_email(answers_from_rasa([{"custom": clarify("es")}]))
    assert body.startswith("Hola:") and "Responda 1, 2 o 3." in body and "Reply" not in body
    answer = render_email(answers_from_rasa([{"custom": PAYLOAD | {"lang": "es"}}]))
    assert "Versión de la guía: v1" in answer and f"Fuente: How to appeal a decision\n{URL}" in answer


def test_text_shows_the_kind_reason_and_choices() -> None:
    out = render_text(answers_from_rasa([{"custom": clarify()}, {"custom": not_answered("injection")}]))
    assert f"  1. Burial Allowance <{SITE}/allowances/1.html>" in out
    assert "kind: clarify" in out and "reason: injection" in out


def test_events_are_every_unanswered_payload_and_no_plain_response() -> None:
    messages: list[dict[str, Any]] = [
        {"text": "Hello!"},
        {"custom": PAYLOAD},
        *({"custom": not_answered(r)} for r in ("no_match", "out_of_scope", "personal_account", "injection")),
        {"custom": not_answered("not_ready") | {"index_version": None}},
        {"custom": clarify()},
        {"custom": {**not_answered("handoff"), "kind": "handoff"}},
        {"custom": FEEDBACK_ACK},
    ]
    events = events_to_record(answers_from_rasa(messages), "sms", "sms:+15550104477", "what now?")
    reasons = ["no_match", "out_of_scope", "personal_account", "injection", "not_ready", "clarify", "handoff"]
    assert [e.reason for e in events] == [*reasons, "feedback"]
    assert {e.channel for e in events} == {"sms"} and {e.question for e in events} == {"what now?"}
    assert events[-1] == AnswerEvent(
        channel="sms",
        conversation="sms:+15550104477",
        question="what now?",
        kind="feedback",
        reason="feedback",
        lang="en",
        index_version="v2",
        helpful=False,
        about_question="how do I appeal?",
        about_source_url=URL,
        about_chunk_digest="d1g35t",
        about_index_version="v1",
    )
    assert all(e.helpful is None and e.about_source_url is None for e in events[:-1])


def test_helpful_feedback_is_recorded_too() -> None:
    (event,) = events_to_record(answers_from_rasa([{"custom": FEEDBACK_ACK | {"helpful": True}}]), "web", "w", "Yes")
    assert event.helpful is True and event.reason == "feedback"
