"""Questions about the sample site, answered on every channel by the real stack."""

from __future__ import annotations

import re
import uuid
from html import unescape
from xml.etree import ElementTree

import httpx
import pytest

from bench.evalset import load_eval
from channels.privacy import pseudonym
from channels.store import ChannelStore
from tests.integration.conftest import EMAIL_FROM, QUESTIONS, Stack, send_mail

pytestmark = pytest.mark.integration


def sms_text(response: httpx.Response) -> str:
    return unescape(" ".join(re.findall(r"<Message>(.*?)</Message>", response.text, re.S)))


def quotes_web(sms: str, web_text: str) -> bool:
    """Whether an SMS body quotes the web answer: the passage, or the action's brief form of it (the sentences
    closest to the question), every line word for word from the web text, then the source link."""
    quoted = re.split(r"\s*(?:More|Más información): ", re.sub(r"\(\d+/\d+\)\s*", "", sms))[0]
    web = re.sub(r"\s+", " ", web_text)
    lines = [re.sub(r"\s+", " ", line).strip() for line in quoted.splitlines() if line.strip()]
    return bool(lines) and all(line in web for line in lines)


def answered(reply: dict) -> dict:
    hits = [m for m in reply["messages"] if m["answered"]]
    assert hits, f"expected an answer from the guidance, got {reply['messages']}"
    return hits[0]


def test_healthz_names_the_published_index(stack: Stack) -> None:
    body = httpx.get(stack.gateway + "/healthz", timeout=10).json()
    assert body["status"] == "ok"
    assert body["index_version"]
    assert body["checks"] == {"rasa": True, "action_server": True, "index": True}


# Three questions on different topics, each with one clearly best page.
THREE = [QUESTIONS["questions"][i] for i in (1, 10, 26)]


@pytest.mark.parametrize("case", THREE, ids=lambda c: c["path"])
def test_web_answer_cites_the_right_page(stack: Stack, case: dict) -> None:
    message = answered(stack.chat(case["question"]))
    assert message["source_url"] == stack.site + case["path"]
    assert message["index_version"]
    assert message["source_title"]


def test_page_accuracy_on_the_dev_half_of_the_eval_set(stack: Stack) -> None:
    """A floor, not the goal: the dev half's answerable questions cite their page (0.64 in process, with
    ANSWER_MIN_SCORE's honest "no" included; docs/benchmarks.md), and must-not-answer ones mostly get no answer."""
    dev = load_eval().half("dev")
    right = 0
    for case in dev.questions:
        messages = stack.chat(case["question"])["messages"]
        right += any(m["answered"] and m["source_url"] == stack.site + case["path"] for m in messages)
    assert right / len(dev.questions) >= 0.55, right
    answered = sum(any(m["answered"] for m in stack.chat(c["question"])["messages"]) for c in dev.refusals)
    assert answered / len(dev.refusals) <= 0.15, answered


def test_every_channel_gives_the_same_answer(stack: Stack) -> None:
    case = THREE[0]
    web = answered(stack.chat(case["question"]))

    sms = stack.sms(case["question"], sid="SM" + uuid.uuid4().hex)
    assert sms.status_code == 200 and sms.headers["content-type"].startswith("text/xml")
    text = sms_text(sms)
    assert web["source_url"] in text
    assert len(text) <= 480
    assert quotes_web(text, web["text"]), (text, web["text"])
    if case["phrase"] in web["text"]:
        assert case["phrase"] in text, "the SMS lost the sentence that answers"

    message_id = send_mail(stack.smtp_port, case["question"] + "\n\nThanks,\nA resident\n", "A question")
    reply = stack.sink.reply_to(message_id)
    assert reply is not None, "no email reply arrived"
    body = reply.get_body(preferencelist=("plain",)).get_content()
    assert web["source_url"] in body
    assert web["text"].splitlines()[0] in body
    assert str(reply["Subject"]) == "Re: A question"
    assert EMAIL_FROM in str(reply["From"]) and "resident@example.org" in str(reply["To"])
    assert message_id in str(reply["In-Reply-To"]) and message_id in str(reply["References"])

    assert f"Guidance version: {web['index_version']}" in body


