"""`python -m channels.email` runs the inbound SMTP listener until SIGTERM or SIGINT."""

from __future__ import annotations

import logging
import signal
import sys
import threading

# The listener runs no model. Presidio (redaction) imports spaCy, whose thinc imports torch and transformers
# when they are installed: about 350 MB in this process for nothing. Marked absent, both fall back (thinc to
# NumPy), and redaction is the same. Must come before the imports below.
for _unused in ("torch", "transformers"):
    sys.modules.setdefault(_unused, None)  # type: ignore[arg-type]

from channels.email.listener import serve  # noqa: E402
from channels.settings import get_settings  # noqa: E402
from content_sync.logs import configure_logging  # noqa: E402


def main() -> None:
    configure_logging("email")  # one JSON object a line (content_sync.logs)
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every connection at INFO
    settings = get_settings()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    controller = serve(settings, stop)
    logging.getLogger("channels.email").info(
        "listening on %s:%s for mail to %s", settings.bind_host, settings.smtp_listen_port, settings.email_from
    )
    stop.wait()
    controller.stop()


main()
