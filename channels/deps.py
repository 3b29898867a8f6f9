"""Injected dependencies for the gateway's routes."""

from __future__ import annotations

import secrets
from functools import lru_cache
from typing import Annotated

from fastapi import Depends, Header, HTTPException

from channels.degraded import Responder, responder_for
from channels.rasa_client import RasaClient
from channels.settings import Settings, get_settings
from channels.store import ChannelStore
from content_sync.jobs import JobStore

SettingsDep = Annotated[Settings, Depends(get_settings)]


@lru_cache(maxsize=4)
def _channel_store(url: str, privacy_key: str) -> ChannelStore:
    return ChannelStore(url, privacy_key=privacy_key)


@lru_cache(maxsize=4)
def _job_store(url: str) -> JobStore:
    return JobStore(url)


def get_channel_store(settings: SettingsDep) -> ChannelStore:
    return _channel_store(settings.database_url, settings.privacy_key.get_secret_value())


def get_job_store(settings: SettingsDep) -> JobStore:
    return _job_store(settings.database_url)


@lru_cache(maxsize=4)
def _rasa(url: str, token: str) -> RasaClient:
    return RasaClient(url, token)


def get_rasa(settings: SettingsDep) -> RasaClient:
    """The process's Rasa client: one connection pool, opened in the gateway's lifespan (channels/app.py)."""
    return _rasa(settings.rasa_url, settings.rasa_token.get_secret_value())


def get_responder(settings: SettingsDep, rasa: Annotated[RasaClient, Depends(get_rasa)]) -> Responder:
    """Rasa's answer, or the degraded one from the index when Rasa cannot (channels/degraded.py)."""
    return responder_for(rasa, settings)


def require_sync_token(settings: SettingsDep, authorization: Annotated[str | None, Header()] = None) -> None:
    """The publish webhook's bearer token, compared in constant time."""
    expected = settings.sync_webhook_token.get_secret_value()
    scheme, _, token = (authorization or "").partition(" ")
    given = token.strip().encode("utf-8", "replace")
    if scheme.lower() != "bearer" or not expected or not secrets.compare_digest(given, expected.encode()):
        raise HTTPException(
            status_code=401,
            detail="a valid 'Authorization: Bearer <SYNC_WEBHOOK_TOKEN>' header is required",
            headers={"WWW-Authenticate": "Bearer"},
        )


ChannelStoreDep = Annotated[ChannelStore, Depends(get_channel_store)]
JobStoreDep = Annotated[JobStore, Depends(get_job_store)]
RasaDep = Annotated[RasaClient, Depends(get_rasa)]
ResponderDep = Annotated[Responder, Depends(get_responder)]
SyncTokenDep = Depends(require_sync_token)
