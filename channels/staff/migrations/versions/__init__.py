"""One alembic revision per file, oldest first: v0001 (staff_users, staff_sessions, login_failures, audit_log)."""
