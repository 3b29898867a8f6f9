"""The loopback-only guard for the processes the tests start (see sitecustomize.py)."""
