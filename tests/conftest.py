"""Shared fixtures live in tests/support (on sys.path via pyproject's pythonpath)."""
