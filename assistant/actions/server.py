"""Run the action server (rasa-sdk, main environment) for the Rasa server on Python 3.10.

rasa-sdk 3.21 serves Rasa 3.6.21: the action-server protocol (POST /webhook with tracker and domain, events
and responses back) has not changed between them, and the integration tests exercise it end to end. rasa-sdk
warns on every call that the minor versions differ; that one warning is filtered here, on purpose and
nowhere else, and the versions are logged once at start instead (docs/adr/0002-rasa-behind-http.md).
"""

from __future__ import annotations

import argparse
import logging
import os
import threading
import time
import warnings

VERSION_WARNING = r"Your versions of rasa and rasa_sdk might not be compatible"


def _load_index_when_published() -> None:
    """Load the model and the published index before the first question, and from then on follow new versions
    (the searcher's watcher), so that no customer waits for a load."""
    from content_sync.search import IndexNotReady, get_searcher

    while True:
        try:
            get_searcher().current()
            get_searcher().search("warm up", k=1)
            return
        except IndexNotReady:
            time.sleep(0.5)
        except Exception:
            logging.getLogger(__name__).exception("index warm-up failed; the first question will load it")
            return


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the assistant's custom actions to the Rasa server.")
    parser.add_argument("--port", type=int, default=int(os.environ.get("ACTIONS_PORT", "5055")))
    parser.add_argument("--host", default=os.environ.get("BIND_HOST", "127.0.0.1"))
    args = parser.parse_args()
    os.environ["SANIC_HOST"] = args.host
    warnings.filterwarnings("ignore", message=VERSION_WARNING, category=UserWarning)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    import rasa_sdk
    from rasa_sdk import endpoint
    from rasa_sdk.executor import ActionExecutor

    logging.getLogger(__name__).info(
        "rasa-sdk %s serving Rasa 3.6 (minor versions differ on purpose; protocol checked by the tests)",
        rasa_sdk.__version__,
    )
    threading.Thread(target=_load_index_when_published, name="index-warm-up", daemon=True).start()
    executor = ActionExecutor()
    executor.register_package("assistant.actions")
    endpoint.run(executor, port=args.port, cors_origins=None)


if __name__ == "__main__":
    main()
