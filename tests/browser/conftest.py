"""Fixtures of the browser tests: Debian's chromium through pytest-playwright, and one filled
desk (database, users, `ingestd web`) per database for the whole tests/browser/ package.

`.ci/run` gives pytest `--dist loadgroup`: every test of one database runs on the same
xdist worker (tests/xdist_groups.py), so each database is filled and served once per run.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.servers import PgServer
from tests.web_support import PASSWORD, Desk, require_chromium, running_desk

expect.set_options(timeout=10_000)
CASES_URL = re.compile(r"/cases(\?[^/]*)?$")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """pytest-playwright's browser, launched from Debian's chromium, headless."""
    return {**browser_type_launch_args, "executable_path": require_chromium(),
            "headless": True}


@pytest.fixture(scope="package", params=["sqlite", "postgresql"])
def desk(request: pytest.FixtureRequest) -> Iterator[Desk]:
    backend: str = request.param
    with tempfile.TemporaryDirectory(prefix="ingestd-desk-") as folder:
        root = Path(folder)
        if backend == "sqlite":
            with running_desk(backend, f"sqlite:///{root / 'ingestd.sqlite3'}", root) as d:
                yield d
            return
        pg: PgServer = request.getfixturevalue("pg_server")
        with pg.database() as url, running_desk(backend, url, root) as d:
            yield d


def log_in(page: Page, desk: Desk, name: str, password: str = PASSWORD) -> None:
    """The login form, filled as a person would; lands on the case list."""
    page.goto(desk.url("/login"))
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", password)
    page.press("input[name=password]", "Enter")
    expect(page).to_have_url(CASES_URL)


@pytest.fixture
def login(page: Page, desk: Desk) -> Callable[[str], Page]:
    def as_user(name: str) -> Page:
        log_in(page, desk, name)
        return page
    return as_user
