"""Limiter adapters: in-process (embedded default) and Redis (shared by API replicas)."""
