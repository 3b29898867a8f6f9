"""Degraded mode and slow answers, against the real product: its processes are killed for real.

The action server is killed (its whole process group, as a crash would), then the Rasa server: web chat, SMS and
email go on answering from the index with `"degraded": true` and the same source as Rasa's answer, and the
launcher starts each dead process again, after which answers come from Rasa again. An action made to sleep past
ANSWER_TIMEOUT (the action server's test-only ACTIONS_TEST_DELAY_SECONDS, for messages with a marker word) gets
the "passed on" reply, and the question is recorded for the review queue with reason `timeout`.
"""

from __future__ import annotations

import os
import re
import signal
import time
import uuid
from collections.abc import Iterator
from html import unescape
from typing import Any

import pytest

from bench.stack import running_stack
from channels.staff.passwords import hash_password
from channels.staff.store import StaffStore
from channels.store import ChannelStore
from tests.conftest import loopback_only_env
from tests.integration.conftest import QUESTIONS, Stack, send_mail, served_site_copy
from tests.integration.staff_support import PASSWORD, signed_in_to

pytestmark = pytest.mark.integration
QUESTION = QUESTIONS["questions"][0]  # "How long do I have to ask for a fair hearing?" (appeals page)
SLOW = "zzslow"  # the marker word the action server sleeps on (ACTIONS_TEST_DELAY_MARKER)
ANSWER_TIMEOUT = 20.0
PASSED_ON = "passed your question on"  # the notice for an answer later than ANSWER_TIMEOUT
EDITOR = "editor@agency.example"
STARTED = re.compile(r"(\w+) started \(pid=(\d+)\)")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    def env(base: dict[str, str]) -> dict[str, str]:
        return loopback_only_env(
            {
                **base,
                "RASA_RETRY_SECONDS": "1",
                "RASA_TIMEOUT": "30",  # longer than ANSWER_TIMEOUT: the slow action is not rescued by degraded mode
                "ANSWER_TIMEOUT": str(ANSWER_TIMEOUT),
                "ACTIONS_TEST_DELAY_SECONDS": str(ANSWER_TIMEOUT + 6),
                "ACTIONS_TEST_DELAY_MARKER": SLOW,
                "RATE_LIMIT_PER_CLIENT": "0",
                "RATE_LIMIT_PER_SESSION": "0",
            }
        )

    with (
        served_site_copy(tmp_path_factory.mktemp("degraded-site")) as (site_url, site_root),
        running_stack(
            site_url, site_root, tmp_path_factory.mktemp("degraded-data"), wait=1800, wrap_env=env
        ) as running,
    ):
        yield running


def pid_of(stack: Stack, name: str) -> int:
    """The newest process group the launcher started for Procfile entry `name`."""
    pids = [int(pid) for who, pid in STARTED.findall((stack.data_dir / "launcher.log").read_text()) if who == name]
    assert pids, f"the launcher never started {name}"
    return pids[-1]


def kill(stack: Stack, name: str) -> int:
    """Kill a product process and everything it started, as a crash would (SIGKILL to its process group)."""
    pid = pid_of(stack, name)
    os.killpg(pid, signal.SIGKILL)
    return pid


def answered(reply: dict[str, Any]) -> dict[str, Any]:
    hits: list[dict[str, Any]] = [m for m in reply["messages"] if m["answered"]]
    assert hits, reply
    return hits[0]


def sms_text(stack: Stack, body: str) -> str:
    response = stack.sms(body, sid="SM" + uuid.uuid4().hex, sender="+1555" + str(uuid.uuid4().int)[:7])
    assert response.status_code == 200, response.text
    return " ".join(unescape(m) for m in re.findall(r"<Message>(.*?)</Message>", response.text, re.S))


def degraded_answer(stack: Stack, question: str, session: str, name: str, timeout: float = 180) -> dict[str, Any]:
    """The degraded answer to `question` while `name` is dead. The first one may come after the search model has
    loaded in the gateway; on a busy machine that can take longer than ANSWER_TIMEOUT, and then the customer is
    told the question was passed on (also a reply, not a dropped message), so it is asked again. If the launcher
    has restarted `name` meanwhile (Rasa answers again), it is killed again."""
    deadline = time.monotonic() + timeout
    while True:
        reply = stack.chat(question, session_id=session)
        assert reply["messages"], reply
        if not any(m["degraded"] or PASSED_ON in m["text"] for m in reply["messages"]):
            kill(stack, name)  # back already: kill it again
            time.sleep(1)
            continue
        assert all(m["degraded"] or PASSED_ON in m["text"] for m in reply["messages"]), reply
        if not any(PASSED_ON in m["text"] for m in reply["messages"]) or time.monotonic() > deadline:
            return answered(reply)
        time.sleep(1)


