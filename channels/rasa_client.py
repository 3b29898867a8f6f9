"""Talk to the Rasa server over HTTP (its REST channel); nothing else in channels knows Rasa exists.

The channel refuses callers without the shared RASA_TOKEN (assistant/rest_channel.py), which is sent as
`Authorization: Bearer` on every message (docs/adr/0009-internal-service-secrets.md).
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx


class RasaUnavailable(Exception):
    """The Rasa server did not answer; the message is kept and the caller may retry."""


class RasaClient:
    """Send one customer message to Rasa and get its replies."""

    def __init__(self, base_url: str, token: str, timeout: float = 30.0) -> None:
        """`token` is RASA_TOKEN (empty only for a Rasa on loopback that checks none)."""
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def send(self, sender: str, text: str, retries: int = 2) -> list[dict[str, Any]]:
        """Rasa's reply messages for `text` from conversation `sender`.

        Only a refused connection (Rasa restarting) is retried: a message Rasa may already have read is never
        sent twice.
        """
        async with httpx.AsyncClient(timeout=self.timeout, trust_env=False, headers=self.headers) as client:
            for attempt in range(retries + 1):
                try:
                    response = await client.post(
                        f"{self.base_url}/webhooks/rest/webhook", json={"sender": sender, "message": text}
                    )
                    break
                except httpx.ConnectError as exc:
                    if attempt == retries:
                        raise RasaUnavailable(f"Rasa at {self.base_url} refused the connection: {exc}") from exc
                    await asyncio.sleep(0.5 * (attempt + 1))
                except httpx.HTTPError as exc:
                    raise RasaUnavailable(f"Rasa at {self.base_url} did not answer: {exc!r}") from exc
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

    def send_sync(self, sender: str, text: str) -> list[dict[str, Any]]:
        """`send` for code that is not async (the CLI, the email worker thread)."""
        return asyncio.run(self.send(sender, text))


async def is_up(url: str) -> bool:
    """True when an HTTP service answers 200 at `url`."""
    try:
        async with httpx.AsyncClient(timeout=2.0, trust_env=False) as client:
            return (await client.get(url)).status_code == 200
    except httpx.HTTPError:
        return False
