"""Installed the way docs/deploy.md says: the wheel in a fresh venv, a config with only the
contract keys of SPEC.md, mail drained from a real Dovecot, acknowledgments sent.

Nothing of the checkout is reachable from the install: the venv is new (created without
pip; pip runs against it), the config names no path into the checkout, and the commands
run from a state folder with no PYTHONPATH. The dependencies' wheels come from the package
registry through a wheelhouse kept between runs (a cache of the registry, keyed by the
wheel's requirements), so a run spends its time installing, not downloading.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from storage import make_engine, upgrade
from tests.servers import Account, DovecotServer, SmtpSink
from tests.support import REPO, complaint, toml_string

PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check"]


def build_wheel(out: Path) -> Path:
    """The checkout's wheel from its build backend's PEP 517 hook (what `pip wheel` calls;
    hatchling is in the test extras), 1.5 s instead of pip's 6.5 s on a busy machine."""
    subprocess.run([sys.executable, "-c", "import sys, hatchling.build as b; "
                    "b.build_wheel(sys.argv[1])", str(out)], cwd=REPO, check=True,
                   capture_output=True, timeout=300)
    (wheel,) = out.glob("ingestd-*.whl")
    return wheel


def _requirements(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(name).decode()
    return sorted(line for line in metadata.splitlines() if line.startswith("Requires-Dist:")
                  and "extra ==" not in line)


def wheelhouse(wheel: Path) -> Path:
    """The dependencies' wheels, from the registry once per set of requirements (`pip wheel`
    builds a wheel of any that the registry has only as source, such as authres)."""
    key = hashlib.sha256("\n".join([sys.version, *_requirements(wheel)]).encode()).hexdigest()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    house = cache / "ingestd-tests" / f"wheelhouse-{key[:16]}"
    if house.is_dir():
        return house
    filling = house.with_name(f"{house.name}.{os.getpid()}")
    subprocess.run([*PIP, "wheel", "-q", "-w", str(filling), str(wheel)], check=True,
                   capture_output=True, timeout=600)
    (filling / wheel.name).unlink(missing_ok=True)  # pip copies the wheel itself too
    try:
        filling.rename(house)
    except OSError:  # another run filled it first
        shutil.rmtree(filling)
    return house


def fresh_venv(directory: Path, wheel: Path) -> Path:
    """A new venv with the wheel and its dependencies installed by pip; its `ingestd`."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(directory)], check=True,
                   timeout=120)
    python = directory / "bin" / "python"

    def install(house: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*PIP, "--python", str(python), "install", "-q", "--no-compile",
                               "--no-index", "--find-links", str(house), str(wheel)],
                              capture_output=True, text=True, timeout=600, check=False)

    done = install(wheelhouse(wheel))
    if done.returncode != 0:  # a wheelhouse damaged since it was filled: fill it again
        shutil.rmtree(wheelhouse(wheel))
        done = install(wheelhouse(wheel))
    assert done.returncode == 0, done.stderr[-3000:]
    return directory / "bin" / "ingestd"


def contract_config(etc: Path, state: Path, account: Account, sink: SmtpSink) -> Path:
    """Only the keys SPEC.md's configuration contract names, with absolute state paths."""
    text = f"""[database]
url = {toml_string(f"sqlite:///{state / 'ingestd.db'}")}

[[mailbox]]
name = "support"
address = {toml_string(account.username)}
host = {toml_string(account.host)}
port = {account.ssl_port}
security = "tls"
username = {toml_string(account.username)}
password = {toml_string(account.password)}
folders = ["INBOX"]
tls_ca_file = {toml_string(str(account.ca_file))}

[smtp]
mode = "smtp"
host = "127.0.0.1"
port = {sink.port}
security = "none"
from = "Customer Support <{account.username}>"

[escalation]
level1 = "supervisor@example.test"
level2 = "manager@example.test"
level3 = "executive@example.test"

[routing]
default = "agents@example.test"
"""
    etc.mkdir()
    path = etc / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def installed(tmp_path: Path) -> tuple[Path, dict[str, float]]:
    """The `ingestd` of a fresh venv holding the wheel, and how long each stage took."""
    times: dict[str, float] = {}
    started = time.monotonic()
    wheel = build_wheel(tmp_path / "dist")
    times["build"] = time.monotonic() - started
    started = time.monotonic()
    ingestd = fresh_venv(tmp_path / "opt" / "ingestd", wheel)
    times["venv"] = time.monotonic() - started
    return ingestd, times


def test_the_wheel_installed_alone_drains_dovecot_and_acknowledges(
        tmp_path: Path, installed: tuple[Path, dict[str, float]], dovecot_tls: DovecotServer,
        imap_tls_account: Account, smtp_sink: SmtpSink) -> None:
    ingestd, times = installed
    state = tmp_path / "var" / "lib" / "ingestd"
    state.mkdir(parents=True)
    config = contract_config(tmp_path / "etc", state, imap_tls_account, smtp_sink)
    assert str(REPO) not in config.read_text(encoding="utf-8")
    dovecot_tls.append(imap_tls_account, [complaint(1, "ann@customer.example"),
                                          complaint(2, "bob@customer.example")])
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "INGESTD_CONFIG", "INGESTD_DATABASE_URL")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        started = time.monotonic()
        done = subprocess.run([str(ingestd), "--config", str(config), *args], cwd=state,
                              env=env, capture_output=True, text=True, timeout=180, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        times[args[0]] = time.monotonic() - started
        return done

    run("db", "upgrade")
    doctor = {c["check"]: c["detail"] for c in json.loads(run("doctor", "--json").stdout)["checks"]}
    venv = ingestd.parent.parent
    assert doctor["templates"].startswith(str(venv)) and "render" in doctor["templates"]
    assert doctor["model"].startswith(str(venv))
    run("run", "--once")
    received = smtp_sink.wait_for(4, timeout=30)
    customers = {m.rcpt_tos[0]: m.message for m in received
                 if m.rcpt_tos[0].endswith("@customer.example")}
    assert set(customers) == {"ann@customer.example", "bob@customer.example"}
    for ack in customers.values():
        assert ack["Auto-Submitted"] == "auto-replied" and "[CMP-" in ack["Subject"]
    assert len({ack["Subject"].rpartition("[")[2] for ack in customers.values()}) == 2
    print("install timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in times.items()))


def test_a_group_shared_state_folder_lets_agents_write_the_database(tmp_path: Path) -> None:
    """The unit's state folder is setgid and group-writable (StateDirectoryMode=2770): the
    SQLite file made in it is the group's too, so agents work cases from the CLI; made
    anywhere else it is ingestd's alone."""
    shared, private = tmp_path / "state", tmp_path / "elsewhere"
    shared.mkdir()
    shared.chmod(0o2770)
    previous = os.umask(0o007)
    try:
        for folder in (shared, private):
            engine = make_engine(f"sqlite:///{folder / 'ingestd.db'}")
            upgrade(engine)
            engine.dispose()
    finally:
        os.umask(previous)
    assert (shared / "ingestd.db").stat().st_mode & 0o777 == 0o660
    assert (private / "ingestd.db").stat().st_mode & 0o777 == 0o600
