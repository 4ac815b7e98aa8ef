"""Shared pytest configuration; the real-server fixtures live in tests/servers.py."""

pytest_plugins = ["tests.servers", "tests.xdist_groups"]
