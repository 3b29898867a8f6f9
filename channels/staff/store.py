"""The staff tables (accounts, sessions, failed sign-ins, audit log): the only staff code that touches the database.

The schema is kept by the alembic migrations in `channels/staff/migrations/`, with their own version table
(`staff_alembic_version`), beside the channels' (`channels_alembic_version`) in the same database (ADR 7, ADR 10).
`upgrade_database` runs them to head; `StaffStore` calls it when it is made, which is when the gateway starts or
the `assistant staff` command runs. On SQLite, processes take turns through a lock file beside the database;
anywhere, a failed upgrade is forgiven when the schema turns out to be at head (another process won the race).

Other staff packages write to the audit log through `StaffStore.record_audit` (or the `AuditDep` dependency in
`channels.staff.auth`, which fills in who and from where) and read it with `StaffStore.list_audit`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from channels.migrate import MigrationChain
from content_sync.jobs import get_engine

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "staff_alembic_version"
# alembic's `context` and `op` are process-wide proxies: two threads migrating at once would run each other's
# statements on the wrong connection (a deadlock on PostgreSQL). Threads take turns; processes race as above.
ROLES = ("reviewer", "editor", "admin")  # each can do everything the ones before it can

metadata = sa.MetaData()

staff_users = sa.Table(
    "staff_users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("email", sa.String(254), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
)
"""Staff accounts. There is no default account: `assistant staff add` makes the first one.

    email           the sign-in name, stored lower-case; unique
    role            reviewer, editor or admin (see ROLES)
    password_hash   argon2id, in the PHC string format ($argon2id$v=19$m=...,t=...,p=...$salt$hash)
    disabled        a disabled account cannot sign in, and its sessions are ended when it is disabled
"""

staff_sessions = sa.Table(
    "staff_sessions",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("staff_id", sa.Integer, sa.ForeignKey("staff_users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("csrf_secret", sa.String(64), nullable=False),
    sa.Index("ix_staff_sessions_staff_id", "staff_id"),
    sa.Index("ix_staff_sessions_expires_at", "expires_at"),
)
"""Signed-in browsers, server-side: the cookie holds a random token, and only its SHA-256 is kept here.

    token_hash      hex SHA-256 of the cookie's token (a stolen database does not give working cookies)
    last_seen_at    the last request; a session idle longer than STAFF_IDLE_MINUTES has ended
    expires_at      when it ends whatever happens (STAFF_SESSION_HOURS after sign-in)
    csrf_secret     the synchroniser token every form of this session carries (and X-CSRF-Token)
"""

login_failures = sa.Table(
    "login_failures",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("email", sa.String(254), nullable=False),
    sa.Column("client", sa.String(64), nullable=False),
    sa.Index("ix_login_failures_email_at", "email", "at"),
    sa.Index("ix_login_failures_client_at", "client", "at"),
)
"""Failed sign-ins, for the lockout: per email typed (known or not, so a lockout tells nothing) and per client
address. A successful sign-in forgets its email's failures.
"""

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("staff_id", sa.Integer, nullable=True),
    sa.Column("staff_email", sa.String(254), nullable=True),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target", sa.Text, nullable=True),
    sa.Column("detail", sa.JSON, nullable=True),
    sa.Column("client", sa.String(64), nullable=True),
    sa.Index("ix_audit_log_at", "at"),
    sa.Index("ix_audit_log_action_at", "action", "at"),
    sa.Index("ix_audit_log_staff_email_at", "staff_email", "at"),
)
"""Everything staff did, newest last. Kept as written: no code updates or deletes a row.

    staff_id, staff_email   who (the email as typed, for a failed sign-in; NULL for the command line)
    action                  dotted name: login.ok, login.failed, login.locked, logout, staff.add, staff.disable,
                            and other packages' own (review.status, ...)
    target                  what it was done to (an account's email, a review item's id), if anything
    detail                  a JSON object with the rest (never a password or a token)
    client                  the client address the request came from ("cli" for the command line)
