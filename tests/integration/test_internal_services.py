"""Rasa and the action server answer only the gateway's shared secrets, on whatever loopback BIND_HOST says.

One product of this module's own listens on 127.0.0.2 (Linux routes all of 127/8 to lo), with RASA_URL and
ACTIONS_URL pointing there, so nothing that still assumed 127.0.0.1 can pass.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from bench.stack import Stack, running_stack
from channels.rasa_client import RasaClient, RasaUnavailable
from tests.conftest import loopback_only_env
from tests.integration.conftest import QUESTIONS, served_site_copy

pytestmark = pytest.mark.integration
HOST = "127.0.0.2"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with (
        served_site_copy(tmp_path_factory.mktemp("site")) as (site_url, site_root),
        running_stack(
            site_url, site_root, tmp_path_factory.mktemp("data"), wrap_env=loopback_only_env, bind_host=HOST
        ) as running,
    ):
        yield running


def rasa_webhook(stack: Stack) -> str:
    return f"{stack.env['RASA_URL']}/webhooks/rest/webhook"


def test_the_stack_on_another_loopback_address_answers_end_to_end(stack: Stack) -> None:
    assert stack.gateway.startswith(f"http://{HOST}:") and stack.env["RASA_URL"].startswith(f"http://{HOST}:")
    health = httpx.get(stack.gateway + "/healthz", timeout=10).json()
    assert health["checks"] == {"rasa": True, "action_server": True, "index": True}
    case = QUESTIONS["questions"][1]
    messages = stack.chat(case["question"])["messages"]
    hits = [m for m in messages if m["answered"]]
    assert hits and hits[0]["source_url"] == stack.site + case["path"], messages
    # Through Rasa and the action server (both checking their tokens), not the gateway's degraded fallback.
    assert not any(m.get("degraded") for m in messages), messages


@pytest.mark.parametrize(
    "auth",
    [{}, {"headers": {"Authorization": "Bearer wrong-token"}}, {"params": {"token": "wrong-token"}}],
    ids=["no token", "wrong bearer", "wrong query token"],
)
def test_rasa_refuses_a_message_without_its_token(stack: Stack, auth: dict) -> None:
    body = {"sender": "+15550104477", "message": "hello"}
    response = httpx.post(rasa_webhook(stack), json=body, timeout=30, **auth)
    assert response.status_code == 401, response.text
    assert "RASA_TOKEN" in response.text


def test_rasa_answers_a_message_with_its_token(stack: Stack) -> None:
    headers = {"Authorization": f"Bearer {stack.env['RASA_TOKEN']}"}
    response = httpx.post(
        rasa_webhook(stack), json={"sender": "internal-test", "message": "hello"}, headers=headers, timeout=60
    )
    assert response.status_code == 200, response.text
    assert response.json() and all("recipient_id" in m for m in response.json())


def test_the_gateways_client_sends_the_token(stack: Stack) -> None:
    right = RasaClient(stack.env["RASA_URL"], token=stack.env["RASA_TOKEN"])
    wrong = RasaClient(stack.env["RASA_URL"], token="wrong-token")
    try:
        replies = right.send_sync("internal-client", "hello")
        assert replies and all("recipient_id" in m for m in replies)
        with pytest.raises(RasaUnavailable, match="RASA_TOKEN"):
            wrong.send_sync("internal-client", "hello")
    finally:  # each keeps a pooled connection for the email thread's later calls
        right.close_sync()
        wrong.close_sync()


def test_the_action_server_refuses_calls_without_its_token(stack: Stack) -> None:
    actions = stack.env["ACTIONS_URL"]
    call = {"next_action": "action_answer_question", "sender_id": "x", "tracker": {}, "domain": {}}
    for params in ({}, {"token": "wrong-token"}):
        response = httpx.post(f"{actions}/webhook", json=call, params=params, timeout=30)
        assert response.status_code == 401, response.text
        assert "ACTIONS_TOKEN" in response.text
    assert httpx.get(f"{actions}/actions", timeout=10).status_code == 401
    listed = httpx.get(f"{actions}/actions", params={"token": stack.env["ACTIONS_TOKEN"]}, timeout=10)
    assert listed.status_code == 200 and {"name": "action_answer_question"} in listed.json()
    assert httpx.get(f"{actions}/health", timeout=10).status_code == 200, "health stays open for the probes"
