"""One Answer from Rasa's reply, rendered for each channel."""

from __future__ import annotations

from channels.answers import Answer, answers_from_rasa, render_email, render_sms, render_web

URL = "http://127.0.0.1:8080/appeals/how-to-appeal.html"
PAYLOAD = {
    "kind": "answer",
    "answered": True,
    "text": "You must ask for a fair hearing within 30 days. " * 20,
    "source_url": URL,
    "source_title": "How to appeal a decision",
    "index_version": "v1",
    "last_updated": "2026-09-14",
}


def test_custom_payload_becomes_an_answer() -> None:
    answers = answers_from_rasa([{"recipient_id": "x", "custom": PAYLOAD}, {"recipient_id": "x", "text": "Hi!"}])
    assert answers[0].answered and answers[0].source_url == URL and answers[0].index_version == "v1"
    assert answers[1] == Answer(text="Hi!")


def test_an_answer_without_a_source_is_not_answered() -> None:
    (answer,) = answers_from_rasa([{"custom": PAYLOAD | {"source_url": None}}])
    assert not answer.answered and answer.source_url is None


def test_web_keeps_every_contract_field() -> None:
    (message,) = render_web(answers_from_rasa([{"custom": PAYLOAD}]))
    assert {"text", "answered", "source_url", "source_title", "index_version"} <= set(message)


def test_sms_is_short_and_keeps_the_full_url() -> None:
    sms = render_sms(answers_from_rasa([{"custom": PAYLOAD}]), limit=320)
    assert len(sms) <= 320
    assert sms.endswith(URL)
    assert sms.startswith("You must ask for a fair hearing within 30 days.")


def test_email_has_the_full_answer_source_and_version() -> None:
    body = render_email(answers_from_rasa([{"custom": PAYLOAD}]))
    assert PAYLOAD["text"].strip() in body
    assert URL in body and "Guidance version: v1" in body
