"""The exceptions content_sync raises, each with a message that says what to do next.

SyncError
├── FetchRefused      a URL outside ALLOWED_DOMAINS (host or port), or a host written as a disguised number
│   └── AddressRefused  a host that resolves to a private, loopback, metadata or other non-public address
├── SyncBusy          another sync holds the lock
├── NothingToPublish  a sync found no pages at all, so the last good version keeps serving
└── IndexNotReady     no index version has been published yet
"""

from __future__ import annotations


class SyncError(Exception):
    """Base class for every content_sync error."""


class FetchRefused(SyncError):
    """A URL the crawler must not fetch."""


class AddressRefused(FetchRefused):
    """A host whose resolved address the crawler must not connect to (it is not public and not listed)."""


class SyncBusy(SyncError):
    """Another sync is running."""


class NothingToPublish(SyncError):
    """A sync ended with no pages; publishing it would empty the index."""


class IndexNotReady(SyncError):
    """No index version exists yet."""


class ParseError(SyncError):
    """A fetched document that cannot be read: a broken or password-protected PDF."""
