"""Observability on the real stack: one request id through the gateway, Rasa and the action server's JSON logs,
with no question text or number in them; /metrics after a chat; `assistant status` naming every process."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bench.stack import ROOT
from tests.integration.conftest import QUESTIONS, Stack

pytestmark = pytest.mark.integration
LINE = re.compile(r"^\S+ (?P<process>[\w-]+)(?:\.\d+)?\s*\| (?P<line>.*)$")  # "19:06:16 gateway | ..." (honcho)


def process_lines(stack: Stack) -> list[tuple[str, str]]:
    """(process, line) for every line the product's processes wrote to the launcher's log."""
    text = (stack.data_dir / "launcher.log").read_text(errors="replace")
    return [(m["process"], m["line"]) for m in map(LINE.match, text.splitlines()) if m]


def json_lines(stack: Stack, request_id: str) -> dict[str, list[dict[str, Any]]]:
    """The JSON log lines carrying `request_id`, by process."""
    found: dict[str, list[dict[str, Any]]] = {}
    for process, line in process_lines(stack):
        if request_id in line and line.startswith("{"):
            found.setdefault(process, []).append(json.loads(line))
    return found


def metrics(stack: Stack) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = httpx.get(stack.gateway + "/metrics", timeout=30)
    assert response.status_code == 200, response.text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def web_count(found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str) -> float:
    return found.get((name, (("channel", "web"),)), 0.0)


def test_one_request_id_follows_a_message_and_no_personal_data_is_logged(stack: Stack) -> None:
    question = QUESTIONS["questions"][0]["question"]
    before = metrics(stack)
    for _attempt in range(3):  # on a loaded machine Rasa may be slower than the gateway's timeout: ask again
        request_id = f"trace-{uuid.uuid4().hex[:16]}"
        response = httpx.post(
            stack.gateway + "/api/chat", json={"text": question}, headers={"X-Request-ID": request_id}, timeout=60
        )
        assert response.status_code == 200, response.text
        assert response.headers["x-request-id"] == request_id
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            found = json_lines(stack, request_id)
            if {"gateway", "rasa", "actions"} <= found.keys():
                break
            time.sleep(0.3)
        if {"gateway", "rasa", "actions"} <= found.keys():
            break
    session_id = response.json()["session_id"]
    assert {"gateway", "rasa", "actions"} <= found.keys(), found
    [gateway] = [line for line in found["gateway"] if line["event"] == "request"]
    assert (gateway["route"], gateway["status"], gateway["channel"]) == ("/api/chat", 200, "web")
    assert gateway["process"] == "gateway" and gateway["request_id"] == request_id
    assert any(line["event"] == "message received" for line in found["rasa"])
    [made] = [line for line in found["actions"] if line["event"] == "answer made"]
    assert made["process"] == "actions" and made["kind"] in ("answer", "clarify")

    sms = stack.sms("What hours can I call to talk to a real person?", f"SM{uuid.uuid4().hex}", "+15550108642")
    assert sms.status_code == 200
    logged = "\n".join(line for _, line in process_lines(stack))
    assert question not in logged
    assert session_id not in logged
    assert "5550108642" not in logged and "talk to a real person" not in logged
    for process in ("gateway", "actions", "worker"):  # every line of ours is one JSON object
        ours = [line for name, line in process_lines(stack) if name == process and line.strip()]
        assert ours, process
        bad = [line for line in ours if not _is_json_object(line)]
        assert not bad, (process, bad[:3])

    after = metrics(stack)
    assert web_count(after, "assistant_reply_seconds_count") >= web_count(before, "assistant_reply_seconds_count") + 1
    assert web_count(after, "assistant_turns_total") >= web_count(before, "assistant_turns_total") + 1
    assert after[("assistant_turns_total", (("channel", "sms"),))] >= 1
    age = after[("assistant_index_age_seconds", ())]
    assert 0 <= age < 24 * 3600  # the stack published its index minutes ago
    assert after[("assistant_queue_depth", (("queue", "sync_jobs"),))] >= 0
    assert ("assistant_last_sync_duration_seconds", (("kind", "full"),)) in after or (
        "assistant_last_sync_duration_seconds",
        (("kind", "incremental"),),
    ) in after


def _is_json_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def test_status_shows_every_process_the_worker_included(stack: Stack) -> None:
    env = stack.env | {"NO_COLOR": "1", "COLUMNS": "200"}
    result = subprocess.run(
        [sys.executable, "-m", "channels.cli", "status"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {line[:14].strip(): line[14:] for line in result.stdout.splitlines()}
    for process in ("gateway", "rasa", "action server", "email", "worker"):
        assert rows[process].split()[0] == "up", result.stdout
    assert "heartbeat" in rows["worker"] and "pid" in rows["worker"]
    assert "not used" in rows["sample site"]  # the stack crawls a site of the tests' own