def until_rasa_answers(stack: Stack, timeout: float = 300) -> dict[str, Any]:
    """Ask until the answer comes from Rasa again (the launcher restarted what died); that answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = stack.chat(QUESTION["question"])
        if not any(m["degraded"] or PASSED_ON in m["text"] for m in reply["messages"]):
            return reply
        assert reply["messages"]  # meanwhile, every message is still answered
        time.sleep(1)
    raise AssertionError(f"Rasa did not answer again within {timeout} s:\n" + launcher_tail(stack))


def launcher_tail(stack: Stack) -> str:
    return (stack.data_dir / "launcher.log").read_text()[-4000:]


@pytest.fixture(scope="module")
def normal(stack: Stack) -> dict[str, Any]:
    """Rasa's own answer to QUESTION, before anything is killed (the first may be slow: the action server loads
    its model)."""
    message = answered(until_rasa_answers(stack))
    assert message["degraded"] is False and message["source_url"].startswith(stack.site)
    return message


def test_with_the_action_server_killed_answers_come_from_the_index(stack: Stack, normal: dict[str, Any]) -> None:
    before = pid_of(stack, "actions")
    kill(stack, "actions")
    message = degraded_answer(stack, QUESTION["question"], f"deg-{uuid.uuid4().hex}", "actions")
    assert message["degraded"] is True
    assert message["source_url"] == normal["source_url"] and message["index_version"] == normal["index_version"]
    assert message["text"] == normal["text"]  # the same answer, made by the same code
    assert normal["source_url"] in sms_text(stack, QUESTION["question"])
    greeting = stack.chat("hello")["messages"]
    assert greeting and greeting[0]["degraded"] is True and greeting[0]["answered"] is False
    until_rasa_answers(stack)
    assert pid_of(stack, "actions") != before  # the launcher started it again


def test_with_rasa_killed_every_channel_answers_from_the_index(stack: Stack, normal: dict[str, Any]) -> None:
    before = pid_of(stack, "rasa")
    kill(stack, "rasa")
    session = f"deg-{uuid.uuid4().hex}"
    message = degraded_answer(stack, QUESTION["question"], session, "rasa")
    assert message["degraded"] is True and message["source_url"] == normal["source_url"]
    unknown = stack.chat(QUESTIONS["unanswerable"][1], session_id=session)["messages"]  # same answered rules
    assert unknown and not any(m["answered"] for m in unknown) and unknown[0]["degraded"] is True
    assert normal["source_url"] in sms_text(stack, QUESTION["question"])
    message_id = send_mail(stack.smtp_port, QUESTION["question"], "A question")
    mail = stack.sink.reply_to(message_id, timeout=120)
    assert mail is not None, launcher_tail(stack)
    body = mail.get_body(("plain",))
    assert body is not None and normal["source_url"] in body.get_content()
    assert_editor_preview_is_degraded(stack, normal["source_url"])
    back = until_rasa_answers(stack)
    assert answered(back)["source_url"] == normal["source_url"]
    assert pid_of(stack, "rasa") != before
    log = (stack.data_dir / "launcher.log").read_text()  # whole: the tail can be all email and request lines
    assert "degraded mode on" in log and "degraded mode off" in log


def assert_editor_preview_is_degraded(stack: Stack, source_url: str) -> None:
    """The editor's answer preview shows what customers get while Rasa is down: the degraded answer, flagged."""
    StaffStore(stack.env["DATABASE_URL"]).add_staff(EDITOR, "editor", hash_password(PASSWORD))
    with signed_in_to(stack.gateway, EDITOR) as editor:
        page = editor.get("/staff/editor/preview", params={"q": QUESTION["question"]})
    assert page.status_code == 200, page.text[:500]
    assert 'id="preview-degraded"' in page.text and "this is the degraded answer" in page.text
    assert f'href="{source_url}"' in page.text


def test_an_answer_slower_than_answer_timeout_is_passed_on_and_reviewed(stack: Stack) -> None:
    until_rasa_answers(stack)
    started = time.monotonic()
    question = f"{SLOW} how long do I have to ask for a fair hearing?"
    reply = stack.chat(question)
    waited = time.monotonic() - started
    (message,) = reply["messages"]
    assert message["answered"] is False and message["source_url"] is None and message["degraded"] is False
    assert PASSED_ON in message["text"]
    assert ANSWER_TIMEOUT - 0.5 <= waited < ANSWER_TIMEOUT + 15
    store = ChannelStore(stack.env["DATABASE_URL"], migrate=False, privacy_key=stack.env["PRIVACY_KEY"])
    events = [e for e in store.recent_events(channel="web") if e["question"] == question]
    assert [(e["kind"], e["reason"]) for e in events] == [("answer", "timeout")]
