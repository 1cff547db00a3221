"""Operating oppscope: health checks now; metrics, logs, alerts and diagnostics build on them."""
