"""Observability for the gateway: request ids and JSON logs (content_sync.logs), Prometheus metrics, /metrics."""
