"""Settings for crawling, indexing and searching, read from the environment or `.env`."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, PrivateAttr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
HOST_ENTRY = re.compile(r"^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?$")


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class SyncSettings(BaseSettings):
    """What content_sync and the search need. A variable in the environment wins over `.env`."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_ignore_empty=True)

    data_dir: Path = Path("data/runtime")
    database_url: str = ""
    # Scale-out (docs/deploy.md): the index folder every replica reads (a shared filesystem; default
    # DATA_DIR/index), and Redis for Rasa's trackers and locks and the index-published signal (empty: none).
    index_dir: Path = Path("data/runtime/index")
    redis_url: str = ""
    _shared_index: bool = PrivateAttr(False)  # INDEX_DIR was given
    sample_site_port: int = Field(8080, ge=1, le=65535)
    sync_sources: Annotated[list[str], NoDecode] = []
    allowed_domains: Annotated[list[str], NoDecode] = []
    sync_schedule: str = "*/15 * * * *"
    sync_user_agent: str = "PublicServiceAssistantBot/0.1 (+https://github.com/)"
    sync_max_pages: int = Field(2000, ge=1)
    sync_max_depth: int = Field(5, ge=0, le=50)
    sync_concurrency: int = Field(8, ge=1, le=64)
    sync_per_host: int = Field(4, ge=1, le=64)
    sync_fetch_deadline: float = Field(30.0, gt=0, le=600)
    sync_keep_versions: int = Field(5, ge=1)
    embedding_model: str = DEFAULT_MODEL
    embedding_cache_dir: Path | None = None  # default DATA_DIR/vector-cache (content_sync/vector_cache.py)
    answer_min_score: float = Field(0.72, ge=-1.0, le=2.0)
    agency_contact: str = "call us on (555) 010-4400, Monday to Friday, 8 a.m. to 5 p.m."
    agency_contact_es: str = "llámenos al (555) 010-4400, de lunes a viernes, de 8 a.m. a 5 p.m."
    account_help: str = "sign in to your online account"

    @field_validator("sync_sources", "allowed_domains", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("sync_sources")
    @classmethod
    def _http_urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"{url!r} is not an http(s) URL; give sitemap URLs or start pages, comma-separated")
        return urls

    @field_validator("allowed_domains")
    @classmethod
    def _hosts(cls, entries: list[str]) -> list[str]:
        for entry in entries:
            if not HOST_ENTRY.match(entry):
                raise ValueError(f"{entry!r} is not a host or host:port such as agency.gov or 127.0.0.1:8080")
        return entries

    @field_validator("sync_schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(value)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a 5-field cron expression such as '*/15 * * * *' ({exc})") from exc
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, value: str) -> str:
        if value and urlsplit(value).scheme not in ("redis", "rediss"):
            raise ValueError(f"{value!r} is not a Redis URL such as redis://127.0.0.1:6379/0 (or empty for none)")
        return value

    @model_validator(mode="after")
    def _defaults(self) -> SyncSettings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'assistant.db'}"
        self._shared_index = "index_dir" in self.model_fields_set
        if not self._shared_index:
            self.index_dir = self.data_dir / "index"
        return self

    @property
    def uses_sample_site(self) -> bool:
        """True when SYNC_SOURCES is left at its default, the bundled sample site."""
        return not self.sync_sources

    @property
    def sources(self) -> list[str]:
        """The sitemaps or start pages to crawl."""
        return self.sync_sources or [f"http://127.0.0.1:{self.sample_site_port}/sitemap.xml"]

    @property
    def domains(self) -> list[str]:
        """ALLOWED_DOMAINS, or the hosts (with ports) of the sources."""
        if self.allowed_domains:
            return [d.lower().rstrip(".") for d in self.allowed_domains]
        return sorted({urlsplit(url).netloc.lower() for url in self.sources})

    @property
    def embedding_cache(self) -> Path:
        """Where passage vectors are kept by digest: EMBEDDING_CACHE_DIR, else DATA_DIR/vector-cache."""
        return self.embedding_cache_dir or self.data_dir / "vector-cache"

    @property
    def sync_lock_dir(self) -> Path:
        """Where the one-sync-at-a-time lock lives: beside the index it guards (INDEX_DIR when set, which
        may be shared by several workers), else DATA_DIR as before."""
        return self.index_dir if self._shared_index else self.data_dir


@lru_cache
def get_sync_settings() -> SyncSettings:
    """The process's settings, read once."""
    return SyncSettings()
