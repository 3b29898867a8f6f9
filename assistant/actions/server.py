"""Run the action server (rasa-sdk, main environment) for the Rasa server on Python 3.10.

rasa-sdk 3.21 serves Rasa 3.6.21: the action-server protocol (POST /webhook with tracker and domain, events
and responses back) has not changed between them, and the integration tests exercise it end to end. rasa-sdk
warns on every call that the minor versions differ; that one warning is filtered here, on purpose and
nowhere else, and the versions are logged once at start instead (docs/adr/0002-rasa-behind-http.md).

Every route but `/health` needs the shared ACTIONS_TOKEN, which Rasa sends as `?token=` (endpoints.yml); an
empty token is allowed only on a loopback address (docs/adr/0009-internal-service-secrets.md).
"""

from __future__ import annotations

import argparse
import hmac
import ipaddress
import logging
import os
import sys
import threading
import time
import warnings
from functools import partial
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rasa_sdk.executor import ActionExecutor
    from sanic import Sanic

from content_sync.logs import configure_logging

VERSION_WARNING = r"Your versions of rasa and rasa_sdk might not be compatible"


WARM = threading.Event()  # set once this worker has loaded the model and the index: /health is 503 until then


def _load_index_when_published() -> None:
    """Load the model and the published index before the first question, and from then on follow new versions
    (the searcher's watcher), so that no customer waits for a load."""
    from content_sync.search import IndexNotReady, get_searcher

    while True:
        try:
            get_searcher().current()
            get_searcher().search("warm up", k=1)
            WARM.set()
            return
        except IndexNotReady:
            time.sleep(0.5)
        except Exception:
            logging.getLogger(__name__).exception("index warm-up failed; the first question will load it")
            WARM.set()
            return


def is_loopback(host: str) -> bool:
    """True for `localhost` and any loopback address (all of 127/8, ::1)."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


def create_app(executor: ActionExecutor, token: str) -> Sanic[Any, Any]:
    """rasa-sdk's app, refusing (401) every request but `/health` without `?token=<token>` when one is set.

    Module-level, so that Sanic's worker processes can build the same app from a pickled `partial`.
    """
    from rasa_sdk import endpoint
    from sanic import response
    from sanic.request import Request
    from sanic.response import HTTPResponse

    app: Sanic[Any, Any] = endpoint.create_app_for_serve(executor, cors_origins=None)
    configure_logging("actions")  # in every Sanic worker process, after Sanic set up its own loggers
    expected = token.encode()

    async def require_token(request: Request) -> HTTPResponse | None:
        if request.path == "/health":
            # Not ready (so /healthz is 503 and the gateway answers degraded) until the model and the index are
            # loaded: the first customer question must not wait for them past ANSWER_TIMEOUT.
            return None if WARM.is_set() else response.json({"status": "loading the model and the index"}, 503)
        if not expected:
            return None
        given = str(request.args.get("token", "")).encode()
        if hmac.compare_digest(given, expected):
            return None
        return response.json({"error": "a valid ACTIONS_TOKEN is required (?token=...)"}, status=401)

    app.register_middleware(require_token, "request")
    _register_test_delay(app)

    async def warm_up(_app: Sanic[Any, Any]) -> None:
        # In each worker process, which answers: not in Sanic's manager process, which serves nothing and
        # would otherwise hold a second copy of the model and the index (about 500 MB).
        threading.Thread(target=_load_index_when_published, name="index-warm-up", daemon=True).start()

    app.register_listener(warm_up, "after_server_start")
    return app


def _register_test_delay(app: Sanic[Any, Any]) -> None:
    """TEST ONLY (tests/integration/test_degraded.py): with ACTIONS_TEST_DELAY_SECONDS set, an action call whose
    customer message contains ACTIONS_TEST_DELAY_MARKER (every call when that is empty) waits that long before
    it runs, so a test can make an answer slow for real. Never set in a deployment: unset, nothing is added."""
    delay = float(os.environ.get("ACTIONS_TEST_DELAY_SECONDS") or 0)
    if delay <= 0:
        return
    import asyncio

    from sanic.request import Request

    marker = os.environ.get("ACTIONS_TEST_DELAY_MARKER", "")

    async def slow_down(request: Request) -> None:
        if request.path != "/webhook":
            return
        tracker = (request.json or {}).get("tracker") or {}
        if marker in str((tracker.get("latest_message") or {}).get("text") or ""):
            await asyncio.sleep(delay)

    app.register_middleware(slow_down, "request")


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the assistant's custom actions to the Rasa server.")
    parser.add_argument("--port", type=int, default=int(os.environ.get("ACTIONS_PORT", "5055")))
    parser.add_argument("--host", default=os.environ.get("BIND_HOST", "127.0.0.1"))
    args = parser.parse_args()
    token = os.environ.get("ACTIONS_TOKEN", "")
    if not token and not is_loopback(args.host):
        sys.exit(f"ACTIONS_TOKEN is required: the action server would listen on {args.host}, not loopback.")
    warnings.filterwarnings("ignore", message=VERSION_WARNING, category=UserWarning)
    configure_logging("actions")  # one JSON object a line (content_sync.logs), as the gateway's

    import rasa_sdk
    from rasa_sdk import utils
    from rasa_sdk.executor import ActionExecutor
    from sanic import Sanic
    from sanic.worker.loader import AppLoader

    logging.getLogger(__name__).info(
        "rasa-sdk %s serving Rasa 3.6 (minor versions differ on purpose; protocol checked by the tests)",
        rasa_sdk.__version__,
    )
    executor = ActionExecutor()
    executor.register_package("assistant.actions")
    # rasa_sdk.endpoint.run, with this module's create_app as the factory every worker calls.
    loader = AppLoader(factory=partial(create_app, executor, token))
    app = loader.load()
    app.prepare(host=args.host, port=args.port, workers=utils.number_of_sanic_workers())
    Sanic.serve(primary=app, app_loader=loader)


if __name__ == "__main__":
    main()
