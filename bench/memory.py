"""Resident memory of every process of the running product, summed over each process's tree.

    .venv/bin/python -m bench.memory [--idle-wait 130]

Starts the product with the launcher `make run` uses (bench.stack.running_stack, RATE_LIMIT_PER_CLIENT=0) on
a copy of the sample site, waits until /healthz is 200 and the first sync is done, and reads /proc at three
moments in the same run:
- "ready": healthy, nothing asked yet;
- "busy": just after 20 questions on web chat, a third of them unanswerable (so the review queue embeds and
  clusters them: its embedding child process is alive), and an incremental sync job just queued (its child
  process starting; nothing changed on the site, so it loads no model);
- "idle": `--idle-wait` seconds later, when the children have exited (the embedding child after
  content_sync.embed.CHILD_IDLE_SECONDS).

Each figure is RSS (shared pages counted in every process: what `ps` shows) and PSS (shared pages split
between the processes that map them: sums to what the machine really spends), both in MB, for each Procfile
entry with every process it started (Sanic's worker under the action server, a sync job's child under the
worker, the embedding child under the gateway). The same-run baseline is the old worker: a process that
loads the model and stays idle, as the worker did before a job ran in a child of its own.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stack import Stack, process_tree, running_stack  # noqa: E402

GOAL_MB = 2500  # issue 16: at most 2.5 GB for the whole product
AIM_MB = 1800
ANSWERABLE = [
    "How do I apply for SNAP benefits?",
    "What documents do I need to renew my driver's license?",
    "How long does an unemployment claim take to process?",
    "Where can I get help paying my heating bill?",
    "How do I report a change of address?",
    "What is the income limit for Medicaid?",
    "Can I appeal a decision about my benefits?",
]
UNANSWERABLE = [
    "What is the airspeed velocity of an unladen swallow?",
    "Can you book me a table at a restaurant downtown?",
    "Who won the football game last night?",
]


def _read(pid: int) -> tuple[str, float, float] | None:
    """(command line, RSS MB, PSS MB) of one process, or None once it is gone."""
    try:
        cmd = (Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")).strip()
        rss = pss = 0
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
        return cmd, rss / 1024, pss / 1024
    except (OSError, ValueError):
        return None


ROLES = [  # (role, a pattern of the command line of the Procfile entry's first process)
    ("gateway", re.compile(r"uvicorn channels\.app")),
    ("Rasa server", re.compile(r"rasa run")),
    ("action server", re.compile(r"assistant\.actions\.server")),
    ("sync worker", re.compile(r"-m content_sync(\s|$)")),
    ("email listener", re.compile(r"-m channels\.email(\s|$)")),
    ("sample site", re.compile(r"content_sync\.sample_site")),
]


def snapshot(launcher: int) -> dict[str, dict[str, float]]:
    """Per role: processes, RSS and PSS summed over the role's tree; plus the launcher (honcho) itself."""
    tree = process_tree(launcher)
    seen: dict[int, tuple[str, float, float]] = {}
    for pid in tree:
        found = _read(pid)
        if found is not None:
            seen[pid] = found
    out: dict[str, dict[str, float]] = {}
    placed: set[int] = set()
    for role, piece in ROLES:
        heads = [pid for pid, (cmd, _, _) in seen.items() if piece.search(cmd)]
        pids: set[int] = set()
        for head in heads:
            pids |= process_tree(head) & set(seen)
        pids -= placed
        placed |= pids
        out[role] = {
            "processes": len(pids),
            "rss_mb": sum(seen[p][1] for p in pids),
            "pss_mb": sum(seen[p][2] for p in pids),
        }
    rest = set(seen) - placed
    out["launcher and shells"] = {
        "processes": len(rest),
        "rss_mb": sum(seen[p][1] for p in rest),
        "pss_mb": sum(seen[p][2] for p in rest),
    }
    out["all"] = {
        "processes": len(seen),
        "rss_mb": sum(v[1] for v in seen.values()),
        "pss_mb": sum(v[2] for v in seen.values()),
    }
    return out


