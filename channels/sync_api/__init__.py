"""The publish webhook and sync job status, for editors' systems."""
