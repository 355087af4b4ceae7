"""Helpers shared by the tests: factories, processes, proxies and small lookups (no test module imports another)."""
