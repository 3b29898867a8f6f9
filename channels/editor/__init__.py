"""The editors' pages (sync history, Sync now, answer preview, what changed after a sync) and the staff dashboard."""
