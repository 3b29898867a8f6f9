"""Talk to the Rasa server over HTTP (its REST channel); nothing else in channels knows Rasa exists.

The channel refuses callers without the shared RASA_TOKEN (assistant/rest_channel.py), which is sent as
`Authorization: Bearer` on every message (docs/adr/0009-internal-service-secrets.md).

One client keeps one connection pool: the gateway opens it in its lifespan (`open`) and closes it at shutdown
(`aclose`), so no message pays for a new connection. `send_sync` (the CLI, the email worker thread) has a pooled
synchronous client of its own.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import httpx

from content_sync.logs import current_request_id


class RasaUnavailable(Exception):
    """The Rasa server did not answer; the message is kept and the caller may retry."""


class RasaClient:
    """Send one customer message to Rasa and get its replies."""

    def __init__(self, base_url: str, token: str, timeout: float = 30.0) -> None:
        """`token` is RASA_TOKEN (empty only for a Rasa on loopback that checks none)."""
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sync_client: httpx.Client | None = None
        self._sync_lock = threading.Lock()

    # -- the pooled clients -------------------------------------------------------------------------------

    def _new_async(self) -> httpx.AsyncClient:
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)
        return httpx.AsyncClient(timeout=self.timeout, trust_env=False, headers=self.headers, limits=limits)

    def open(self) -> None:
        """Open the pool on the running event loop (the gateway's lifespan); idempotent."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client, self._loop = self._new_async(), loop

    async def aclose(self) -> None:
        """Close the pool (the gateway's shutdown); a later `send` opens a new one."""
        client, self._client, self._loop = self._client, None, None
        if client is not None:
            await client.aclose()
        with self._sync_lock:
            sync, self._sync_client = self._sync_client, None
        if sync is not None:
            sync.close()

    def _pool(self) -> httpx.AsyncClient:
        self.open()  # opened at start-up; this covers an app run without its lifespan
        assert self._client is not None
        return self._client

    # -- messages -----------------------------------------------------------------------------------------

    def _body(self, sender: str, text: str, metadata: dict[str, Any] | None) -> dict[str, Any]:
        body: dict[str, Any] = {"sender": sender, "message": text}
        request_id = current_request_id()  # the gateway request's id, for the action's logs (content_sync.logs)
        metadata = {"request_id": request_id, **(metadata or {})} if request_id else metadata
        if metadata:
            body["metadata"] = metadata  # Rasa puts it on the message: tracker.latest_message["metadata"]
        return body

    async def send(
        self,
        sender: str,
        text: str,
        retries: int = 2,
        metadata: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> list[dict[str, Any]]:
        """Rasa's reply messages for `text` from conversation `sender`.

        `metadata` goes as the REST channel's `metadata` field; `timeout` (seconds) overrides the client's for
        this message. Only a refused connection (Rasa restarting) is retried: a message Rasa may already have
        read is never sent twice.
        """
        client = self._pool()
        url = f"{self.base_url}/webhooks/rest/webhook"
        wait = httpx.Timeout(timeout) if timeout is not None else httpx.USE_CLIENT_DEFAULT
        for attempt in range(retries + 1):
            try:
                response = await client.post(url, json=self._body(sender, text, metadata), timeout=wait)
                break
            except httpx.ConnectError as exc:
                if attempt == retries:
                    raise RasaUnavailable(f"Rasa at {self.base_url} refused the connection: {exc}") from exc
                await asyncio.sleep(0.5 * (attempt + 1))
            except httpx.HTTPError as exc:
                raise RasaUnavailable(f"Rasa at {self.base_url} did not answer: {exc!r}") from exc
        return self._messages(response)

    def send_sync(
        self,
        sender: str,
        text: str,
        retries: int = 2,
        metadata: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> list[dict[str, Any]]:
        """`send` for code that is not async (the CLI, the email worker thread), on its own pooled client."""
        with self._sync_lock:
            if self._sync_client is None:
                self._sync_client = httpx.Client(timeout=self.timeout, trust_env=False, headers=self.headers)
            client = self._sync_client
        url = f"{self.base_url}/webhooks/rest/webhook"
        wait = httpx.Timeout(timeout) if timeout is not None else httpx.USE_CLIENT_DEFAULT
        for attempt in range(retries + 1):
            try:
                response = client.post(url, json=self._body(sender, text, metadata), timeout=wait)
                break
            except httpx.ConnectError as exc:
                if attempt == retries:
                    raise RasaUnavailable(f"Rasa at {self.base_url} refused the connection: {exc}") from exc
                time.sleep(0.5 * (attempt + 1))
            except httpx.HTTPError as exc:
                raise RasaUnavailable(f"Rasa at {self.base_url} did not answer: {exc!r}") from exc
        return self._messages(response)

    def close_sync(self) -> None:
        """Close `send_sync`'s client (the CLI, once it is done)."""
        with self._sync_lock:
            sync, self._sync_client = self._sync_client, None
        if sync is not None:
            sync.close()

    def _messages(self, response: httpx.Response) -> list[dict[str, Any]]:
        if response.status_code in (401, 403):
            raise RasaUnavailable(
                f"Rasa at {self.base_url} refused the gateway (HTTP {response.status_code}): RASA_TOKEN must be the "
                "same for Rasa and the gateway"
            )
        if response.status_code != 200:
            raise RasaUnavailable(f"Rasa at {self.base_url} answered HTTP {response.status_code}")
        try:
            messages = response.json()
        except ValueError as exc:
            raise RasaUnavailable(f"Rasa at {self.base_url} answered something that is not JSON") from exc
        if not isinstance(messages, list):
            raise RasaUnavailable(f"Rasa answered {type(messages).__name__}, not a list")
        return messages


async def is_up(url: str, timeout: float = 2.0) -> bool:
    """True when an HTTP service answers 200 at `url` within `timeout` seconds."""
    try:
        async with httpx.AsyncClient(timeout=timeout, trust_env=False) as client:
            return (await client.get(url)).status_code == 200
    except httpx.HTTPError:
        return False


def is_up_sync(url: str, timeout: float = 2.0) -> bool:
    """`is_up` for code that is not async."""
    try:
        with httpx.Client(timeout=timeout, trust_env=False) as client:
            return client.get(url).status_code == 200
    except httpx.HTTPError:
        return False
