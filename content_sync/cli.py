"""`assistant sync`: a sync in the foreground, with a progress bar and the report at the end."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from content_sync.settings import SyncSettings
from content_sync.sync import SyncReport, run_sync


def sync_with_progress(
    settings: SyncSettings, urls: list[str] | None, full: bool, console: Console, allow_deletions: bool = False
) -> SyncReport:
    """Run a sync, drawing one bar per step."""
    with Progress(
        TextColumn("[bold]{task.description:<8}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = bar.add_task(step, total=max(total, 1))
            bar.update(tasks[step], completed=done, total=max(total, 1))

        console.print(f"Syncing {', '.join(urls or settings.sources)} ({'full' if full else 'incremental'})")
        return run_sync(settings, urls=urls, full=full, progress=progress, wait=False, allow_deletions=allow_deletions)


def print_report(report: SyncReport, console: Console) -> None:
    """The sync report as a table, then every skip with its reason."""
    if report.published:
        console.print(f"[bold]Sync report[/bold]: published index version {report.index_version}")
    else:
        console.print(f"[bold]Sync report[/bold]: nothing changed; index version {report.index_version} keeps serving")
    for note in report.recovered:
        console.print(f"  recovered from a sync that stopped: {note}", markup=False, highlight=False)
    table = Table(show_header=False)
    table.add_column("what", style="bold")
    table.add_column("count", justify="right")
    for name, count in report.summary().items():
        table.add_row(name, str(count))
    table.add_row("seconds", f"{report.seconds.get('total', 0):.1f}")
    console.print(table)
    for skip in report.skipped:
        console.print(f"  skipped {skip['url']}: {skip['reason']}", markup=False, highlight=False)
    for url in report.deleted:
        console.print(f"  deleted {url}: {report.reasons.get(url, '')}", markup=False, highlight=False)
    for url in report.kept:
        console.print(f"  kept {url}: {report.reasons.get(url, '')}", markup=False, highlight=False)
    for error in report.errors:
        console.print(f"  {error}", style="yellow", markup=False, highlight=False)
