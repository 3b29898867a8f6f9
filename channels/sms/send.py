"""Send SMS through Twilio's Messages REST API (the `twilio` client), for answers made after the webhook window."""

from __future__ import annotations

import logging

from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

log = logging.getLogger(__name__)


class SmsSendFailed(Exception):
    """Twilio's REST API refused or did not take the message; the answer is kept and sent again later."""


class TwilioSender:
    """`POST {base_url}/2010-04-01/Accounts/{account_sid}/Messages.json`, authenticated as the account."""

    def __init__(self, account_sid: str, auth_token: str, base_url: str = "https://api.twilio.com") -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.base_url = base_url.rstrip("/")

    def send(self, to: str, from_: str, body: str) -> str:
        """Send one message; Twilio's Message SID for it. Blocking: call it from a worker thread."""
        http = TwilioHttpClient(timeout=15)
        client = Client(self.account_sid, self.auth_token, http_client=http)
        client.api.base_url = self.base_url  # the product's TWILIO_API_BASE_URL (a loopback stand-in in tests)
        try:
            message = client.messages.create(to=to, from_=from_, body=body)
        except Exception as exc:  # TwilioRestException, or requests' connection errors
            raise SmsSendFailed(f"Twilio's Messages API at {self.base_url} did not take the message: {exc}") from exc
        return str(message.sid)
