"""The `assistant` command: sync the index, check status, and preview the answer every channel would give."""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from typing import TYPE_CHECKING

from pydantic import ValidationError
from rich.console import Console

if TYPE_CHECKING:
    from channels.settings import Settings
    from content_sync.settings import SyncSettings

EPILOG = """examples:
  assistant sync                         incremental sync of every source in SYNC_SOURCES
  assistant sync --full                  re-fetch and re-embed everything
  assistant sync --url https://agency.example/appeals.html
  assistant sync --allow-deletions       let one sync delete more than a fifth of the site
  assistant status                       index version, pages, last sync, every process (exit 1: one is down)
  assistant index list                   the kept index versions, and which one serves
  assistant index rollback               serve the version before the current one again
  assistant ask "How do I appeal a decision?"
  assistant staff add admin@agency.example --role admin    (asks for the password twice)
  assistant staff list                   staff accounts, their roles, disabled or not
  assistant review export > review.csv   the review queue (what was not answered), redacted, as CSV
  assistant purge                        delete transcripts, events, SMS rows and mail older than RETENTION_DAYS
  assistant purge --days 30              the same for anything older than 30 days

Settings come from the environment or .env (see .env.example and the README)."""


def _settings() -> Settings:
    from channels.settings import describe_error, get_settings

    try:
        return get_settings()
    except ValidationError as exc:
        sys.exit(describe_error(exc))


def _sync_settings() -> SyncSettings:
    from content_sync.settings import SyncSettings

    try:
        return SyncSettings()
    except ValidationError as exc:
        from channels.settings import describe_error

        sys.exit(describe_error(exc))


def cmd_sync(args: argparse.Namespace, console: Console) -> int:
    from content_sync.cli import print_report, sync_with_progress
    from content_sync.errors import SyncError

    settings = _sync_settings()
    try:
        report = sync_with_progress(settings, args.url or None, args.full, console, args.allow_deletions)
    except SyncError as exc:
        console.print(f"[red]Sync failed:[/red] {exc}")
        return 1
    print_report(report, console)
    return 0


def cmd_status(args: argparse.Namespace, console: Console) -> int:
    from channels.rasa_client import is_up
    from content_sync.index_store import IndexStore
    from content_sync.jobs import JobStore

    settings = _settings()
    store = IndexStore(settings.index_dir)
    version = store.current_version()
    serving = next((row for row in store.describe() if row["current"]), None) if version else None
    if serving:  # meta.json only: the index itself is not loaded to say how big it is
        console.print(f"index version  {version} (published {serving['created_at']})")
        console.print(f"pages          {serving['pages']}")
        console.print(f"chunks         {serving['chunks']}")
    else:
        console.print("index version  none yet: run `assistant sync` or start the product with `make run`")
    last = JobStore(settings.database_url).latest(1)
    if last:
        job = last[0]
        console.print(
            f"last sync job  {job['status']} at {job['finished_at'] or job['created_at']}"
            + (f": {job['error']}" if job["error"] else ""),
            markup=False,
        )
    else:
        console.print("last sync job  none recorded")
    from channels.launcher import connect_host
    from content_sync.heartbeat import STALE_SECONDS, read_beats

    host = connect_host(settings.bind_host)
    checks = {
        "gateway": f"http://{host}:{settings.gateway_port}/static/chat.css",
        "rasa": settings.rasa_url + "/",
        "action server": settings.actions_url + "/health",
    }
    if settings.uses_sample_site:
        checks["sample site"] = f"http://{host}:{settings.sample_site_port}/"

    async def probe() -> dict[str, bool]:
        return dict(zip(checks, await asyncio.gather(*(is_up(url) for url in checks.values())), strict=True))

    def show(name: str, ok: bool, where: str) -> None:
        console.print(f"{name:<14} {'[green]up[/green]' if ok else '[red]down[/red]'}  {where}")

    up = asyncio.run(probe())
    for name in ("gateway", "rasa", "action server"):
        show(name, up[name], checks[name])
    import socket

    with socket.socket() as sock:
        sock.settimeout(1)
        smtp_up = sock.connect_ex((host, settings.smtp_listen_port)) == 0
    show("email", smtp_up, f"smtp://{host}:{settings.smtp_listen_port}")
    if "sample site" in up:
        show("sample site", up["sample site"], checks["sample site"])
    else:
        console.print(f"{'sample site':<14} not used (SYNC_SOURCES names the agency's own site)")
    beats = read_beats(settings.data_dir, "worker")
    alive = [b for b in beats if b.alive()]
    for beat in alive:
        show("worker", True, f"pid {beat.pid} on {beat.host}, {beat.state} (heartbeat {beat.age():.0f} s ago)")
    if not alive:
        seen = f"; last heartbeat {beats[0].age():.0f} s ago" if beats else "; no heartbeat recorded"
        show("worker", False, f"no heartbeat in {settings.data_dir / 'heartbeats'} in {STALE_SECONDS:.0f} s{seen}")
    down = [name for name, ok in up.items() if not ok] + ([] if smtp_up else ["email"]) + ([] if alive else ["worker"])
    return 1 if down else 0


