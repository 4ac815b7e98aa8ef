"""`ingestd doctor`: one line per check, non-zero exit on any failure."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.servers import Account, DovecotServer, SmtpSink
from tests.support import REPO, MailboxSpec, run_cli
from tests.test_daemon import daemon_config


def test_doctor_all_ok(tmp_path: Path, dovecot_tls: DovecotServer, imap_tls_account: Account,
                       smtp_sink: SmtpSink) -> None:
    db = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    cfg = daemon_config(tmp_path, db, [MailboxSpec(imap_tls_account, security="tls")], smtp_sink)
    done = run_cli(cfg, "doctor", "--json")
    report = json.loads(done.stdout)
    failed = [c for c in report["checks"] if not c["ok"]]
    assert done.returncode == 0 and report["ok"], failed
    lines = {c["check"]: c["detail"] for c in report["checks"]}
    assert "schema up to date" in lines["database"]
    assert "certificate verified" in lines["mailbox support"]
    assert lines["mailbox support folder INBOX"] == "exists"
    assert lines["mailbox support idle"] == "server offers IDLE"
    assert "EHLO ok" in lines["smtp"]


def test_doctor_reports_each_failure(tmp_path: Path, dovecot: DovecotServer,
                                     smtp_sink: SmtpSink) -> None:
    account = dovecot.new_user()
    wrong = Account(account.host, account.port, account.username, "wrong-password")
    db = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    cfg = daemon_config(tmp_path, db, [MailboxSpec(wrong, folders=("INBOX",))], smtp_sink)
    smtp_sink.stop()
    done = run_cli(cfg, "doctor")
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[0].startswith("ok    config:")
    assert any(line.startswith("FAIL  mailbox support:") and "refused the login" in line
               for line in lines), lines
    assert any(line.startswith("FAIL  smtp:") and "check [smtp]" in line for line in lines)


def test_doctor_bad_config(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text("[daemon]\npoll_intervall = 3\n", encoding="utf-8")
    done = run_cli(cfg, "doctor")
    assert done.returncode == 1
    assert done.stdout.startswith("FAIL  config:") and "poll_intervall" in done.stdout


def _contract_only(tmp_path: Path, state: Path, templates: Path | None = None) -> Path:
    """A config outside the checkout: SPEC.md's keys, absolute state paths, no mailbox."""
    cfg = tmp_path / "etc" / "config.toml"
    cfg.parent.mkdir()
    own = f'templates = "{templates}"\n' if templates else ""
    cfg.write_text(f'{own}[database]\nurl = "sqlite:///{state / "ingestd.db"}"\n'
                   f'[smtp]\nmode = "file"\npath = "{state / "outbox"}"\n'
                   '[routing]\ndefault = "agents@example.test"\n', encoding="utf-8")
    return cfg


def test_doctor_only_looks_and_checks_the_shipped_templates(tmp_path: Path) -> None:
    state = tmp_path / "var" / "lib" / "ingestd"
    cfg = _contract_only(tmp_path, state)
    done = run_cli(cfg, "doctor", "--json")
    checks = {c["check"]: c for c in json.loads(done.stdout)["checks"]}
    assert done.returncode == 1 and not checks["database"]["ok"]
    assert "run: ingestd db upgrade" in checks["database"]["detail"]
    assert checks["templates"]["ok"] and "kinds render" in checks["templates"]["detail"]
    assert not state.parent.exists(), "doctor created the state folder"
    assert run_cli(cfg, "db", "upgrade").returncode == 0
    done = run_cli(cfg, "doctor", "--json")
    checks = {c["check"]: c for c in json.loads(done.stdout)["checks"]}
    assert checks["database"]["ok"] and checks["smtp"]["detail"].endswith("writable)")
    assert not (state / "outbox").exists(), "doctor created the outbox"


def test_doctor_names_the_template_that_does_not_render(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(REPO / "templates", templates)
    (templates / "escalation.txt").write_text(
        "Subject: Escalation {{ reference }}\nLevel {{ level }\n", encoding="utf-8")
    done = run_cli(_contract_only(tmp_path, tmp_path / "state", templates), "doctor")
    line = next(x for x in done.stdout.splitlines() if "templates:" in x)
    assert done.returncode == 1
    assert line.startswith("FAIL") and "escalation.txt line 2" in line, line
