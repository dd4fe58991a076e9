"""Operating a process: liveness and readiness, Prometheus metrics."""
