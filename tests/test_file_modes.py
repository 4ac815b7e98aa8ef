"""What ingestd writes holds customers' mail: files 0600 and folders 0700, made so by the
process itself (outside systemd, under the usual umask 022), never world-readable."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.support import REPO, Ingestd, complaint, run_cli


@pytest.fixture
def usual_umask():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _config(tmp_path: Path) -> Path:
    maildir = tmp_path / "Maildir"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True)
    for n in range(3):
        (maildir / "new" / f"{n}.eml").write_bytes(complaint(n))
    path = tmp_path / "config.toml"
    path.write_text(f'templates = "{REPO / "templates"}"\n'
                    '[database]\nurl = "sqlite:///var/ingestd.db"\n'
                    f'[triage]\nmodel = "{REPO / "models" / "current.skops"}"\n'
                    '[smtp]\nmode = "file"\npath = "var/outbox"\n'
                    f'[[maildir]]\nname = "local"\naddress = "support@example.test"\n'
                    f'path = "{maildir}"\n')
    return path


def test_database_state_folder_and_outbox_are_private(tmp_path, usual_umask):
    app = Ingestd(_config(tmp_path))
    app.run_once()
    app.close()
    var = tmp_path / "var"
    files = [var / "ingestd.db", *(var / "outbox").glob("*.eml")]
    files += [p for p in (var / "ingestd.db-wal", var / "ingestd.db-shm") if p.exists()]
    assert len(files) > 3
    assert {p.name: oct(_mode(p)) for p in files} == {p.name: "0o600" for p in files}
    assert oct(_mode(var)) == "0o700" and oct(_mode(var / "outbox")) == "0o700"


def test_the_command_line_creates_a_private_database_and_folder(tmp_path, usual_umask):
    path = _config(tmp_path)
    (tmp_path / "deep").mkdir()
    path.write_text(path.read_text().replace("var/ingestd.db", "deep/state/db/ingestd.db"))
    done = run_cli(path, "db", "upgrade")
    assert done.returncode == 0, done.stderr
    assert oct(_mode(tmp_path / "deep" / "state")) == "0o700"
    assert oct(_mode(tmp_path / "deep" / "state" / "db")) == "0o700"
    assert oct(_mode(tmp_path / "deep" / "state" / "db" / "ingestd.db")) == "0o600"
    assert oct(_mode(tmp_path / "deep")) == "0o755"  # the admin's own folder is left alone


def test_an_existing_database_keeps_the_mode_its_admin_chose(tmp_path, usual_umask):
    path = _config(tmp_path)
    (tmp_path / "var").mkdir(mode=0o750)
    (tmp_path / "var" / "ingestd.db").touch(mode=0o640)  # a group for agents' access
    app = Ingestd(path)
    app.close()
    assert oct(_mode(tmp_path / "var")) == "0o750"
    assert oct(_mode(tmp_path / "var" / "ingestd.db")) == "0o640"
