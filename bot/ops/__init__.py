"""For operators: the /healthz and /metrics port, health, Prometheus metrics, logs, secret masking."""
