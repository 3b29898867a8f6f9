"""Benchmarks, and the helper that starts the real product on loopback (the integration tests use it too)."""
