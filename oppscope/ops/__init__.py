"""What an operator sees: structured logs, Prometheus metrics and the internal per-minute time series."""
