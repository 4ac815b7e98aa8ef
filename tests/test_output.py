"""What people read and wait for at a terminal: tables that fit it, JSON that parses, no
`None` in text, progress bars only on a terminal, quarantines as warnings."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import struct
import subprocess
import sys
import termios
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from structlog.testing import capture_logs

from ingestd import casework
from ingestd.pipeline import process_pending
from ingestd.services import Services
from ingestd.sources.delivery import Delivery
from storage import transaction
from tests import support
from tests.procedure_support import Clock, add_case, make_services, write_config

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
RESOLVE_DUE = datetime(2030, 1, 15, 10, 0, tzinfo=UTC)  # the commands run on the real clock
LONG_AGO = datetime(2020, 1, 1, 9, 0, tzinfo=UTC)
LONG_SUBJECT = "My order arrived broken and nobody answers the phone " * 3
sqlite = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # output, not storage


def invoke(config: Path, *args: str, columns: int | None = None,
           codes: tuple[int, ...] = (0,)) -> Result:
    """The CLI in this process; standard output and standard error apart."""
    from ingestd.cli import _register, cli  # noqa: PLC0415  (loaded once the test has set up)

    _register()
    env = {"COLUMNS": str(columns)} if columns else {}
    result = CliRunner(env=env).invoke(cli, ["--config", str(config), *args],
                                       catch_exceptions=False)
    assert result.exit_code in codes, result.output
    return result


@pytest.fixture
def desk(db_url: str, tmp_path: Path) -> tuple[Services, Path]:
    """Three open cases: one assigned, one overdue, all with long subjects and addresses."""
    services = make_services(db_url, tmp_path, Clock(NOW))
    for i, due in enumerate((RESOLVE_DUE, None, LONG_AGO)):
        add_case(services, NOW - timedelta(days=3 * i), subject=f"{LONG_SUBJECT} #{i}",
                 customer_address=f"a.very.long.customer.address.{i}@example-customer.test",
                 category="product_quality", severity=("low", "high", "critical")[i],
                 acknowledged_at=NOW - timedelta(days=3 * i), resolve_due=due,
                 investigate_due=LONG_AGO if due == LONG_AGO else None)
    with transaction(services.factory) as session:
        case = casework.get_case(session, "CMP-2026-000001")
        casework.assign(session, case, "maria.lopez", actor="lead", at=NOW)
    return services, write_config(tmp_path, db_url)


@sqlite
def test_cases_list_fits_80_columns_with_agent_and_due_date(desk: tuple[Services, Path]) -> None:
    _, config = desk
    lines = invoke(config, "cases", "list", columns=80).stdout.splitlines()
    assert len(lines) == 4
    assert max(len(line) for line in lines) <= 80, "\n".join(lines)
    header = lines[0].split()
    assert header[:3] == ["REFERENCE", "STATUS", "SEVERITY"]
    assert "AGENT" in header and "NEXT" in header
    assert "maria.lopez" in lines[1]
    # #1 is assigned: resolving is next, due 15 January 2030 10:00 (London in winter = UTC)
    assert " 15 Jan 10:00 " in lines[1]
    # nobody picked #3 up and its investigate deadline has long passed: marked overdue
    assert " !01 Jan 09:00 " in lines[3]
    assert all("My order" in line for line in lines[1:])  # the subject, cut to fit


@sqlite
def test_cases_list_on_a_wide_terminal_shows_every_column(desk: tuple[Services, Path]) -> None:
    _, config = desk
    lines = invoke(config, "cases", "list", columns=240).stdout.splitlines()
    assert max(len(line) for line in lines) <= 240
    for title in ("CATEGORY", "LVL", "AGENT", "NEXT DUE", "MSGS", "CUSTOMER", "SUBJECT"):
        assert title in lines[0]
    assert "a.very.long.customer.address.0@example-customer.test" in lines[1]


@sqlite
def test_json_commands_print_json_only(desk: tuple[Services, Path]) -> None:
    _, config = desk
    for args in (("cases", "list"), ("cases", "show", "CMP-2026-000001"),
                 ("quarantine", "list"), ("sla", "sweep", "--now", "2026-11-30T00:00:00"),
                 ("report", "monthly", "--month", "2026-11"), ("qa", "sample", "1"),
                 ("doctor",)):
        json.loads(invoke(config, *args, "--json", codes=(0, 1)).stdout)  # nothing else
    cases = json.loads(invoke(config, "cases", "list", "--json").stdout)
    assert cases[0]["assignee"] == "maria.lopez"
    assert (cases[0]["next_step"], cases[0]["next_due"]) == ("resolve",
                                                             "2030-01-15T10:00:00+00:00")


@sqlite
def test_text_output_never_says_none(desk: tuple[Services, Path]) -> None:
    _, config = desk
    for args in (("cases", "show", "CMP-2026-000002"), ("cases", "list"),
                 ("report", "monthly", "--month", "2026-11"),
                 ("report", "monthly", "--month", "2026-05")):
        out = invoke(config, *args, columns=120).stdout
        assert "None" not in out, out


def _maildir(root: Path, mails: list[bytes]) -> Path:
    for sub in ("new", "cur", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i, raw in enumerate(mails):
        (root / "new" / f"17000000{i:02d}.M{i}P1.test").write_bytes(raw)
    return root


def _run_on_a_terminal(args: list[str]) -> tuple[str, str]:
    """Run the real command with standard error on a terminal (a pty): stdout, stderr."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 100 wide
    with subprocess.Popen([sys.executable, "-m", "ingestd", *args], stdout=subprocess.PIPE,
                          stderr=terminal, cwd=support.REPO,
                          env={**os.environ, "COLUMNS": "100"}) as proc:
        os.close(terminal)
        seen = b""
        while proc.poll() is None or select.select([controller], [], [], 0.2)[0]:
            if select.select([controller], [], [], 0.2)[0]:
                try:
                    seen += os.read(controller, 65536)
                except OSError:  # every writer closed the terminal
                    break
        stdout = proc.stdout.read() if proc.stdout else b""
    os.close(controller)
    assert proc.returncode == 0, seen.decode(errors="replace")
    return stdout.decode(), seen.decode(errors="replace")


