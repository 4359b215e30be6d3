"""Pure domain objects: no I/O, no SDKs."""
