"""The review queue's migration scripts, one per revision."""
