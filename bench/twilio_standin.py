"""A loopback stand-in for Twilio's Messages REST API, the one part of Twilio's cloud the product calls.

`POST /2010-04-01/Accounts/{AccountSid}/Messages.json` with HTTP basic auth `AccountSid:AuthToken` and the form
fields `To`, `From` and `Body`, as the `twilio` client sends it. A wrong account or token gets 401, a missing
field 400 (Twilio's error JSON); a good request is recorded and answered 201 with a message resource. Point
the product at it with `TWILIO_API_BASE_URL` and `TWILIO_ACCOUNT_SID` (see `env`).
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qs

PATH = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages\.json$")


@dataclass(frozen=True)
class SentMessage:
    """One message the product sent through the REST API."""

    sid: str
    to: str
    from_: str
    body: str
    at: float


class TwilioStandin:
    """Twilio's Messages API on 127.0.0.1, for one account; `messages` is what it was asked to send."""

    def __init__(self, account_sid: str = "AC" + "1" * 32, auth_token: str = "test-twilio-token-0123456789") -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.messages: list[SentMessage] = []
        self.refused: list[tuple[int, str]] = []  # (status, why) for every request it turned away
        self._lock = threading.Lock()
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                status, body = standin._handle(self)
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def env(self) -> dict[str, str]:
        """What the product needs to send through this stand-in (its auth token must be TWILIO_AUTH_TOKEN)."""
        return {"TWILIO_API_BASE_URL": self.url, "TWILIO_ACCOUNT_SID": self.account_sid}

    def _refuse(self, status: int, why: str) -> tuple[int, dict[str, object]]:
        with self._lock:
            self.refused.append((status, why))
        return status, {"code": 20003 if status == 401 else 21604, "message": why, "status": status}

    def _handle(self, request: BaseHTTPRequestHandler) -> tuple[int, dict[str, object]]:
        match = PATH.match(request.path.split("?", 1)[0])
        if not match:
            return self._refuse(404, f"no such resource: {request.path}")
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except ValueError:
            user = password = ""
        if scheme.lower() != "basic" or user != self.account_sid or password != self.auth_token:
            return self._refuse(401, "Authenticate: wrong AccountSid or AuthToken")
        if match["account"] != self.account_sid:
            return self._refuse(401, f"the URL names account {match['account']}, not the one authenticated")
        length = int(request.headers.get("Content-Length") or 0)
        form = parse_qs(request.rfile.read(length).decode(), keep_blank_values=True)
        fields = {name: form.get(name, [""])[0] for name in ("To", "From", "Body")}
        missing = [name for name, value in fields.items() if not value]
        if missing:
            return self._refuse(400, f"A required parameter is missing: {', '.join(missing)}")
        sent = SentMessage("SM" + uuid.uuid4().hex, fields["To"], fields["From"], fields["Body"], time.monotonic())
        with self._lock:
            self.messages.append(sent)
        now = datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
        return 201, {
            "sid": sent.sid,
            "account_sid": self.account_sid,
            "to": sent.to,
            "from": sent.from_,
            "body": sent.body,
            "status": "queued",
            "direction": "outbound-api",
            "num_segments": "1",
            "date_created": now,
            "date_updated": now,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sent.sid}.json",
        }

    def sent_to(self, number: str) -> list[SentMessage]:
        with self._lock:
            return [m for m in self.messages if m.to == number]

    def wait_for(self, number: str, count: int = 1, timeout: float = 60) -> list[SentMessage]:
        """The messages sent to `number` once there are `count` of them (or whatever there is at `timeout`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.sent_to(number)
            if len(found) >= count:
                return found
            time.sleep(0.1)
        return self.sent_to(number)

    def __enter__(self) -> TwilioStandin:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.server.shutdown()
        self.server.server_close()
