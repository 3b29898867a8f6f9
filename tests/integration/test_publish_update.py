"""Publishing the sample site's updates: after one webhook sync, every channel gives the new answer.

These tests change the site, so they run on a product of their own (`own_stack`), never the shared `stack`.
"""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

from bench.stack import apply_updates
from tests.integration.conftest import QUESTIONS, Stack, send_mail
from tests.integration.test_channels import answered, sms_text

pytestmark = pytest.mark.integration


def test_every_channel_gives_the_new_answer_after_publish(own_stack: Stack) -> None:
    before = httpx.get(own_stack.gateway + "/healthz", timeout=10).json()["index_version"]
    apply_updates(own_stack.site_root)
    job = own_stack.sync()
    assert job["status"] == "succeeded", job
    after = job["index_version"]
    assert after != before
    report = job["report"]
    assert report["added"] and report["changed"] and report["deleted"]
    assert report["embedded"] < report["chunks"], "unchanged passages must not be embedded again"

    with_phrase = 0
    for case in QUESTIONS["after_update"]:
        web = answered(own_stack.chat(case["question"]))
        assert web["source_url"] == own_stack.site + case["path"], case["question"]
        assert web["index_version"] == after
        sms = sms_text(own_stack.sms(case["question"], sid="SM" + uuid.uuid4().hex))
        assert web["source_url"] in sms
        unnumbered = re.sub(r"\(\d+/\d+\)\s*", "", sms)  # a long answer comes as numbered texts: (1/3) …
        assert unnumbered.startswith(web["text"][:60])
        mail = own_stack.sink.reply_to(send_mail(own_stack.smtp_port, case["question"], "Update check"))
        assert mail is not None
        body = mail.get_body(preferencelist=("plain",)).get_content()
        assert web["source_url"] in body and after in body  # "Guidance version: …" (or its Spanish)
        if case.get("old_phrase"):
            assert case["old_phrase"] not in web["text"] + sms + body, "an old answer is still served"
        with_phrase += case["new_phrase"] in web["text"]
    # Which passage of the right page is quoted is retrieval quality (measured 3 of 6 in docs/benchmarks.md).
    assert with_phrase >= len(QUESTIONS["after_update"]) // 2

    removed = {own_stack.site + r["path"] for r in QUESTIONS["removed"]}
    assert removed <= set(report["deleted"])
    asked = next(c for c in QUESTIONS["questions"] if own_stack.site + c["path"] in removed)
    assert not {m["source_url"] for m in own_stack.chat(asked["question"])["messages"]} & removed
