"""The inbound journal (channels.store `inbound_messages`, channels/inbox.py) on a real SQLite file: a message is
written before it is answered, a repeat of its key gets the same reply, an orphaned one is taken over once,
raw text is kept only while a reply is owed.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from channels.inbox import StillAnswering, WebInbox
from channels.settings import Settings
from channels.store import ChannelStore

KEY = "test-privacy-key-0123456789"


def settings_for(tmp_path: Path, lease: float = 45.0) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'assistant.db'}",
        sync_webhook_token="x" * 20,
        twilio_auth_token="y" * 20,
        privacy_key=KEY,
        inbound_lease_seconds=lease,
        answer_timeout=lease / 2,  # the lease must outlast an answer
    )


@pytest.fixture
def store(tmp_path: Path) -> ChannelStore:
    return ChannelStore(f"sqlite:///{tmp_path / 'assistant.db'}", privacy_key=KEY)


def test_a_key_is_written_once_and_its_hash_is_stored_never_the_key(store: ChannelStore) -> None:
    key = store.inbound_key("email", "resident@example.org\n<abc@customer.example>")
    wrote, row = store.journal_inbound("email", key, ref="spool-1")
    again, same = store.journal_inbound("email", key, ref="spool-2")
    assert wrote and not again and same["id"] == row["id"] and same["ref"] == "spool-1"
    assert len(key) == 64 and "abc" not in key and row["state"] == "answering"
    other, _ = store.journal_inbound("web", key)  # the same key on another channel is another message
    assert other


def test_only_an_expired_lease_or_a_failure_lets_another_holder_take_a_message(store: ChannelStore) -> None:
    _, row = store.journal_inbound("web", store.inbound_key("web", "s\nk1"), text="how do I appeal?")
    assert not store.take_over_inbound(row["id"], lease=45)  # its holder is within the lease
    later = datetime.now(UTC) + timedelta(seconds=46)
    assert store.take_over_inbound(row["id"], lease=45, now=later)
    assert not store.take_over_inbound(row["id"], lease=45, now=later)  # taken once
    store.finish_inbound(row["id"], "failed")
    assert store.take_over_inbound(row["id"], lease=45)
    taken = store.inbound_message(row["id"])
    assert taken is not None and taken["state"] == "answering" and taken["attempts"] == 3


def test_answering_forgets_the_raw_text_and_keeps_the_reply_until_it_expires(store: ChannelStore) -> None:
    _, row = store.journal_inbound("web", store.inbound_key("web", "s\nk2"), text="my number is 555-0100")
    assert store.orphaned_inbound("web", lease=0, max_age=60, now=datetime.now(UTC) + timedelta(seconds=1))
    store.finish_inbound(row["id"], "answered", '{"session_id": "s", "messages": []}')
    done = store.inbound_message(row["id"])
    assert done is not None and done["text"] is None and done["reply"] and done["answered_at"] is not None
    assert store.orphaned_inbound("web", lease=0, max_age=60, now=datetime.now(UTC) + timedelta(seconds=1)) == []
    _, owed = store.journal_inbound("web", store.inbound_key("web", "s\nk3"), text="never answered")
    assert store.expire_inbound(max_age=10, now=datetime.now(UTC) + timedelta(seconds=11)) >= 2
    assert [(r["state"], r["text"], r["reply"]) for r in store.inbound("web")] == [
        ("answered", None, None),
        ("expired", None, None),
    ]
    assert owed["id"] != row["id"]


def test_a_web_repeat_gets_the_reply_made_and_an_orphan_is_answered_once(tmp_path: Path, store: ChannelStore) -> None:
    asked: list[tuple[str, str]] = []

    async def make_reply(session_id: str, text: str) -> dict[str, Any]:
        asked.append((session_id, text))
        return {"session_id": session_id, "messages": [{"text": f"answer to {text}"}]}

    async def scenario() -> None:
        inbox = WebInbox(settings_for(tmp_path, lease=1), store)
        first = await inbox.claim(None, "how do I appeal?", "key-00000001")
        assert first.reply is None and first.session_id.startswith("web-")
        await inbox.answered(first, await make_reply(first.session_id, "how do I appeal?"))
        repeat = await inbox.claim(None, "how do I appeal?", "key-00000001")
        assert repeat.reply == {"session_id": first.session_id, "messages": [{"text": "answer to how do I appeal?"}]}
        assert len(asked) == 1

        orphan = await inbox.claim("s-2", "what is a fair hearing?", "key-00000002")  # its gateway "dies" here
        assert await inbox.recover(make_reply) == 0  # within the lease: still its holder's
        await asyncio.sleep(1.1)
        assert await inbox.recover(make_reply) == 1
        assert await inbox.recover(make_reply) == 0
        assert asked[-1] == ("s-2", "what is a fair hearing?") and len(asked) == 2
        retry = await inbox.claim("s-2", "what is a fair hearing?", "key-00000002")
        assert retry.row_id == orphan.row_id and retry.reply is not None
        assert retry.reply["messages"][0]["text"] == "answer to what is a fair hearing?"

    asyncio.run(scenario())


def test_a_repeat_while_the_first_request_is_still_answering_is_told_to_try_again(
    tmp_path: Path, store: ChannelStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("channels.inbox.WAIT_FOR_HOLDER", 0.3)

    async def scenario() -> None:
        inbox = WebInbox(settings_for(tmp_path), store)
        await inbox.claim("s-3", "hello", "key-00000003")
        with pytest.raises(StillAnswering) as caught:
            await inbox.claim("s-3", "hello", "key-00000003")
        assert caught.value.retry_after >= 1

    asyncio.run(scenario())


def test_a_second_copy_of_one_email_is_skipped_and_answered_once(tmp_path: Path, store: ChannelStore) -> None:
    from email.message import EmailMessage

    from channels.email.listener import Answerer, Spool

    def copy(sender: str, message_id: str) -> bytes:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = sender, "assistant@agency.example", "hello"
        message["Message-ID"] = message_id
        message.set_content("")  # no question: the polite reply needs no Rasa
        return bytes(message)

    spool = Spool(tmp_path / "mail")
    spool.put(copy("resident@example.org", "<m1@customer.example>"), "resident@example.org")
    spool.put(copy("resident@example.org", "<m1@customer.example>"), "resident@example.org")  # sent again
    spool.put(copy("other@example.org", "<m1@customer.example>"), "other@example.org")  # its id, another sender
    answerer = Answerer(settings_for(tmp_path), spool, store)
    assert [answerer.process(msg_id) for msg_id in spool.waiting()] == [True, True, True]
    assert sorted(row["recipient"] for row in store.outbox()) == ["other@example.org", "resident@example.org"]
    skipped = list((tmp_path / "mail" / "skipped").glob("*.json"))
    assert len(skipped) == 1 and '"duplicate"' in skipped[0].read_text()
    assert [r["state"] for r in store.inbound("email")] == ["answered", "answered"]
    assert all(r["text"] is None and "m1" not in r["idem_key"] for r in store.inbound("email"))


def test_a_lease_shorter_than_an_answer_is_refused_at_start_up(tmp_path: Path) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="INBOUND_LEASE_SECONDS .* must be longer than ANSWER_TIMEOUT"):
        Settings(  # type: ignore[call-arg]
            _env_file=None,
            data_dir=tmp_path,
            sync_webhook_token="x" * 20,
            twilio_auth_token="y" * 20,
            privacy_key=KEY,
            inbound_lease_seconds=5,
        )
