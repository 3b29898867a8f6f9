"""Sign-in lockout: too many failures for one email, or from one client address, lock it for a while."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from channels.settings import Settings
from channels.staff.store import StaffStore


@dataclass(frozen=True)
class Lockout:
    """Sign-in is refused until `until`; `scope` says what is locked: "account" (the email) or "address"."""

    scope: str
    until: datetime

    def minutes_left(self, now: datetime) -> int:
        """Whole minutes until the lockout ends, at least 1."""
        return max(1, math.ceil((self.until - now).total_seconds() / 60))


def _locked_until(times: list[datetime], limit: int, window: timedelta) -> datetime | None:
    """Locked for `window` after the latest failure, when it made `limit` failures within `window`."""
    if len(times) < limit:
        return None
    last = times[-1]
    recent = [t for t in times if t > last - window]
    return last + window if len(recent) >= limit else None


def current_lockout(store: StaffStore, settings: Settings, email: str, client: str, now: datetime) -> Lockout | None:
    """The lockout that refuses this sign-in now (the account's first), or None.

    Failures are counted within STAFF_LOCKOUT_MINUTES; reaching STAFF_LOGIN_MAX_FAILURES for the email (or
    STAFF_LOGIN_MAX_FAILURES_PER_CLIENT from the address) locks it for STAFF_LOCKOUT_MINUTES after the last
    one. Attempts refused while locked are not counted, so the lockout ends when it says it will.
    """
    window = timedelta(minutes=settings.staff_lockout_minutes)
    since = now - 2 * window
    checks = (
        ("account", store.failure_times(since, email=email), settings.staff_login_max_failures),
        ("address", store.failure_times(since, client=client), settings.staff_login_max_failures_per_client),
    )
    for scope, times, limit in checks:
        until = _locked_until(times, limit, window)
        if until is not None and until > now:
            return Lockout(scope, until)
    return None
