"""`assistant staff add|list|disable|enable`: staff accounts from the command line (the first admin is made here)."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TextIO

from rich.console import Console

from channels.staff.passwords import hash_password, password_problem
from channels.staff.store import ROLES, StaffError, StaffStore, normalise_email

EXAMPLES = """examples:
  assistant staff add admin@agency.example --role admin        asks for the password twice
  printf '%s\\n' "$PASSWORD" | assistant staff add reviewer@agency.example --role reviewer --password-stdin
  assistant staff list                                         every account, its role and status
  assistant staff disable reviewer@agency.example              it can no longer sign in; its sessions end
  assistant staff enable reviewer@agency.example
  assistant staff password reviewer@agency.example             a new password (asked twice); its sessions end"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Add the `staff` command and its actions to the `assistant` parser; returns the `staff` parser."""
    staff = sub.add_parser(
        "staff",
        help="staff accounts for the /staff/ pages: add, list, disable, enable",
        description="Staff accounts for the /staff/ pages. There is no default account: add the first admin here.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = staff.add_subparsers(dest="staff_command", required=True, metavar="ACTION")
    add = actions.add_parser(
        "add",
        help="make an account (password from a prompt, asked twice, or --password-stdin)",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add.add_argument("email", help="the sign-in email address, e.g. reviewer@agency.example")
    add.add_argument("--role", required=True, choices=ROLES, help="reviewer < editor < admin (each includes the last)")
    add.add_argument(
        "--password-stdin", action="store_true", help="read the password from the first line of standard input"
    )
    actions.add_parser("list", help="every account, with its role and whether it is disabled")
    disable = actions.add_parser("disable", help="stop an account signing in, and end its sessions")
    disable.add_argument("email")
    enable = actions.add_parser("enable", help="let a disabled account sign in again")
    enable.add_argument("email")
    password = actions.add_parser("password", help="set a new password for an account, ending its sessions")
    password.add_argument("email")
    password.add_argument(
        "--password-stdin", action="store_true", help="read the password from the first line of standard input"
    )
    return staff


def _looks_like_email(email: str) -> bool:
    local, at, domain = email.partition("@")
    return bool(at and local and "." in domain and " " not in email and len(email) <= 254 and "@" not in domain)


def _read_password(args: argparse.Namespace, stdin: TextIO) -> str | None:
    if args.password_stdin:
        return stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password (at least 12 characters): ")
    if getpass.getpass("The same password again: ") != first:
        return None
    return first


def cmd_add(args: argparse.Namespace, store: StaffStore, console: Console, stdin: TextIO) -> int:
    """Make an account: refuse a malformed email, a weak password or a taken email, saying what to do."""
    email = normalise_email(args.email)
    if not _looks_like_email(email):
        console.print(f"[red]{args.email!r} is not an email address[/red]: give one like reviewer@agency.example")
        return 1
    password = _read_password(args, stdin)
    if password is None:
        console.print("[red]The two passwords are different.[/red] Run the command again and type the same one twice.")
        return 1
    problem = password_problem(password, email)
    if problem:
        console.print(f"[red]Password refused:[/red] {problem}.")
        return 1
    try:
        member = store.add_staff(email, args.role, hash_password(password))
    except StaffError as exc:
        console.print(f"[red]Not added:[/red] {exc}")
        return 1
    store.record_audit("staff.add", target=member.email, detail={"role": member.role}, client="cli")
    console.print(f"Added {member.email} as {member.role}. They can sign in at /staff/login.")
    return 0


def cmd_password(args: argparse.Namespace, store: StaffStore, console: Console, stdin: TextIO) -> int:
    """Set a new password for an existing account (its sessions end)."""
    email = normalise_email(args.email)
    if store.staff_by_email(email) is None:
        console.print(f"[red]There is no staff account for {email}[/red]: `assistant staff list` shows them.")
        return 1
    password = _read_password(args, stdin)
    if password is None:
        console.print("[red]The two passwords are different.[/red] Run the command again and type the same one twice.")
        return 1
    problem = password_problem(password, email)
    if problem:
        console.print(f"[red]Password refused:[/red] {problem}.")
        return 1
    member = store.reset_password(email, hash_password(password))
    store.record_audit("staff.password", target=member.email, client="cli")
    console.print(f"New password set for {member.email}; it was signed out everywhere.")
    return 0


def cmd_list(store: StaffStore, console: Console) -> int:
    """Print every account, its role and status."""
    members = store.list_staff()
    if not members:
        console.print("No staff accounts yet: add one with `assistant staff add EMAIL --role admin`.")
        return 0
    from rich.table import Table

    table = Table(box=None)
    for column in ("email", "role", "created (UTC)", "status"):
        table.add_column(column, no_wrap=True)
    for member in members:
        status = "[red]disabled[/red]" if member.disabled else "active"
        table.add_row(member.email, member.role, member.created_at.strftime("%Y-%m-%d %H:%M"), status)
    console.print(table)
    return 0


def cmd_set_disabled(args: argparse.Namespace, store: StaffStore, console: Console, disabled: bool) -> int:
    """Disable or enable an account named by email."""
    try:
        member = store.set_disabled(args.email, disabled)
    except StaffError as exc:
        console.print(f"[red]{exc}[/red]")
        return 1
    store.record_audit("staff.disable" if disabled else "staff.enable", target=member.email, client="cli")
    if disabled:
        console.print(f"Disabled {member.email}: it cannot sign in, and its sessions have ended.")
    else:
        console.print(f"Enabled {member.email}: it can sign in again.")
    return 0


def run(args: argparse.Namespace, database_url: str, console: Console, stdin: TextIO | None = None) -> int:
    """Run `assistant staff ACTION` against `database_url` (the staff tables are migrated first)."""
    store = StaffStore(database_url)
    if args.staff_command == "add":
        return cmd_add(args, store, console, stdin or sys.stdin)
    if args.staff_command == "list":
        return cmd_list(store, console)
    if args.staff_command == "password":
        return cmd_password(args, store, console, stdin or sys.stdin)
    return cmd_set_disabled(args, store, console, disabled=args.staff_command == "disable")
