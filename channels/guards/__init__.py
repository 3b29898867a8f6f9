"""The gateway's guards: the client address behind trusted proxies, rate limits, and security headers.

- `address.ClientAddress` resolves the client address once (TRUSTED_PROXIES) for every later reader;
- `limits.RateLimits` applies RATE_LIMIT_PER_CLIENT and RATE_LIMIT_PER_SESSION on the public routes, and
  `limits.limiter_for` gives routes the same limiter (the SMS route's per-number limit);
- `headers.SecurityHeaders` adds nosniff, a referrer policy, a CSP without 'unsafe-inline' and frame rules.

docs/adr/0015-rate-limits-and-client-address.md says why they are built this way.
"""

from channels.guards.address import ClientAddress, resolve_client
from channels.guards.headers import SecurityHeaders
from channels.guards.limits import Limiter, RateLimits, limiter_for

__all__ = ["ClientAddress", "Limiter", "RateLimits", "SecurityHeaders", "limiter_for", "resolve_client"]
