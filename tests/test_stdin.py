"""A message piped in by an MTA: stored and acknowledged, or exit 75 so the MTA retries.

`deliver --process` (no daemon) does it all in one process; the plain, fast `deliver` that
leaves the rest to the daemon is tested in test_deliver.py.
"""

from __future__ import annotations

import json

from tests.servers import free_port
from tests.support import ConfigSpec, complaint, run_cli, write_config


def test_piped_message_becomes_a_case_once(tmp_path):
    config = write_config(tmp_path, ConfigSpec(f"sqlite:///{tmp_path}/db.sqlite3"))
    assert run_cli(config, "db", "upgrade").returncode == 0
    raw = complaint(1, message_id="<piped@customer.example>")

    first = run_cli(config, "deliver", "--process", stdin=raw)
    again = run_cli(config, "deliver", "--process", stdin=raw)

    assert first.returncode == 0, first.stderr
    assert again.returncode == 0 and "duplicate" in again.stderr
    cases = json.loads(run_cli(config, "cases", "list", "--json").stdout)
    assert [c["customer_address"] for c in cases] == ["customer1@example.net"]
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 2  # acknowledgment + team mail


def test_database_down_means_exit_75_try_again_later(tmp_path):
    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nowhere"
    config = write_config(tmp_path, ConfigSpec(url))
    done = run_cli(config, "deliver", stdin=complaint(1))
    assert done.returncode == 75
    assert "try again later" in done.stderr and "Traceback" not in done.stderr
