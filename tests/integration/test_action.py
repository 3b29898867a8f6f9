"""action_answer_question run directly, with a JSON tracker and a CollectingDispatcher, on a real index."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from assistant.actions.actions import ActionAnswerQuestion
from content_sync.sample_site import serve_in_thread
from content_sync.search import get_searcher, get_sync_settings
from content_sync.settings import DEFAULT_MODEL, SyncSettings
from content_sync.sync import run_sync
from tests.integration.test_sync import PAGES, settings_for, write_site

CONTACT = "write to the Test Agency, 1 Loopback Road, Testville"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[str]:
    """test_sync's three-page site, served on loopback."""
    root = tmp_path / "site"
    root.mkdir()
    write_site(root, PAGES)
    server = serve_in_thread(root)
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The action's settings come from this fixture alone: no `.env`, and every variable it reads set or unset here."""
    monkeypatch.setitem(SyncSettings.model_config, "env_file", None)
    for name in SyncSettings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    data = tmp_path / "data"
    monkeypatch.setenv("DATA_DIR", str(data))
    monkeypatch.setenv("AGENCY_CONTACT", CONTACT)
    monkeypatch.setenv("ANSWER_MIN_SCORE", "0.72")
    monkeypatch.setenv("EMBEDDING_MODEL", DEFAULT_MODEL)
    get_sync_settings.cache_clear()
    get_searcher.cache_clear()
    yield data
    get_sync_settings.cache_clear()
    get_searcher.cache_clear()


@pytest.fixture
def index(site: str, data_dir: Path) -> str:
    run_sync(settings_for(site, data_dir))
    return site


def tracker_for(text: str, intent: str = "ask_question") -> Tracker:
    latest = {"text": text, "intent": {"name": intent, "confidence": 0.9}}
    return Tracker.from_dict({"sender_id": "t", "latest_message": latest})


def run_action(text: str, intent: str = "ask_question") -> list[dict]:
    dispatcher = CollectingDispatcher()
    events = asyncio.run(ActionAnswerQuestion().run(dispatcher, tracker_for(text, intent), {}))
    assert all(e["event"] == "slot" for e in events), events
    return dispatcher.messages


def test_answers_with_passage_source_and_version(index: str) -> None:
    (message,) = run_action("I lost my EBT card, who do I call?")
    answer = message["custom"]
    assert answer["answered"] is True
    assert answer["source_url"] == f"{index}/cards.html"
    # The page's own sentences, unchanged; the one that says whom to call is among them.
    assert set(answer["text"].split("\n")) <= set(PAGES["cards.html"][1:])
    assert PAGES["cards.html"][2] in answer["text"]
    assert answer["index_version"] == get_searcher().store.current_version()
    assert answer["chunk_digest"]


def test_says_so_when_nothing_is_good_enough(index: str) -> None:
    (message,) = run_action("Who won the football world cup in 1998?")
    answer = message["custom"]
    assert answer["answered"] is False and answer["source_url"] is None
    assert "couldn't find" in answer["text"] and CONTACT in answer["text"]


def test_out_of_scope_gets_the_out_of_scope_response_unless_the_guidance_matches(index: str) -> None:
    (message,) = run_action("What's a good lasagna recipe?", intent="out_of_scope")
    assert message["custom"]["answered"] is False and message["custom"]["source_url"] is None
    assert "only answer questions about this agency's published guidance" in message["custom"]["text"]
    assert CONTACT in message["custom"]["text"]  # AGENCY_CONTACT
    (message,) = run_action("When are your offices open on weekdays?", intent="out_of_scope")
    assert message["custom"]["answered"] and message["custom"]["source_url"] == f"{index}/hours.html"


def test_no_index_yet_is_an_honest_wait(data_dir: Path) -> None:
    assert not data_dir.exists()
    (message,) = run_action("How do I appeal?")
    assert message["custom"]["answered"] is False
    assert "try again in a minute" in message["custom"]["text"]


def test_the_action_leaves_the_event_loop_free_while_it_searches(index: str) -> None:
    """Embedding and search run in a worker thread: other coroutines keep running meanwhile."""
    run_action("warm up the model and the index")

    async def both() -> tuple[int, float]:
        ticks = 0
        done = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0.001)

        async def answer() -> None:
            for _ in range(5):
                await ActionAnswerQuestion().run(CollectingDispatcher(), tracker_for("When are your offices open?"), {})
            done.set()

        start = time.perf_counter()
        await asyncio.gather(ticker(), answer())
        return ticks, time.perf_counter() - start

    ticks, seconds = asyncio.run(both())
    # A blocked loop would tick about once per answer; a free one ticks every millisecond or so.
    assert ticks > 20 and ticks > seconds * 100, (ticks, seconds)
