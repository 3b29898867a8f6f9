"""The staff store as an injected dependency: one StaffStore per database URL, migrated when first made."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from fastapi import Depends

from channels.deps import SettingsDep
from channels.staff.store import StaffStore


@lru_cache(maxsize=4)
def _staff_store(url: str) -> StaffStore:
    return StaffStore(url)


def get_staff_store(settings: SettingsDep) -> StaffStore:
    """The StaffStore for DATABASE_URL (its migrations run to head the first time)."""
    return _staff_store(settings.database_url)


StaffStoreDep = Annotated[StaffStore, Depends(get_staff_store)]
