"""Operating oppscope: health checks, structured logs, Prometheus metrics and the internal per-minute time
series; alerts and diagnostics build on them."""
