"""The index-published signal on Redis: a publish or rollback says so at once, and readers reload without waiting.

`IndexStore.switch` calls `announce_version` after the pointer has moved (so a reader told about a version can
always read it); `Searcher` runs `listen_versions` in a thread beside its file poll. The signal is an
optimisation: a reader that misses it (Redis down, a message lost, a reader that was restarting) still follows
CURRENT through the poll, so Redis being away never stops a switch, it only makes it wait for the poll.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

log = logging.getLogger("content_sync.notify")

CHANNEL = "assistant:index-published"
"""The Redis pub/sub channel. Every message is JSON {"version", "index"}; readers re-read their own CURRENT,
so a message meant for another deployment sharing the Redis only costs one small file read."""

RECONNECT_SECONDS = 2.0


def announce_version(redis_url: str, version: str, index: str = "") -> bool:
    """Publish `version` on CHANNEL; False (logged) when Redis cannot be reached: the readers' poll follows."""
    if not redis_url:
        return False
    import redis

    try:
        client = redis.Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=2)
        try:
            client.publish(CHANNEL, json.dumps({"version": version, "index": index}))
        finally:
            client.close()
    except redis.RedisError as exc:
        log.warning("could not announce index version %s on Redis (readers follow CURRENT anyway): %s", version, exc)
        return False
    return True


def listen_versions(redis_url: str, on_version: Callable[[str], bool]) -> None:
    """Call `on_version(version)` for every announced version until it returns False; reconnects after an error.

    `on_version` is also called with "" about once a second while nothing arrives, so the caller can stop
    (return False) when what it serves has gone.
    """
    import redis

    while True:
        try:
            client = redis.Redis.from_url(redis_url, socket_connect_timeout=2, health_check_interval=30)
            pubsub = client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
            pubsub.subscribe(CHANNEL)
            try:
                while True:
                    message = pubsub.get_message(timeout=1.0)
                    version = ""
                    if message is not None and message.get("type") == "message":
                        try:
                            version = str(json.loads(message["data"]).get("version") or "")
                        except (ValueError, AttributeError):
                            version = ""
                    if not on_version(version):
                        return
            finally:
                pubsub.close()
                client.close()
        except redis.RedisError as exc:
            log.warning("index-published signal lost (%s); readers follow CURRENT by polling meanwhile", exc)
            if not on_version(""):
                return
            time.sleep(RECONNECT_SECONDS)
