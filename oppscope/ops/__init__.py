"""Operations: telemetry (logs, metrics, the internal time series) and what reads it (alerts, dashboards,
diagnostics, checks)."""