def cmd_index(args: argparse.Namespace, console: Console) -> int:
    from rich.table import Table

    from content_sync.errors import IndexNotReady
    from content_sync.index_store import IndexStore

    sync_settings = _sync_settings()  # no gateway secrets needed to look at the index
    store = IndexStore(sync_settings.index_dir, sync_settings.redis_url)  # a rollback is announced on Redis
    versions = store.describe()
    if args.index_command == "list":
        if not versions:
            console.print("no index version yet: run `assistant sync` or start the product with `make run`")
            return 1
        table = Table(box=None)
        table.add_column("version", no_wrap=True)
        table.add_column("published (UTC)", no_wrap=True)
        table.add_column("pages", justify="right")
        table.add_column("chunks", justify="right")
        table.add_column("serving")
        for row in versions:
            published = str(row["created_at"] or "")[:19].replace("T", " ")
            serving = "[green]yes[/green]" if row["current"] else ""
            table.add_row(row["version"], published, str(row["pages"]), str(row["chunks"]), serving)
        console.print(table)
        return 0
    target = args.version
    if target is None:
        names = [row["version"] for row in versions]
        current = store.current_version()
        older = names[: names.index(current)] if current in names else []
        if not older:
            console.print("[red]No older version is kept to roll back to.[/red] `assistant index list` shows them.")
            return 1
        target = older[-1]
    from content_sync.errors import SyncBusy
    from content_sync.sync import sync_lock

    try:
        with sync_lock(_sync_settings().sync_lock_dir, wait=False):  # not while a sync publishes or prunes
            store.switch(target)
    except (IndexNotReady, SyncBusy) as exc:
        console.print(f"[red]{exc}[/red]")
        return 1
    console.print(
        f"now serving index version {target}; every reader switches to it as soon as it has loaded it "
        "(about a second). The next sync starts from it, and keeps it."
    )
    return 0


def cmd_ask(args: argparse.Namespace, console: Console) -> int:
    from channels.answers import answers_from_rasa, render_text
    from channels.rasa_client import RasaClient, RasaUnavailable

    settings = _settings()
    try:
        replies = RasaClient(settings.rasa_url, settings.rasa_token.get_secret_value()).send_sync(
            f"cli:{uuid.uuid4().hex}", " ".join(args.question)
        )
    except RasaUnavailable as exc:
        console.print(f"[red]{exc}[/red]\nStart the product with `make run`, then ask again.")
        return 1
    print(render_text(answers_from_rasa(replies)))
    return 0


def cmd_staff(args: argparse.Namespace, console: Console) -> int:
    from channels.staff.cli import run

    return run(args, _sync_settings().database_url, console)  # only DATABASE_URL: no gateway secrets needed


def cmd_review(args: argparse.Namespace, console: Console) -> int:
    from channels.review.cli import run

    return run(args, _sync_settings().database_url)  # only DATABASE_URL: no gateway secrets needed


def cmd_purge(args: argparse.Namespace, console: Console) -> int:
    from channels.email.listener import Spool
    from channels.review.store import ReviewStore
    from channels.store import ChannelStore

    settings = _settings()
    days = args.days or settings.retention_days
    store = ChannelStore(settings.database_url, privacy_key=settings.privacy_key.get_secret_value())
    counts = store.purge_older_than(days)
    counts.update(
        {f"review {table}": n for table, n in ReviewStore(settings.database_url).purge_older_than(days).items()}
    )
    spool = settings.data_dir / "mail"
    files = Spool(spool).purge_older_than(days) if spool.is_dir() else 0
    rows = ", ".join(f"{count} from {table}" for table, count in counts.items())
    print(f"Deleted what was older than {days} days: {rows}; {files} spooled mail files.")
    return 0


def _days(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of days (1 or more)")
    return int(value)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="assistant",
        description="Operate the public-service assistant: keep its index in step with the agency's site, "
        "check that it is healthy, and preview its answers.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sync = sub.add_parser("sync", help="crawl the sources and publish a new index version (progress bar, report)")
    sync.add_argument("--full", action="store_true", help="re-fetch and re-embed everything, ignoring caches")
    sync.add_argument("--url", action="append", metavar="URL", help="sync only this page (repeatable)")
    sync.add_argument(
        "--allow-deletions",
        action="store_true",
        help="delete pages even when more than a fifth of the site (or 10 pages) would go in one sync",
    )
    sync.set_defaults(func=cmd_sync)
    status = sub.add_parser(
        "status",
        help="index version, pages, chunks, last sync and the health of every process, the worker included "
        "(exit status 1 when one is down)",
    )
    status.set_defaults(func=cmd_status)
    index = sub.add_parser("index", help="list the kept index versions, or roll back to one")
    index_sub = index.add_subparsers(dest="index_command", required=True, metavar="ACTION")
    index_sub.add_parser("list", help="every kept version: when it was published, pages, chunks, which serves")
    rollback = index_sub.add_parser("rollback", help="serve an earlier version again (default: the one before)")
    rollback.add_argument("version", nargs="?", help="a version name from `assistant index list`")
    index.set_defaults(func=cmd_index)
    ask = sub.add_parser("ask", help="print the answer every channel would give to a question")
    ask.add_argument("question", nargs="+", help='the question, e.g. "How do I appeal a decision?"')
    ask.set_defaults(func=cmd_ask)
    from channels.staff.cli import add_parser as add_staff_parser

    add_staff_parser(sub).set_defaults(func=cmd_staff)
    from channels.review.cli import add_parser as add_review_parser

    add_review_parser(sub).set_defaults(func=cmd_review)
    purge = sub.add_parser("purge", help="delete personal data older than RETENTION_DAYS (the gateway does it daily)")
    purge.add_argument("--days", type=_days, metavar="N", help="keep only the last N days instead")
    purge.set_defaults(func=cmd_purge)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args, Console()))


if __name__ == "__main__":
    sys.exit(main())
