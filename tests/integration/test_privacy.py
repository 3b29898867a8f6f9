"""Personal data through the real product: a web message, an SMS and an email that carry a phone number and an
email address are answered as usual, and afterwards the database, the mail spool and the logs hold neither
the number, nor the address, nor the raw message: only redacted text under keyed hashes."""

from __future__ import annotations

import json
import random
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from channels.privacy import mask_email, pseudonym
from channels.store import FINAL_STATES, ChannelStore, answer_events, messages, sms_messages, sms_opt_outs
from tests.integration.conftest import QUESTIONS, Stack, send_mail

pytestmark = pytest.mark.integration
ANSWERABLE = QUESTIONS["questions"][0]["question"]  # "How long do I have to ask for a fair hearing?"
UNANSWERABLE = QUESTIONS["unanswerable"][1]  # "How do I renew my driver's license?"


def fresh_number() -> tuple[str, str]:
    """A number no other test uses: as Twilio sends it (+1...) and as a customer types it (555-...)."""
    digits = f"555{random.randint(2000000, 9999999)}"
    return f"+1{digits}", f"{digits[:3]}-{digits[3:6]}-{digits[6:]}"


def stored_text(store: ChannelStore) -> str:
    """Every value in the channels' customer tables, as one string to search."""
    with store.engine.connect() as conn:
        return "\n".join(
            str(value)
            for table in (messages, answer_events, sms_messages, sms_opt_outs)
            for row in conn.execute(sa.select(table))
            for value in row
        )


def wait_for(check: object, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < end, "timed out"
        time.sleep(0.2)


def test_no_raw_number_address_or_body_is_kept_anywhere(stack: Stack) -> None:
    key = stack.env["PRIVACY_KEY"]
    store = ChannelStore(stack.env["DATABASE_URL"], migrate=False, privacy_key=key)
    tag = uuid.uuid4().hex[:10]
    web_phone, web_typed = fresh_number()
    sms_phone, sms_typed = fresh_number()
    web_email, sms_email, mail_email = (f"{who}.{tag}@example.net" for who in ("web", "sms", "mail"))
    mail_sender = f"resident.{tag}@example.org"

    # Web chat: an answerable question, then one the guidance cannot answer (an answer event).
    session = f"privacy-{tag}"
    web_body = f"{ANSWERABLE} My phone is {web_typed} and my email is {web_email}"
    assert any(m["answered"] for m in stack.chat(web_body, session_id=session)["messages"])
    web_unanswered = f"{UNANSWERABLE} Call me at {web_typed}"
    assert not any(m["answered"] for m in stack.chat(web_unanswered, session_id=session)["messages"])

    # SMS: from a real-looking number, with another number and an address in the body.
    sid = "SM" + uuid.uuid4().hex
    sms_body = f"{UNANSWERABLE} text me at {sms_typed} or email {sms_email}"
    reply = stack.sms(sms_body, sid=sid, sender=sms_phone)
    assert reply.status_code == 200 and "<Message>" in reply.text
    wait_for(lambda: (store.sms_message(sid) or {}).get("state") in FINAL_STATES)

    # Email: answered from the spool; the message is then deleted, not kept in done/.
    mail_body = f"{ANSWERABLE}\nYou can also reach me on {web_typed} or {mail_email}.\n"
    message_id = send_mail(stack.smtp_port, mail_body, "A question", sender=mail_sender)
    assert stack.sink.reply_to(message_id) is not None
    mail = stack.data_dir / "mail"
    wait_for(lambda: not any((mail / "inbox").glob("*")))

    # The answers are recorded: transcripts under hashes, with placeholders where the data was.
    web_rows = store.transcript(store.conversation_key(f"web:{session}"))
    assert [r["direction"] for r in web_rows][:2] == ["in", "out"] and web_rows[1]["answered"] is True
    assert web_rows[0]["text"] == f"{ANSWERABLE} My phone is [PHONE] and my email is [EMAIL]"
    assert web_rows[1]["source_url"] and web_rows[1]["chunk_digest"] and web_rows[1]["index_version"]
    sms_conversation = store.conversation_key(pseudonym(key, "sms", sms_phone))
    sms_rows = store.transcript(sms_conversation)
    assert sms_rows and sms_rows[0]["text"] == f"{UNANSWERABLE} text me at [PHONE] or email [EMAIL]"
    mail_rows = store.transcript(store.conversation_key(pseudonym(key, "email", mail_sender)))
    assert mail_rows and mail_rows[0]["text"] == f"{ANSWERABLE}\nYou can also reach me on [PHONE] or [EMAIL]."
    (sms_event,) = store.recent_events(conversation=sms_conversation)
    assert sms_event["question"] == sms_rows[0]["text"]
    web_events = store.recent_events(conversation=store.conversation_key(f"web:{session}"))
    assert [e["question"] for e in web_events] == [f"{UNANSWERABLE} Call me at [PHONE]"]
    row = store.sms_message(sid)
    assert row is not None and row["sender"] == store.number_key(sms_phone) and "[PHONE]" in row["body"]

    # ...and nothing raw is left: not in the tables, not in the spool, not in any process's log.
    raw = [web_typed, sms_typed, web_email, sms_email, mail_email, mail_sender, sms_phone, sms_phone[2:]]
    kept = stored_text(store)
    assert not [value for value in raw if value in kept]
    assert not list(mail.rglob("*.eml")) or all(p.parent.name == "failed" for p in mail.rglob("*.eml"))
    assert not [p for p in (mail / "done").glob("*.eml")], "an answered message was kept"
    notes = "".join(p.read_text() for p in (mail / "done").glob("*.json"))
    assert mail_sender not in notes and "fair hearing" not in notes
    tos = [json.loads(p.read_text()).get("to") for p in (mail / "done").glob("*.json")]
    assert mask_email(key, mail_sender) in tos  # the limiter's count survives a restart without the address
    logs = "".join(p.read_text(errors="replace") for p in Path(stack.data_dir).rglob("*.log"))
    assert logs, "the product's log was not found"
    assert not [value for value in raw if value in logs], "a log line carries personal data"