@sqlite
def test_run_once_json_with_a_progress_bar_on_a_terminal(db_url: str, tmp_path: Path) -> None:
    box = _maildir(tmp_path / "Maildir", [support.complaint(i) for i in range(3)])
    config = support.write_config(tmp_path, support.ConfigSpec(db_url, maildirs={"box": box}))
    subprocess.run([sys.executable, "-m", "ingestd", "--config", str(config), "db", "upgrade"],
                   check=True, capture_output=True, cwd=support.REPO)
    stdout, terminal = _run_on_a_terminal(["--config", str(config), "run", "--once", "--json"])
    summary = json.loads(stdout)  # standard output is the summary and nothing else
    assert (summary["stored"], summary["processed"]) == (3, 3)
    assert "processing" in terminal and "mail" in terminal  # the bar, on the terminal
    assert "message" in terminal  # the log went to standard error


@sqlite
def test_purge_and_export_show_progress_on_a_terminal(desk: tuple[Services, Path]) -> None:
    services, config = desk
    for i in range(4):
        add_case(services, NOW - timedelta(days=2000), status="closed",
                 closed_at=NOW - timedelta(days=1999 - i), customer_address="old@example.test")
    piped = invoke(config, "privacy", "export", "old@example.test")
    assert len(json.loads(piped.stdout)["cases"]) == 4
    assert "exporting" not in piped.stderr  # no bar into a pipe
    _, terminal = _run_on_a_terminal(["--config", str(config), "privacy", "export",
                                      "old@example.test"])
    assert "exporting" in terminal and "/4" in terminal
    _, terminal = _run_on_a_terminal(["--config", str(config), "privacy", "purge",
                                      "--now", "2026-11-20T10:00:00"])
    assert "purging" in terminal and "/4" in terminal
    assert "purged 4 cases" in terminal


@sqlite
def test_quarantine_is_logged_as_a_warning(db_url: str, tmp_path: Path) -> None:
    services = make_services(db_url, tmp_path, Clock(NOW))
    with transaction(services.factory) as session:
        from ingestd.intake import store  # noqa: PLC0415  (the intake floor, for one stored mail)

        store(session, [Delivery(source="support", raw=b"Subject: no sender\r\n\r\nhello")], NOW)
    with capture_logs() as logs:
        stats = process_pending(services)
    assert stats.quarantined == 1
    [line] = [e for e in logs if e["event"] == "message"]
    assert (line["log_level"], line["action"]) == ("warning", "quarantined")


def test_quarantine_commands_have_help() -> None:
    from ingestd.cli import _register, cli  # noqa: PLC0415  (loaded once the test has set up)

    _register()
    listing = CliRunner().invoke(cli, ["quarantine", "--help"]).stdout
    assert "list   List quarantined messages." in listing
    assert "show   Show one quarantined message." in listing