"""


class StaffError(Exception):
    """Something about staff accounts that the caller can fix; the message says how."""


class StaffExists(StaffError):
    """An account with that email is already there."""


class UnknownStaff(StaffError):
    """No account with that email."""


@dataclass(frozen=True)
class StaffMember:
    """One staff account, without its password hash."""

    id: int
    email: str
    role: str
    created_at: datetime
    disabled: bool


@dataclass(frozen=True)
class StaffSession:
    """A signed-in browser and the account it belongs to."""

    token_hash: str
    staff: StaffMember
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    csrf_secret: str


@dataclass(frozen=True)
class AuditEntry:
    """One row of the audit log."""

    id: int
    at: datetime
    staff_id: int | None
    staff_email: str | None
    action: str
    target: str | None
    detail: dict[str, Any]
    client: str | None


def normalise_email(email: str) -> str:
    """The form accounts are stored and looked up in: trimmed, lower-case."""
    return email.strip().lower()


def _utc(value: datetime) -> datetime:
    """SQLite gives back naive datetimes; they were written in UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


CHAIN = MigrationChain("staff", MIGRATIONS, VERSION_TABLE)


def head_revision() -> str | None:
    """The newest migration's revision id."""
    return CHAIN.head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None before the first migration)."""
    return CHAIN.current(engine)


def upgrade_database(database_url: str) -> None:
    """Run this package's migrations up to head (channels/migrate.py: one at a time, safe when hosts race)."""
    CHAIN.upgrade(database_url)


def _member(row: Mapping[Any, Any]) -> StaffMember:
    return StaffMember(
        id=row["id"],
        email=row["email"],
        role=row["role"],
        created_at=_utc(row["created_at"]),
        disabled=bool(row["disabled"]),
    )


_MEMBER_COLUMNS = (
    staff_users.c.id,
    staff_users.c.email,
    staff_users.c.role,
    staff_users.c.created_at,
    staff_users.c.disabled,
)


