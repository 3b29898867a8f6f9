"""Benchmarks, each measured against a baseline taken in the same run. Prints Markdown for docs/benchmarks.md.

1. Sync of the bundled sample site: full sync time and chunks per second, against raw `model.encode` on the
   same chunks; and an unchanged re-sync as a share of the full sync.
2. Answer latency through `POST /api/chat`, against the same questions sent straight to Rasa's REST webhook
   (so the ratio is the gateway's own cost) and against an in-process `search()` call.

Run with `make bench`. It starts its own stack on free loopback ports, like the integration tests.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import httpx  # noqa: E402

from bench.stack import running_stack  # noqa: E402
from content_sync.embed import embed_texts, get_model  # noqa: E402
from content_sync.index_store import IndexStore  # noqa: E402
from content_sync.sample_site import ROOT as SAMPLE_SITE  # noqa: E402
from content_sync.sample_site import serve_in_thread  # noqa: E402
from content_sync.search import Searcher  # noqa: E402
from content_sync.settings import SyncSettings  # noqa: E402
from content_sync.sync import run_sync  # noqa: E402

QUESTIONS = json.loads((ROOT / "tests" / "fixtures" / "sample_site_questions.json").read_text())["questions"]


def machine() -> str:
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    mem = int(next(ln.split()[1] for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal")))
    return f"{cpu}, {os.cpu_count()} cores, {mem / 1024 / 1024:.0f} GiB, Python {platform.python_version()}"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bench_sync(site: str, data: Path) -> list[str]:
    settings = SyncSettings(data_dir=data, sync_sources=[site + "/sitemap.xml"], _env_file=None)  # type: ignore[call-arg]
    get_model(settings.embedding_model)  # load once, outside both timings
    start = time.perf_counter()
    full = run_sync(settings, full=True)
    full_s = time.perf_counter() - start
    texts = [c.embed_text for c in IndexStore(settings.index_dir).load().chunks]
    start = time.perf_counter()
    embed_texts(settings.embedding_model, texts)
    raw_s = time.perf_counter() - start
    start = time.perf_counter()
    again = run_sync(settings)
    again_s = time.perf_counter() - start
    return [
        "| measure | value | baseline (same run) | ratio |",
        "|---|---|---|---|",
        f"| full sync, {full.pages} pages, {full.chunks} chunks | {full_s:.1f} s, {full.chunks / full_s:.1f} chunks/s "
        f"| raw encode of the same chunks: {raw_s:.1f} s, {len(texts) / raw_s:.1f} chunks/s "
        f"| sync throughput = {raw_s / full_s:.0%} of raw |",
        f"| unchanged re-sync ({again.embedded} embedded) | {again_s:.2f} s | full sync: {full_s:.1f} s "
        f"| {again_s / full_s:.1%} of full |",
    ]


def bench_latency(site: str, site_root: Path, data: Path, rounds: int = 2) -> list[str]:
    with running_stack(site, site_root, data) as stack:
        rasa = f"http://127.0.0.1:{stack.env['RASA_PORT']}/webhooks/rest/webhook"
        searcher = Searcher(data / "index", SyncSettings(_env_file=None).embedding_model)  # type: ignore[call-arg]
        chat: list[float] = []
        direct: list[float] = []
        local: list[float] = []
        with httpx.Client(timeout=60) as client:
            for question in [q["question"] for q in QUESTIONS] * rounds:
                t = time.perf_counter()
                client.post(rasa, json={"sender": "bench", "message": question}).raise_for_status()
                direct.append(time.perf_counter() - t)
                t = time.perf_counter()
                client.post(stack.gateway + "/api/chat", json={"text": question}).raise_for_status()
                chat.append(time.perf_counter() - t)
                t = time.perf_counter()
                searcher.search(question)
                local.append(time.perf_counter() - t)
    ms = 1000
    return [
        "| measure | p50 | p95 | ratio of p50 to /api/chat |",
        "|---|---|---|---|",
        f"| `POST /api/chat` ({len(chat)} questions) | {statistics.median(chat) * ms:.0f} ms "
        f"| {pct(chat, 0.95) * ms:.0f} ms | 1.00 |",
        f"| baseline: Rasa REST webhook, same questions | {statistics.median(direct) * ms:.0f} ms "
        f"| {pct(direct, 0.95) * ms:.0f} ms | {statistics.median(direct) / statistics.median(chat):.2f} |",
        f"| baseline: in-process `search()` | {statistics.median(local) * ms:.0f} ms "
        f"| {pct(local, 0.95) * ms:.0f} ms | {statistics.median(local) / statistics.median(chat):.2f} |",
    ]


def main() -> None:
    server = serve_in_thread(SAMPLE_SITE)
    site = f"http://127.0.0.1:{server.server_address[1]}"
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        print(f"Machine: {machine()}\n")
        print("### Sync of the bundled sample site\n")
        print("\n".join(bench_sync(site, Path(tmp) / "sync")), "\n", flush=True)
        print("### Answer latency\n")
        print("\n".join(bench_latency(site, SAMPLE_SITE, Path(tmp) / "stack")), flush=True)
    server.shutdown()


if __name__ == "__main__":
    main()
