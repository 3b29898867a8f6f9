"""The review store as an injected dependency: one ReviewStore per database URL, migrated when first made."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from fastapi import Depends

from channels.deps import SettingsDep
from channels.review.store import ReviewStore


@lru_cache(maxsize=4)
def review_store_for(url: str) -> ReviewStore:
    """The process's ReviewStore for a database URL (its migrations run to head the first time)."""
    return ReviewStore(url)


def get_review_store(settings: SettingsDep) -> ReviewStore:
    """The ReviewStore for DATABASE_URL."""
    return review_store_for(settings.database_url)


ReviewStoreDep = Annotated[ReviewStore, Depends(get_review_store)]
