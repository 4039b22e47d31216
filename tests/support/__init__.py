"""Helpers for tests that run against the real PostgreSQL, broker and HTTP servers."""