def old_worker_baseline() -> tuple[float, float]:
    """RSS and PSS (MB) of a process that loads the model and waits, as the idle worker did before."""
    code = (
        "from content_sync.embed import get_model; from content_sync.settings import get_sync_settings; "
        "get_model(get_sync_settings().embedding_model); import sys; print('ready', flush=True); sys.stdin.read()"
    )
    with subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as probe:
        assert probe.stdout is not None and probe.stdin is not None
        probe.stdout.readline()
        found = _read(probe.pid)
        probe.stdin.close()
        probe.wait(30)
    assert found is not None
    return found[1], found[2]


def ask_some(stack: Stack) -> None:
    """20 web chat questions, a third unanswerable, each in its own conversation."""
    questions = (ANSWERABLE * 2 + UNANSWERABLE * 2)[:20]
    for question in questions:
        httpx.post(stack.gateway + "/api/chat", json={"text": question}, timeout=60).raise_for_status()


def start_sync(stack: Stack) -> None:
    auth = {"Authorization": f"Bearer {stack.sync_token}"}
    response = httpx.post(stack.gateway + "/api/sync", json={}, headers=auth, timeout=30)
    response.raise_for_status()


def table(moments: dict[str, dict[str, dict[str, float]]]) -> str:
    names = list(moments)
    rows = ["| process (with its children) | " + " | ".join(f"{n}: RSS / PSS" for n in names) + " |"]
    rows.append("|---" * (len(names) + 1) + "|")
    for role in next(iter(moments.values())):
        cells = []
        for n in names:
            v = moments[n][role]
            cells.append(f"{v['rss_mb']:.0f} / {v['pss_mb']:.0f} MB ({v['processes']:.0f})")
        label = f"**{role}**" if role == "all" else role
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--idle-wait", type=float, default=130.0, help="seconds from 'busy' to 'idle'")
    args = parser.parse_args()
    from content_sync.sample_site import ROOT as SAMPLE_SITE
    from content_sync.sample_site import serve_in_thread

    work = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    site_root = work / "site"
    shutil.copytree(SAMPLE_SITE, site_root)
    server = serve_in_thread(site_root)
    site_url = f"http://127.0.0.1:{server.server_address[1]}"
    moments: dict[str, dict[str, dict[str, float]]] = {}
    try:
        with running_stack(
            site_url, site_root, work / "data", wrap_env=lambda e: e | {"RATE_LIMIT_PER_CLIENT": "0"}
        ) as stack:
            time.sleep(5)  # the warm-ups that follow /healthz (the action worker's index, the analyzer)
            moments["ready"] = snapshot(stack.pid)
            ask_some(stack)
            start_sync(stack)
            time.sleep(6)  # the review loop's next pass (every 3 s) has started its embedding child
            moments["busy"] = snapshot(stack.pid)
            time.sleep(args.idle_wait)
            moments["idle"] = snapshot(stack.pid)
    finally:
        server.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    rss, pss = old_worker_baseline()
    print(table(moments))
    for name, found in moments.items():
        total = found["all"]
        print(
            f"\n{name}: {total['rss_mb']:.0f} MB RSS, {total['pss_mb']:.0f} MB PSS in {total['processes']:.0f} "
            f"processes; goal {GOAL_MB} MB (PSS {total['pss_mb'] / GOAL_MB:.2f}× the goal), aim {AIM_MB} MB"
        )
    idle_worker = moments["idle"]["sync worker"]
    print(
        f"\nsame-run baseline: a process holding the model, as the idle worker did: {rss:.0f} MB RSS / "
        f"{pss:.0f} MB PSS; the idle worker now: {idle_worker['rss_mb']:.0f} / {idle_worker['pss_mb']:.0f} MB "
        f"({idle_worker['rss_mb'] / rss:.2f}× by RSS)"
    )


if __name__ == "__main__":
    main()
