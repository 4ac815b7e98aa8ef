"""Shared pytest configuration; the real-server fixtures live in tests/servers.py."""

from collections.abc import Iterator

import pytest
import structlog

pytest_plugins = ["tests.servers", "tests.xdist_groups"]


@pytest.fixture(autouse=True)
def _fresh_logging() -> Iterator[None]:
    """A command run in-process configures logging for the whole process (at warning, say):
    each test starts from structlog's defaults, so a test capturing info events sees them
    whichever test ran before it in the same worker."""
    yield
    structlog.reset_defaults()
