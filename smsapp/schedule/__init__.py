"""Scheduling rules: when the service may text young people (pure, no I/O)."""
