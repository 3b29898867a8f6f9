"""Load on the running product, loopback only: the gateway's `/api/chat` against Rasa's own REST webhook.

    .venv/bin/python -m bench.load [--per-level 64] [--step-seconds 8]

Starts the product with the launcher `make run` uses (bench.stack.running_stack, RATE_LIMIT_PER_CLIENT=0 and
RATE_LIMIT_PER_SESSION=0, so that the limits measure nothing here) on a copy of the sample site, then, in one
run and on the same questions (the English questions of tests/eval/questions, shuffled with a fixed seed):

1. one at a time, alternating gateway and webhook on each question: p50 of each and their ratio (issue 16:
   gateway ≤ 1.10× the webhook; p50 ≤ 150 ms, aim 50 ms);
2. closed loop at 1, 4, 16 and 32 concurrent conversations (each its own session, asking its next question
   as soon as the last is answered), `--per-level` messages per level, gateway and then webhook: p50, p95,
   answers per second and errors (issue 16: at 16, p95 ≤ 1 s and ≥ 15 answers/s, aim 30);
3. open loop on the gateway: questions sent at a fixed rate, raised step by step (`--step-seconds` each),
   until p95 passes 1 s or a reply fails: the highest rate that held.

Every loop is bounded in count and time (at most MAX_IN_FLIGHT requests open, each step stops by itself), and
every URL is checked to be on 127.0.0.0/8 before anything is sent.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.evalset import load_eval  # noqa: E402
from bench.stack import running_stack  # noqa: E402

LEVELS = (1, 4, 16, 32)
RATES = (5, 10, 15, 20, 25, 30, 40, 50, 60)  # answers per second offered in the open loop
MAX_IN_FLIGHT = 256
TIMEOUT = 30.0
P95_LIMIT = 1.0

Ask = Callable[[httpx.AsyncClient, str, str], Awaitable[None]]


def loopback_only(url: str) -> str:
    """The URL, if its host is a loopback address; refuses anything else."""
    host = urlsplit(url).hostname or ""
    if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
        raise SystemExit(f"refusing to send load to {url}: loopback addresses only")
    return url


def pct(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank) of the values; NaN for none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        p50, p95 = pct(self.latencies, 0.5) * 1000, pct(self.latencies, 0.95) * 1000
        rate = len(self.latencies) / self.seconds if self.seconds else 0.0
        return f"p50 {p50:.0f} ms, p95 {p95:.0f} ms, {rate:.1f} answers/s, {self.errors} errors"


def gateway_asker(base: str) -> Ask:
    url = loopback_only(base + "/api/chat")

    async def ask(client: httpx.AsyncClient, session: str, text: str) -> None:
        response = await client.post(url, json={"session_id": session, "text": text})
        response.raise_for_status()
        if not response.json().get("messages"):
            raise ValueError("no messages in the reply")

    return ask


def webhook_asker(base: str, token: str) -> Ask:
    url = loopback_only(base + "/webhooks/rest/webhook")
    auth = {"Authorization": f"Bearer {token}"}  # assistant/rest_channel.py: the channel wants RASA_TOKEN

    async def ask(client: httpx.AsyncClient, session: str, text: str) -> None:
        response = await client.post(url, json={"sender": session, "message": text}, headers=auth)
        response.raise_for_status()
        if not isinstance(response.json(), list):
            raise ValueError("the webhook did not answer a list")

    return ask


async def timed(ask: Ask, client: httpx.AsyncClient, session: str, text: str, result: Result) -> None:
    start = time.perf_counter()
    try:
        await ask(client, session, text)
    except (httpx.HTTPError, ValueError):
        result.errors += 1
    else:
        result.latencies.append(time.perf_counter() - start)


async def one_at_a_time(asks: dict[str, Ask], questions: list[str]) -> dict[str, Result]:
    """Each question to each side in turn, one request at a time."""
    results = {name: Result() for name in asks}
    async with httpx.AsyncClient(timeout=TIMEOUT, trust_env=False) as client:
        for n, text in enumerate(questions):
            order = list(asks.items()) if n % 2 == 0 else list(reversed(asks.items()))
            for name, ask in order:
                await timed(ask, client, f"bench-seq-{name}-{n}", text, results[name])
    return results


async def closed_loop(ask: Ask, questions: list[str], concurrency: int, total: int) -> Result:
    """`concurrency` conversations, `total` messages between them, each sent when its last one is answered."""
    result = Result()
    todo = iter(range(total))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=TIMEOUT, trust_env=False, limits=limits) as client:

        async def conversation(c: int) -> None:
            session = f"bench-{concurrency}-{c}-{uuid.uuid4().hex[:6]}"
            for n in todo:
                await timed(ask, client, session, questions[n % len(questions)], result)

        start = time.perf_counter()
        await asyncio.gather(*(conversation(c) for c in range(concurrency)))
        result.seconds = time.perf_counter() - start
    return result


async def open_loop(ask: Ask, questions: list[str], rate: float, seconds: float) -> Result:
    """Questions sent at `rate` a second for `seconds`, each in a new conversation; waits for every reply."""
    result = Result()
    limits = httpx.Limits(max_connections=MAX_IN_FLIGHT, max_keepalive_connections=64)
    in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)
    async with httpx.AsyncClient(timeout=TIMEOUT, trust_env=False, limits=limits) as client:

        async def one(n: int) -> None:
            async with in_flight:
                await timed(ask, client, f"bench-open-{rate}-{n}", questions[n % len(questions)], result)

        start = time.perf_counter()
        tasks = []
        for n in range(int(rate * seconds)):
            delay = start + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(n)))
        await asyncio.gather(*tasks)
        result.seconds = time.perf_counter() - start
    return result


async def run(
    gateway: str, rasa: str, token: str, questions: list[str], per_level: int, step_seconds: float, one: int
) -> None:
    asks = {"gateway": gateway_asker(gateway), "webhook": webhook_asker(rasa, token)}
    warm = await one_at_a_time(asks, questions[:10])
    print(f"warm-up: gateway {warm['gateway'].errors} errors, webhook {warm['webhook'].errors} errors", flush=True)

    seq = await one_at_a_time(asks, questions[10 : 10 + one])
    g50, w50 = pct(seq["gateway"].latencies, 0.5), pct(seq["webhook"].latencies, 0.5)
    print(f"\n## one at a time ({one} questions each, alternating)")
    for name, result in seq.items():
        result.seconds = sum(result.latencies)
        print(f"- {name}: {result.line()}")
    print(f"- gateway / webhook p50: {g50 * 1000:.0f} / {w50 * 1000:.0f} ms = **{g50 / w50:.2f}×** (goal ≤ 1.10×)")

    print(f"\n## closed loop, {per_level} messages per level")
    print("| conversations | gateway | webhook | p50 ratio | p95 ratio |\n|---|---|---|---|---|")
    for level in LEVELS:
        total = max(per_level, 2 * level)
        g = await closed_loop(asks["gateway"], questions, level, total)
        w = await closed_loop(asks["webhook"], questions, level, total)
        ratio50 = pct(g.latencies, 0.5) / pct(w.latencies, 0.5)
        ratio95 = pct(g.latencies, 0.95) / pct(w.latencies, 0.95)
        print(f"| {level} | {g.line()} | {w.line()} | {ratio50:.2f}× | {ratio95:.2f}× |", flush=True)

    print(f"\n## open loop on the gateway, {step_seconds:.0f} s a step")
    held = 0.0
    for rate in RATES:
        result = await open_loop(asks["gateway"], questions, rate, step_seconds)
        p95 = pct(result.latencies, 0.95)
        print(f"- offered {rate}/s: {result.line()}", flush=True)
        if result.errors or p95 > P95_LIMIT:
            print(f"- p95 passes {P95_LIMIT:.0f} s at {rate} answers/s offered; **{held:.0f} answers/s held**")
            break
        held = rate
    else:
        print(f"- p95 stayed under {P95_LIMIT:.0f} s up to {held:.0f} answers/s (the highest rate tried)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--one", type=int, default=60, help="questions asked one at a time, of each side")
    parser.add_argument("--per-level", type=int, default=64, help="messages per concurrency level and side")
    parser.add_argument("--step-seconds", type=float, default=8.0, help="seconds per open-loop rate")
    parser.add_argument("--index", type=Path, help="copy this synced INDEX_DIR in first (skips the first sync)")
    args = parser.parse_args()
    from content_sync.sample_site import ROOT as SAMPLE_SITE
    from content_sync.sample_site import serve_in_thread

    questions = [str(q["question"]) for q in load_eval().questions if q.get("lang", "en") == "en"]
    random.Random(16).shuffle(questions)
    work = Path(tempfile.mkdtemp(prefix="bench-load-"))
    site_root = work / "site"
    shutil.copytree(SAMPLE_SITE, site_root)
    server = serve_in_thread(site_root)
    site_url = f"http://127.0.0.1:{server.server_address[1]}"
    limits_off = {"RATE_LIMIT_PER_CLIENT": "0", "RATE_LIMIT_PER_SESSION": "0"}
    if args.index:
        shutil.copytree(args.index, work / "data" / "index")
    try:
        with running_stack(site_url, site_root, work / "data", wrap_env=lambda e: e | limits_off) as stack:
            rasa = f"http://127.0.0.1:{stack.env['RASA_PORT']}"
            started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
            print(f"# bench.load, {started}, {len(questions)} questions", flush=True)
            token = stack.env["RASA_TOKEN"]
            asyncio.run(run(stack.gateway, rasa, token, questions, args.per_level, args.step_seconds, args.one))
    finally:
        server.shutdown()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
