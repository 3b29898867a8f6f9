"""`python -m channels.email` runs the inbound SMTP listener until SIGTERM or SIGINT."""

from __future__ import annotations

import logging
import signal
import threading

from channels.email.listener import serve
from channels.settings import get_settings


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
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
