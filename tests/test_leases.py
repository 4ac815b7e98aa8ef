"""Folder leases: one live instance per folder; a crashed one's lease is free at once."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

from sqlalchemy import update

from ingestd.instance import HOST, instance, is_gone
from ingestd.intake import take_lease
from storage import FolderState, transaction
from tests.support import ConfigSpec, Ingestd, write_config


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(done.stdout)


def _hold(app: Ingestd, owner: str) -> None:
    with transaction(app.services.factory) as session:
        session.execute(update(FolderState).values(
            lease_owner=owner, lease_until=app.services.clock() + timedelta(hours=1)))


def test_a_live_holder_keeps_the_folder_and_a_crashed_one_loses_it(db_url, tmp_path):
    app = Ingestd(write_config(tmp_path, ConfigSpec(db_url)))
    assert take_lease(app.services, "support", "INBOX")

    _hold(app, "other-host:1234:abcdef")  # another machine: only the timeout can free it
    assert not take_lease(app.services, "support", "INBOX")

    crashed = f"{HOST}:{_dead_pid()}:abcdef"
    assert is_gone(crashed) and not is_gone(instance())
    _hold(app, crashed)
    assert take_lease(app.services, "support", "INBOX")
