"""The review queue: what the assistant could not answer, clustered for staff, and closed again after a sync."""