class StaffStore:
    """Staff accounts, their sessions, failed sign-ins and the audit log."""

    def __init__(self, database_url: str, migrate: bool = True) -> None:
        if migrate:
            upgrade_database(database_url)
        self.engine = get_engine(database_url)

    # --- accounts ---

    def add_staff(self, email: str, role: str, password_hash: str, now: datetime | None = None) -> StaffMember:
        """Make an account. Raises StaffExists when the email is taken, StaffError for an unknown role."""
        if role not in ROLES:
            raise StaffError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
        email = normalise_email(email)
        row = {
            "email": email,
            "role": role,
            "password_hash": password_hash,
            "created_at": now or datetime.now(UTC),
            "disabled": False,
        }
        try:
            with self.engine.begin() as conn:
                conn.execute(staff_users.insert().values(**row))
        except sa.exc.IntegrityError:
            raise StaffExists(
                f"a staff account for {email} already exists; `assistant staff list` shows the accounts"
            ) from None
        found = self.staff_by_email(email)
        assert found is not None
        return found

    def staff_by_email(self, email: str) -> StaffMember | None:
        """The account for `email` (any case), disabled or not."""
        query = sa.select(*_MEMBER_COLUMNS).where(staff_users.c.email == normalise_email(email))
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return _member(row) if row is not None else None

    def staff_by_id(self, staff_id: int) -> StaffMember | None:
        """The account with this id, disabled or not."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(*_MEMBER_COLUMNS).where(staff_users.c.id == staff_id)).mappings().first()
        return _member(row) if row is not None else None

    def password_hash(self, staff_id: int) -> str | None:
        """The stored argon2id hash, for checking a password at sign-in."""
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(staff_users.c.password_hash).where(staff_users.c.id == staff_id)
            ).scalar_one_or_none()

    def set_password_hash(self, staff_id: int, password_hash: str) -> None:
        """Replace the stored hash (a new password, or the same one re-hashed with newer parameters)."""
        with self.engine.begin() as conn:
            conn.execute(staff_users.update().where(staff_users.c.id == staff_id).values(password_hash=password_hash))

    def reset_password(self, email: str, password_hash: str) -> StaffMember:
        """Give the account a new password hash and end its sessions. Raises UnknownStaff when there is none."""
        email = normalise_email(email)
        with self.engine.begin() as conn:
            staff_id = conn.execute(sa.select(staff_users.c.id).where(staff_users.c.email == email)).scalar()
            if staff_id is None:
                raise UnknownStaff(f"there is no staff account for {email}; `assistant staff list` shows them")
            conn.execute(staff_users.update().where(staff_users.c.id == staff_id).values(password_hash=password_hash))
            conn.execute(staff_sessions.delete().where(staff_sessions.c.staff_id == staff_id))
        found = self.staff_by_id(staff_id)
        assert found is not None
        return found

    def list_staff(self) -> list[StaffMember]:
        """Every account, by email."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(*_MEMBER_COLUMNS).order_by(staff_users.c.email)).mappings().all()
        return [_member(row) for row in rows]

    def set_disabled(self, email: str, disabled: bool) -> StaffMember:
        """Disable (ending its sessions) or enable an account. Raises UnknownStaff when there is none."""
        email = normalise_email(email)
        with self.engine.begin() as conn:
            staff_id = conn.execute(sa.select(staff_users.c.id).where(staff_users.c.email == email)).scalar()
            if staff_id is None:
                raise UnknownStaff(f"there is no staff account for {email}; `assistant staff list` shows them")
            conn.execute(staff_users.update().where(staff_users.c.id == staff_id).values(disabled=disabled))
            if disabled:
                conn.execute(staff_sessions.delete().where(staff_sessions.c.staff_id == staff_id))
        found = self.staff_by_id(staff_id)
        assert found is not None
        return found

    # --- sessions ---

    def create_session(
        self, token_hash: str, staff_id: int, csrf_secret: str, expires_at: datetime, now: datetime | None = None
    ) -> None:
        """Keep a new session (the caller made the token and keeps only its hash)."""
        now = now or datetime.now(UTC)
        row = {
            "token_hash": token_hash,
            "staff_id": staff_id,
            "created_at": now,
            "last_seen_at": now,
            "expires_at": expires_at,
            "csrf_secret": csrf_secret,
        }
        with self.engine.begin() as conn:
            conn.execute(staff_sessions.insert().values(**row))

    def session(self, token_hash: str) -> StaffSession | None:
        """The session with this token hash and its account, whatever its age (the caller checks it)."""
        query = (
            sa.select(
                staff_sessions.c.token_hash,
                staff_sessions.c.created_at.label("session_created_at"),
                staff_sessions.c.last_seen_at,
                staff_sessions.c.expires_at,
                staff_sessions.c.csrf_secret,
                *_MEMBER_COLUMNS,
            )
            .join(staff_users, staff_users.c.id == staff_sessions.c.staff_id)
            .where(staff_sessions.c.token_hash == token_hash)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            return None
        return StaffSession(
            token_hash=row["token_hash"],
            staff=_member(row),
            created_at=_utc(row["session_created_at"]),
            last_seen_at=_utc(row["last_seen_at"]),
            expires_at=_utc(row["expires_at"]),
            csrf_secret=row["csrf_secret"],
        )

    def touch_session(self, token_hash: str, now: datetime | None = None) -> None:
        """Note a request on the session (its idle time starts again)."""
        with self.engine.begin() as conn:
            conn.execute(
                staff_sessions.update()
                .where(staff_sessions.c.token_hash == token_hash)
                .values(last_seen_at=now or datetime.now(UTC))
            )

    def delete_session(self, token_hash: str) -> None:
        """End one session (sign-out, expiry)."""
        with self.engine.begin() as conn:
            conn.execute(staff_sessions.delete().where(staff_sessions.c.token_hash == token_hash))

    def purge_sessions(self, idle: timedelta, now: datetime | None = None) -> int:
        """Delete sessions past their expiry or idle longer than `idle`; how many went."""
        now = now or datetime.now(UTC)
        ended = sa.or_(staff_sessions.c.expires_at <= now, staff_sessions.c.last_seen_at <= now - idle)
        with self.engine.begin() as conn:
            return conn.execute(staff_sessions.delete().where(ended)).rowcount

    def count_sessions(self, staff_id: int) -> int:
        """How many sessions the account has (expired ones not yet purged included)."""
        query = sa.select(sa.func.count()).select_from(staff_sessions).where(staff_sessions.c.staff_id == staff_id)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    # --- failed sign-ins ---

    def record_failure(self, email: str, client: str, now: datetime | None = None) -> None:
        """Count one failed sign-in against the email typed and the client address."""
        row = {"at": now or datetime.now(UTC), "email": normalise_email(email)[:254], "client": client[:64]}
        with self.engine.begin() as conn:
            conn.execute(login_failures.insert().values(**row))

    def failure_times(self, since: datetime, email: str | None = None, client: str | None = None) -> list[datetime]:
        """When the failures since `since` for this email (or this client address) happened, oldest first."""
        query = sa.select(login_failures.c.at).where(login_failures.c.at > since).order_by(login_failures.c.at)
        if email is not None:
            query = query.where(login_failures.c.email == normalise_email(email))
        if client is not None:
            query = query.where(login_failures.c.client == client)
        with self.engine.connect() as conn:
            return [_utc(at) for at in conn.execute(query).scalars()]

    def clear_failures(self, email: str) -> None:
        """Forget the email's failures (after it signed in)."""
        with self.engine.begin() as conn:
            conn.execute(login_failures.delete().where(login_failures.c.email == normalise_email(email)))

    def purge_failures(self, before: datetime) -> int:
        """Delete failures older than `before`; how many went."""
        with self.engine.begin() as conn:
            return conn.execute(login_failures.delete().where(login_failures.c.at < before)).rowcount

    # --- the audit log ---

    def record_audit(
        self,
        action: str,
        *,
        staff: StaffMember | None = None,
        staff_email: str | None = None,
        target: str | None = None,
        detail: Mapping[str, Any] | None = None,
        client: str | None = None,
        now: datetime | None = None,
    ) -> int:
        """Write one audit entry and return its id. `staff` names who did it (or `staff_email`, for someone not
        signed in); `detail` must be JSON-serialisable and never hold a password or a token. A failed write
        raises: an action that cannot be audited should not be reported as done.
        """
        row = {
            "at": now or datetime.now(UTC),
            "staff_id": staff.id if staff else None,
            "staff_email": (staff.email if staff else normalise_email(staff_email) if staff_email else None),
            "action": action[:64],
            "target": target,
            "detail": dict(detail) if detail else {},
            "client": client[:64] if client else None,
        }
        with self.engine.begin() as conn:
            return int(conn.execute(audit_log.insert().values(**row)).inserted_primary_key[0])

    def list_audit(
        self,
        *,
        action: str | None = None,
        staff_email: str | None = None,
        target: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        """Audit entries, newest first. `action` matches exactly, or a prefix when it ends with "." ("login.");
        `staff_email` and `target` match exactly; `since`/`until` bound the time; `before_id` pages back.
        """
        query = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(max(1, min(limit, 1000)))
        if action:
            if action.endswith("."):
                query = query.where(audit_log.c.action.startswith(action, autoescape=True))
            else:
                query = query.where(audit_log.c.action == action)
        if staff_email:
            query = query.where(audit_log.c.staff_email == normalise_email(staff_email))
        if target:
            query = query.where(audit_log.c.target == target)
        if since is not None:
            query = query.where(audit_log.c.at >= since)
        if until is not None:
            query = query.where(audit_log.c.at < until)
        if before_id is not None:
            query = query.where(audit_log.c.id < before_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            AuditEntry(
                id=row["id"],
                at=_utc(row["at"]),
                staff_id=row["staff_id"],
                staff_email=row["staff_email"],
                action=row["action"],
                target=row["target"],
                detail=dict(row["detail"] or {}),
                client=row["client"],
            )
            for row in rows
        ]

    def audit_actions(self) -> list[str]:
        """Every action name in the log, for the audit page's filter."""
        with self.engine.connect() as conn:
            return list(conn.execute(sa.select(audit_log.c.action).distinct().order_by(audit_log.c.action)).scalars())
