"""Adapters: one module per backend or provider, each implementing a port."""
