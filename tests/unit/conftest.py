"""Fixtures for the unit tier (the stub HTTP server is in tests/conftest.py)."""
