"""`--dist loadgroup` for the browser tests: each database's tests on one xdist worker.

xdist marks a test's group by appending `@group` to its node id, which pytest 9.2 no longer
lets a plugin change, so `xdist_group` marks alone group nothing. This scheduler reads the
group from the node id instead: every test of tests/browser/ parametrised with a database
(`[sqlite-...]`, `[postgresql-...]`) goes with the others of that database, so the worker
fills that database and serves it once (the `desk` fixture, tests/browser/conftest.py).
Other tests are scheduled one by one, as `--dist load` does. A plugin of tests/conftest.py.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

_BROWSER = re.compile(r"tests/browser/[^:]+::[^\[]+\[(sqlite|postgresql)\b")


def browser_group(nodeid: str) -> str | None:
    """`browser-sqlite` / `browser-postgresql` for a browser test, else None."""
    match = _BROWSER.match(nodeid)
    return f"browser-{match.group(1)}" if match else None


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling  # noqa: PLC0415  (only under xdist)

    class DatabaseGroups(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            group = browser_group(nodeid)
            return group if group is not None else str(super()._split_scope(nodeid))

    return DatabaseGroups(config, log)
