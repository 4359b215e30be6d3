"""Metrics (Prometheus), traces (OpenTelemetry), error reports (Sentry) and structured logs."""
