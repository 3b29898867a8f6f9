"""Staff accounts, sessions, roles, CSRF, sign-in lockout and the audit log, for every page under /staff/."""