def test_unanswerable_question_says_so_honestly(stack: Stack) -> None:
    reply = stack.chat(QUESTIONS["unanswerable"][0])
    assert not any(m["answered"] for m in reply["messages"])
    assert all(m["source_url"] is None for m in reply["messages"])
    assert reply["messages"], "an honest 'I don't know' is still a reply"


def test_greeting_is_not_an_answer(stack: Stack) -> None:
    reply = stack.chat("hello there")
    assert reply["messages"] and not any(m["answered"] for m in reply["messages"])


def test_session_id_is_kept_and_new_sessions_get_one(stack: Stack) -> None:
    assert stack.chat("hi", session_id="kept-session-1")["session_id"] == "kept-session-1"
    first, second = stack.chat("hi")["session_id"], stack.chat("hi")["session_id"]
    assert first and second and first != second


@pytest.mark.parametrize(
    ("kwargs", "status", "words"),
    [
        ({"json": {"text": ""}}, 422, "empty"),
        ({"json": {"text": "   \n"}}, 422, "empty"),
        ({"json": {"session_id": "x"}}, 422, "text"),
        ({"json": {"text": "a" * 5000}}, 413, "characters"),
        ({"json": {"text": "a" * 100_000}}, 413, "larger"),
        ({"content": b"{nope", "headers": {"content-type": "application/json"}}, 422, "JSON"),
        ({"json": {"text": 42}}, 422, "text"),
    ],
)
def test_bad_chat_input_gets_a_json_error(stack: Stack, kwargs: dict, status: int, words: str) -> None:
    response = httpx.post(stack.gateway + "/api/chat", timeout=30, **kwargs)
    assert response.status_code == status
    assert words.lower() in response.json()["error"].lower()


def test_every_message_carries_its_kind(stack: Stack) -> None:
    (hello,) = stack.chat("hello there")["messages"]
    assert hello["kind"] == "text" and hello["choices"] == [] and hello["feedback"] is None
    answer = answered(stack.chat(THREE[1]["question"]))
    assert answer["kind"] == "answer"


def test_unanswered_questions_are_recorded_on_every_channel(stack: Stack) -> None:
    key = stack.env["PRIVACY_KEY"]
    store = ChannelStore(stack.env["DATABASE_URL"], migrate=False, privacy_key=key)
    web_question, sms_question, mail_question = QUESTIONS["unanswerable"][1:4]
    session = "recorded-" + uuid.uuid4().hex
    assert not any(m["answered"] for m in stack.chat(web_question, session_id=session)["messages"])
    stack.chat("hello there", session_id=session)  # a greeting is not recorded
    phone = "+1555" + str(uuid.uuid4().int)[:7]
    assert stack.sms(sms_question, sid="SM" + uuid.uuid4().hex, sender=phone).status_code == 200
    sender = f"recorded-{uuid.uuid4().hex[:8]}@example.org"
    assert stack.sink.reply_to(send_mail(stack.smtp_port, mail_question + "\n", "A question", sender=sender))

    for channel, conversation, question in [
        ("web", f"web:{session}", web_question),
        ("sms", pseudonym(key, "sms", phone), sms_question),
        ("email", pseudonym(key, "email", sender), mail_question),
    ]:
        rows = store.recent_events(conversation=store.conversation_key(conversation))  # stored hashed
        assert [(r["channel"], r["question"], r["kind"]) for r in rows] == [(channel, question, "answer")], rows
        assert rows[0]["index_version"] and rows[0]["helpful"] is None


def test_forged_or_missing_sms_signature_is_refused(stack: Stack) -> None:
    forged = stack.sms("How do I appeal?", sid="SM" + uuid.uuid4().hex, sign=False)
    assert forged.status_code == 403
    unsigned = httpx.post(stack.gateway + "/sms/twilio", data={"From": "+1555", "Body": "hi", "MessageSid": "SMx"})
    assert unsigned.status_code == 403


