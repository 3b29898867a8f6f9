"""Processes that must not hold the embedding model (issue 16): the idle sync worker, and the gateway's
redaction and review clustering. Real model, real worker process, a real site on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.stack import free_port
from content_sync.embed import ChildEmbedder, embed_texts
from content_sync.jobs import JobStore
from content_sync.sample_site import serve_in_thread

ROOT = Path(__file__).resolve().parents[2]
MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def holds_torch(pid: int) -> bool:
    """True when the process has torch's library mapped (it was imported there)."""
    return "libtorch" in Path(f"/proc/{pid}/maps").read_text()


def test_the_idle_worker_holds_no_model_before_or_after_a_job_that_embeds(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "apply.html").write_text(
        "<html><head><title>Apply for help</title></head><body><main><h1>Apply for help</h1>"
        "<p>Fill in form H-1 and send it to the county office within ten days of your interview.</p>"
        "</main></body></html>"
    )
    server = serve_in_thread(site)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    data = tmp_path / "data"
    env = {
        **os.environ,
        "DATA_DIR": str(data),
        "DATABASE_URL": f"sqlite:///{data / 'assistant.db'}",
        "SYNC_SOURCES": url + "/apply.html",
        "ALLOWED_DOMAINS": url.removeprefix("http://"),
        "HF_HUB_OFFLINE": "1",
        "GATEWAY_PORT": str(free_port()),
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "content_sync.schedule"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL
    )
    try:
        jobs = JobStore(env["DATABASE_URL"])
        deadline = time.monotonic() + 600  # seconds on a quiet machine; minutes on a crowded one
        job = None
        while time.monotonic() < deadline:
            found = jobs.latest(1) if (data / "assistant.db").exists() else []
            job = found[0] if found else None
            if job and job["status"] in ("succeeded", "failed"):
                break
            time.sleep(0.5)
        assert job is not None and job["status"] == "succeeded", job
        assert job["report"]["embedded"] >= 1, job["report"]  # the job loaded the model (in its child)
        time.sleep(1)
        assert worker.poll() is None, "the worker keeps running after the job"
        assert not holds_torch(worker.pid), "the idle worker still holds torch after its job"
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        server.shutdown()
        server.server_close()  # its listening socket, else an unclosed-socket warning


def test_redaction_and_clustering_embeddings_leave_torch_out_of_the_calling_process() -> None:
    code = (
        "import json, sys\n"
        "from channels.privacy import redact\n"
        "from channels.review.cluster import embed_questions\n"
        "text = redact('my SSN is 123-45-6789, call 555-010-1234')\n"
        f"vectors = embed_questions({MODEL!r}, ['How do I apply for food stamps', 'how can I apply for food stamps'])\n"
        "mods = [m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules]\n"
        "print(json.dumps({'text': text, 'shape': list(vectors.shape), 'norm': float(abs(vectors[0]).sum()),"
        " 'cos': float(vectors[0] @ vectors[1]), 'mods': mods}))\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=True
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["text"] == "my SSN is [SSN], call [PHONE]"
    assert result["shape"] == [2, 384]
    assert result["cos"] > 0.5  # two wordings of one question: the model ran
    assert result["mods"] == [], "torch or transformers was imported by redaction or clustering"


def test_a_child_embedder_gives_the_same_vectors_and_exits_when_idle() -> None:
    texts = ["How do I renew my benefits?", "¿Dónde entrego el formulario?"]
    child = ChildEmbedder(MODEL, idle=1.0)
    try:
        got = child.embed(texts)
        assert child.running()
        np.testing.assert_allclose(got, embed_texts(MODEL, texts), atol=1e-5)
        deadline = time.monotonic() + 30
        while child.running() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not child.running(), "the child embedder did not exit after its idle time"
        again = child.embed(texts[:1])  # a new child is started for the next request
        np.testing.assert_allclose(again[0], got[0], atol=1e-5)
    finally:
        child.close()
