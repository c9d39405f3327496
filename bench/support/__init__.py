"""Shared pieces of the web benchmarks: the load generator, gunicorn and a throwaway database."""