def test_sms_signed_for_another_url_is_refused(stack: Stack) -> None:
    from twilio.request_validator import RequestValidator

    params = {"From": "+15550104477", "Body": "hi", "MessageSid": "SM" + uuid.uuid4().hex}
    signature = RequestValidator(stack.twilio_token).compute_signature("https://elsewhere.example/sms", params)
    response = httpx.post(stack.gateway + "/sms/twilio", data=params, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403


def test_repeated_message_sid_gets_the_same_reply(stack: Stack) -> None:
    sid = "SM" + uuid.uuid4().hex
    first = stack.sms(THREE[1]["question"], sid=sid)
    second = stack.sms("a different body Twilio would never send with the same sid", sid=sid)
    assert first.status_code == second.status_code == 200
    assert first.text == second.text


def test_sync_api_refuses_missing_or_wrong_token(stack: Stack) -> None:
    assert httpx.post(stack.gateway + "/api/sync", json={}).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert httpx.post(stack.gateway + "/api/sync", json={}, headers=wrong).status_code == 401
    assert httpx.get(stack.gateway + "/api/sync/anything", headers=wrong).status_code == 401


def test_sync_api_refuses_urls_outside_allowed_domains(stack: Stack) -> None:
    auth = {"Authorization": f"Bearer {stack.sync_token}"}
    response = httpx.post(stack.gateway + "/api/sync", json={"urls": ["http://169.254.169.254/latest"]}, headers=auth)
    assert response.status_code == 422
    assert "ALLOWED_DOMAINS" in response.json()["error"]


def test_mail_with_no_text_part_gets_a_polite_reply(stack: Stack) -> None:
    message_id = send_mail(stack.smtp_port, None, "")
    reply = stack.sink.reply_to(message_id)
    assert reply is not None
    assert "couldn't find a question" in reply.get_body(preferencelist=("plain",)).get_content()


def test_html_only_mail_is_answered_from_its_text(stack: Stack) -> None:
    case = THREE[2]
    html = f"<html><body><p>{case['question']}</p><script>alert(1)</script></body></html>"
    reply = stack.sink.reply_to(send_mail(stack.smtp_port, None, "Help", html=html))
    assert reply is not None
    assert stack.site + case["path"] in reply.get_body(preferencelist=("plain",)).get_content()


def test_markup_in_an_sms_stays_text_in_well_formed_twiml(stack: Stack) -> None:
    case = THREE[0]
    body = f"<script>alert(1)</script><b>{case['question']}</b> ]]> &amp;"
    response = stack.sms(body, sid="SM" + uuid.uuid4().hex, sender="+15550103388")
    assert response.status_code == 200
    root = ElementTree.fromstring(response.text)  # well-formed: nothing the customer sent broke out of the XML
    assert root.tag == "Response" and {child.tag for child in root} <= {"Message"}
    assert not root.findall(".//script") and not root.findall(".//b")
    text = " ".join(m.text or "" for m in root.iter("Message"))
    assert stack.site + case["path"] in text and "<script>" not in text  # answered; the markup is not echoed


def test_auto_replies_and_own_mail_are_not_answered(stack: Stack) -> None:
    auto = send_mail(
        stack.smtp_port, "I am out of the office.", "Out of office", headers={"Auto-Submitted": "auto-replied"}
    )
    own = send_mail(stack.smtp_port, "How do I appeal?", "Loop", sender=EMAIL_FROM)
    assert stack.sink.reply_to(auto, timeout=8) is None
    assert stack.sink.reply_to(own, timeout=2) is None
    skipped = list((stack.data_dir / "mail" / "skipped").glob("*.json"))
    assert len(skipped) >= 2


def test_odd_tokens_and_chunked_bodies_get_clean_errors(stack: Stack) -> None:
    odd = {"Authorization": "Bearer café".encode()}
    assert httpx.post(stack.gateway + "/api/sync", json={}, headers=odd).status_code == 401

    def chunks():  # no Content-Length: the gateway must count
        for _ in range(40):
            yield b'{"text": "' + b"a" * 4000
        yield b'"}'

    response = httpx.post(stack.gateway + "/api/chat", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413 and "larger than" in response.json()["error"]
