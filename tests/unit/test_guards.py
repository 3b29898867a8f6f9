"""channels/guards: the client address behind trusted proxies, and the rate limits on the public routes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from ipaddress import ip_network
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from pydantic import ValidationError
from twilio.request_validator import RequestValidator

from channels.app import create_app
from channels.guards.address import resolve_client
from channels.guards.limits import Limiter
from channels.settings import Settings, describe_error, get_settings

PROXIES = [ip_network("10.0.0.0/8"), ip_network("192.0.2.10"), ip_network("2001:db8:ffff::/48")]
SECRET = "test-privacy-key-0123456789"
REDIS_URL = "redis://127.0.0.1:6379/0"


def base_settings(**values: Any) -> Settings:
    return Settings(_env_file=None, sync_webhook_token="x", twilio_auth_token="y", privacy_key=SECRET, **values)


# --- the client address ---------------------------------------------------------------------------------------


def test_x_forwarded_for_from_an_untrusted_peer_is_ignored() -> None:
    assert resolve_client("203.0.113.9", ["198.51.100.1"], PROXIES) == "203.0.113.9"
    assert resolve_client("203.0.113.9", ["198.51.100.1"], []) == "203.0.113.9"
    assert resolve_client("127.0.0.1", ["198.51.100.1"], []) == "127.0.0.1"  # loopback is not trusted by default


def test_behind_a_trusted_proxy_the_rightmost_untrusted_hop_is_the_client() -> None:
    # The client forged the first hop; the proxy appended the address it really saw.
    assert resolve_client("10.0.0.5", ["6.6.6.6, 198.51.100.7"], PROXIES) == "198.51.100.7"
    # Two proxies of ours in a row (the outer one's address is in the header), values split over two headers.
    assert resolve_client("10.0.0.5", ["6.6.6.6, 198.51.100.7", "192.0.2.10"], PROXIES) == "198.51.100.7"
    assert resolve_client("192.0.2.10", ["[2001:db8::5]:443"], PROXIES) == "2001:db8::5"
    assert resolve_client("10.1.2.3", ["198.51.100.7:51234"], PROXIES) == "198.51.100.7"


def test_a_trusted_proxy_without_the_header_or_with_garbage_is_its_own_client() -> None:
    assert resolve_client("10.0.0.5", [], PROXIES) == "10.0.0.5"
    assert resolve_client("10.0.0.5", [""], PROXIES) == "10.0.0.5"
    # A hop that is not an address stops the walk: nothing to its left can be believed.
    assert resolve_client("10.0.0.5", ["198.51.100.7, unknown"], PROXIES) == "10.0.0.5"
    assert resolve_client("10.0.0.5", ["198.51.100.7, unknown, 10.0.0.9"], PROXIES) == "10.0.0.9"
    # Every hop is a trusted proxy: the leftmost one is as far as we can see.
    assert resolve_client("10.0.0.5", ["10.0.0.7, 10.0.0.8"], PROXIES) == "10.0.0.7"


def test_ipv4_mapped_peers_and_ipv6_proxies_match_their_networks() -> None:
    assert resolve_client("::ffff:10.0.0.5", ["198.51.100.7"], PROXIES) == "198.51.100.7"
    assert resolve_client("2001:db8:ffff::1", ["2001:db8:1::9"], PROXIES) == "2001:db8:1::9"
    assert resolve_client("2001:db8:eeee::1", ["2001:db8:1::9"], PROXIES) == "2001:db8:eeee::1"


def test_trusted_proxies_and_the_storage_are_validated_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = base_settings(trusted_proxies=" 10.0.0.0/8, 192.0.2.10 ,2001:db8::/32")
    assert [str(n) for n in settings.trusted_proxies] == ["10.0.0.0/8", "192.0.2.10/32", "2001:db8::/32"]
    assert base_settings().trusted_proxies == [] and base_settings(redis_url="").limits_storage == "memory://"
    assert base_settings(rate_limit_storage=REDIS_URL).limits_storage == REDIS_URL
    assert base_settings(redis_url="redis://10.0.0.9:6379/1").limits_storage == "redis://10.0.0.9:6379/1"
    assert base_settings(redis_url=REDIS_URL, rate_limit_storage="memory://").limits_storage == "memory://"
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.0/8, proxy.internal")
    monkeypatch.setenv("RATE_LIMIT_STORAGE", "memcached://127.0.0.1:11211")
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None, sync_webhook_token="x", twilio_auth_token="y", privacy_key=SECRET)
    message = describe_error(caught.value)
    assert "TRUSTED_PROXIES" in message and "'proxy.internal' is not an IP address or CIDR" in message
    assert "RATE_LIMIT_STORAGE" in message and "redis://127.0.0.1:6379/0" in message


# --- the limiter ----------------------------------------------------------------------------------------------


def test_the_limiter_refuses_past_the_limit_and_says_how_long_to_wait() -> None:
    async def run() -> None:
        limiter = Limiter("memory://", SECRET)
        assert [await limiter.hit("t", "a", 3) for _ in range(3)] == [None, None, None]
        wait = await limiter.hit("t", "a", 3)
        assert wait is not None and 1 <= wait <= 60
        assert await limiter.over("t", "a", 3) is not None  # asking does not count
        assert await limiter.hit("t", "b", 3) is None  # another identifier has its own budget
        assert await limiter.hit("other", "a", 3) is None  # and so has another limit
        assert all([await limiter.hit("t", "a", 0) is None for _ in range(10)])  # 0: off

    asyncio.run(run())


def _redis_up() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.mark.skipif(not _redis_up(), reason="Redis is not running on 127.0.0.1:6379")
def test_limiters_on_one_redis_share_their_counts_and_store_no_identifier() -> None:
    client = f"198.51.100.{uuid.uuid4().int % 250}-{uuid.uuid4().hex}"

    async def run() -> tuple[list[int | None], list[str]]:
        one, two = Limiter(REDIS_URL, SECRET), Limiter(REDIS_URL, SECRET)  # two gateway replicas
        results = [await (one if n % 2 else two).hit("unit-shared", client, 4) for n in range(5)]
        keys = [str(k) for k in redis.Redis.from_url(REDIS_URL).keys("assistant-limits*unit-shared*")]
        await one.aclose()
        await two.aclose()
        return results, keys

    results, keys = asyncio.run(run())
    assert results[:4] == [None] * 4 and results[4] is not None and 1 <= results[4] <= 60
    assert keys and not any(client in key for key in keys)


def test_a_storage_that_cannot_be_reached_lets_requests_through(caplog: pytest.LogCaptureFixture) -> None:
    async def run() -> list[int | None]:
        limiter = Limiter("redis://127.0.0.1:1/0", SECRET)  # nothing listens on port 1
        results = [await limiter.hit("t", "a", 1) for _ in range(3)]
        await limiter.aclose()
        return results

    assert asyncio.run(run()) == [None, None, None]
    assert sum("RATE_LIMIT_STORAGE" in r.getMessage() for r in caplog.records) == 1  # logged once, not per request


# --- the limits on the gateway's routes -----------------------------------------------------------------------


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name, value in {
        "DATA_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'assistant.db'}",
        "SYNC_WEBHOOK_TOKEN": "test-sync-token",
        "TWILIO_AUTH_TOKEN": "test-twilio-token",
        "PRIVACY_KEY": SECRET,
        "EMAIL_INBOUND_TOKEN": "inbound-token",
        "RATE_LIMIT_PER_CLIENT": "3",
        "RATE_LIMIT_PER_SESSION": "2",
        "RATE_LIMIT_STORAGE": "memory://",
        "TRUSTED_PROXIES": "127.0.0.1",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def send(requests: list[tuple[str, str, dict[str, Any]]]) -> list[httpx.Response]:
    """Send the requests in order to one gateway app (its limiter lives as long as the app)."""

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=create_app(), client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            return [await client.request(method, path, **kwargs) for method, path, kwargs in requests]

    return asyncio.run(run())


def chat(session: str | None, forwarded: str = "198.51.100.1") -> tuple[str, str, dict[str, Any]]:
    body = {"text": "   "} | ({"session_id": session} if session else {})  # empty text: 422 without asking Rasa
    return "POST", "/api/chat", {"json": body, "headers": {"X-Forwarded-For": forwarded}}


def test_one_conversation_meets_429_past_the_per_session_limit_with_when_to_try_again(env: pytest.MonkeyPatch) -> None:
    env.setenv("RATE_LIMIT_PER_CLIENT", "0")
    first, second, third, other = send([chat("s-1"), chat("s-1"), chat("s-1"), chat("s-2")])
    assert first.status_code == second.status_code == 422  # the route read the body the limiter handed on
    assert "text is empty" in first.json()["error"]
    assert third.status_code == 429
    wait = int(third.headers["retry-after"])
    assert 1 <= wait <= 60 and third.json()["error"].endswith(f"try again in {wait} s")
    assert "in one conversation" in third.json()["error"]
    assert other.status_code == 422  # another conversation is not limited


def test_the_per_client_limit_counts_the_address_a_trusted_proxy_forwarded(env: pytest.MonkeyPatch) -> None:
    env.setenv("RATE_LIMIT_PER_SESSION", "0")
    replies = send([chat(None, "198.51.100.1") for _ in range(4)] + [chat(None, "198.51.100.2")])
    assert [r.status_code for r in replies] == [422, 422, 422, 429, 422]
    assert "from one network address" in replies[3].json()["error"] and replies[3].headers["retry-after"]


def test_x_forwarded_for_gives_no_new_budget_when_the_peer_is_not_trusted(env: pytest.MonkeyPatch) -> None:
    env.setenv("TRUSTED_PROXIES", "")
    env.setenv("RATE_LIMIT_PER_SESSION", "0")
    replies = send([chat(None, f"198.51.100.{n}") for n in range(4)])
    assert [r.status_code for r in replies] == [422, 422, 422, 429]


def test_a_limit_of_zero_is_off(env: pytest.MonkeyPatch) -> None:
    env.setenv("RATE_LIMIT_PER_CLIENT", "0")
    env.setenv("RATE_LIMIT_PER_SESSION", "0")
    assert {r.status_code for r in send([chat("s-1") for _ in range(8)])} == {422}


def test_staff_sign_in_is_limited_per_client(env: pytest.MonkeyPatch) -> None:
    form: dict[str, Any] = {"email": "someone@agency.example", "password": "guess", "csrf_token": "x"}
    replies = send([("POST", "/staff/login", {"data": form}) for _ in range(4)])
    assert [r.status_code for r in replies[:3]] == [403] * 3  # the form's own refusal (no sign-in cookie)
    refusal = replies[3]
    assert refusal.status_code == 429 and refusal.headers["content-type"].startswith("text/html")
    wait = refusal.headers["retry-after"]
    assert f"Please wait {wait} seconds" in refusal.text and 'href="/staff/login"' in refusal.text
    assert "script-src" in refusal.headers["content-security-policy"]  # the staff pages' headers, on the refusal too


def test_provider_webhooks_count_only_refused_requests_per_address(env: pytest.MonkeyPatch) -> None:
    wrong: dict[str, Any] = {
        "content": b"From: a@example.org\r\n\r\nhi",
        "headers": {"Content-Type": "message/rfc822", "Authorization": "Bearer wrong"},
    }
    forged_sms: dict[str, Any] = {"data": {"From": "+15550100001", "Body": "hi", "MessageSid": "SM1"}}
    replies = send(
        [("POST", "/email/inbound", wrong) for _ in range(3)]
        + [("POST", "/email/inbound", wrong)]
        + [("POST", "/sms/twilio", forged_sms) for _ in range(4)]
    )
    assert [r.status_code for r in replies[:3]] == [401] * 3
    assert replies[3].status_code == 429 and replies[3].headers["retry-after"]
    assert [r.status_code for r in replies[4:7]] == [403] * 3
    sms = replies[7]
    assert sms.status_code == 429 and sms.headers["content-type"].startswith("text/xml")
    assert "<Response><Message>" in sms.text and "try again in" in sms.text and sms.headers["retry-after"]


def test_accepted_provider_requests_do_not_use_up_the_address(env: pytest.MonkeyPatch) -> None:
    email: dict[str, Any] = {
        "content": b"From: resident@example.org\r\nSubject: hi\r\n\r\nWhen is the office open?",
        "headers": {"Content-Type": "message/rfc822", "Authorization": "Bearer inbound-token"},
    }
    replies = send([("POST", "/email/inbound", email) for _ in range(5)])
    assert [r.status_code for r in replies] == [202] * 5


def signed_sms(sid: str, sender: str, body: str = "") -> tuple[str, str, dict[str, Any]]:
    """A Twilio webhook request signed with the env fixture's TWILIO_AUTH_TOKEN (an empty body is answered
    without Rasa: it gets the "text your question" reply, after the rate limit)."""
    params = {"From": sender, "To": "+15005550006", "Body": body, "MessageSid": sid, "AccountSid": "AC" + "0" * 32}
    url = get_settings().sms_webhook_url
    signature = RequestValidator("test-twilio-token").compute_signature(url, params)
    return "POST", "/sms/twilio", {"data": params, "headers": {"X-Twilio-Signature": signature}}


def test_one_number_past_the_per_session_limit_gets_the_twiml_429_and_a_retry_gets_it_again(
    env: pytest.MonkeyPatch,
) -> None:
    env.setenv("RATE_LIMIT_PER_CLIENT", "1")  # signed requests never count against Twilio's address
    number, other = "+15550100001", "+15550100002"
    replies = send(
        [signed_sms(f"SM{n}", number) for n in range(3)] + [signed_sms("SM2", number), signed_sms("SM9", other)]
    )
    assert [r.status_code for r in replies] == [200, 200, 429, 429, 200]
    limited = replies[2]
    assert limited.headers["content-type"].startswith("text/xml")
    assert "limit of 2 messages a minute" in limited.text and "try again in" in limited.text
    assert replies[3].text == limited.text  # Twilio's retry of that MessageSid: the same reply, not counted again
