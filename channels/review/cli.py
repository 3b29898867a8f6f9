"""`assistant review export`: the review queue as CSV on standard output, new answer events taken in first."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime, time
from typing import TextIO

from channels.review.export import write_csv
from channels.review.ingest import ingest_new
from channels.review.store import STATUSES, QueueFilter, ReviewStore
from channels.store import ChannelStore

EXAMPLES = """examples:
  assistant review export > review.csv                 every item, newest first
  assistant review export --status new --channel sms   only new SMS questions
  assistant review export --since 2026-12-01           asked on or after that day (UTC)"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Add the `review` command and its actions to the `assistant` parser; returns the `review` parser."""
    review = sub.add_parser(
        "review",
        help="the review queue of questions the assistant could not answer: export it as CSV",
        description="The review queue: questions the assistant could not answer, ratings of 'not helpful' and "
        "requests for a person, on every channel, with personal data redacted.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = review.add_subparsers(dest="review_command", required=True, metavar="ACTION")
    export = actions.add_parser(
        "export",
        help="print the queue as CSV (id,channel,question,first_seen,last_seen,count,status,...)",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    export.add_argument("--status", choices=STATUSES, help="only items with this status")
    export.add_argument("--channel", choices=("web", "sms", "email"), help="only items from this channel")
    export.add_argument("--since", type=date.fromisoformat, metavar="YYYY-MM-DD", help="last asked on or after")
    export.add_argument("--until", type=date.fromisoformat, metavar="YYYY-MM-DD", help="first asked on or before")
    return review


def export(args: argparse.Namespace, database_url: str, out: TextIO) -> int:
    """Take in the answer events not in the queue yet, then write the queue as CSV to `out`."""
    channels = ChannelStore(database_url)
    review = ReviewStore(database_url)
    ingest_new(channels, review)
    queue = QueueFilter(
        status=args.status,
        channel=args.channel,
        since=datetime.combine(args.since, time.min, UTC) if args.since else None,
        until=datetime.combine(args.until, time.max, UTC) if args.until else None,
    )
    write_csv(review.items(queue=queue), out)
    return 0


def run(args: argparse.Namespace, database_url: str) -> int:
    """Run `assistant review <action>`."""
    if args.review_command == "export":
        return export(args, database_url, sys.stdout)
    raise SystemExit(f"unknown review action {args.review_command!r}; try `assistant review --help`")
