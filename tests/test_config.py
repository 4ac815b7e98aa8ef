"""config.toml: the keys outside scripts rely on, and errors that name the key and the file."""

from __future__ import annotations

import pytest

from ingestd import config
from ingestd.errors import ConfigError
from tests.support import REPO, run_cli


def test_the_shipped_config_loads_with_paths_relative_to_it():
    settings = config.load(REPO / "config.toml")
    assert settings.database.url == f"sqlite:///{REPO / 'var' / 'ingestd.db'}"
    assert settings.maildir[0].path == REPO / "demo" / "Maildir"
    assert settings.smtp.mode == "file"
    assert settings.routing.address("billing") == "billing-team@example.test"
    assert settings.routing.address("delivery") == "agents@example.test"


def test_spec_keys_are_accepted(tmp_path):
    (tmp_path / "support.pass").write_text("secret\n")
    path = tmp_path / "c.toml"
    path.write_text("""
[database]
url = "postgresql+psycopg://ingestd@db.example.test/ingestd"
[[mailbox]]
name = "support"
address = "support@example.test"
host = "imap.example.test"
port = 993
security = "tls"
username = "support@example.test"
password_file = "support.pass"
folders = ["INBOX", "Complaints"]
tls_ca_file = "ca.pem"
[[maildir]]
name = "demo"
address = "support@example.test"
path = "demo/Maildir"
[smtp]
host = "127.0.0.1"
port = 25
security = "none"
from = "Customer Support <support@example.test>"
[escalation]
level1 = "supervisor@example.test"
level2 = "manager@example.test"
level3 = "executive@example.test"
[routing]
default = "agents@example.test"
""")
    settings = config.load(path)
    assert settings.mailbox[0].secret() == "secret"
    assert settings.mailbox[0].tls_ca_file == tmp_path / "ca.pem"
    assert settings.mailbox[0].folders == ("INBOX", "Complaints")


def test_database_url_can_be_overridden_from_the_environment(tmp_path, monkeypatch):
    path = tmp_path / "c.toml"
    path.write_text('[database]\nurl = "sqlite:///a.db"\n')
    monkeypatch.setenv(config.DATABASE_ENV, "postgresql+psycopg://x@h/db")
    assert config.load(path).database.url == "postgresql+psycopg://x@h/db"


@pytest.mark.parametrize(("text", "message"), [
    ('[smtp]\nhots = "x"\n', "unknown key 'smtp.hots'"),
    ("[smtp]\nport = \"twenty-five\"\n", "bad value for 'smtp.port'"),
    ('[[mailbox]]\nname = "a"\naddress = "a@x"\nhost = "h"\nusername = "u"\n',
     "needs password or password_file"),
    ('[routing]\nbiling = "x@y"\n', "unknown category 'biling' in [routing]"),
    ('[calendar]\ncountry = "XX"\n', "calendar.country"),
    ('[triage]\ncategories = ["refunds", "refunds"]\n', "categories must be distinct"),
    ('[triage]\ncategories = ["refunds", "parcels"]\n[routing]\nbilling = "x@y"\n',
     "unknown category 'billing' in [routing]; use one of refunds, parcels"),
    ("[database\n", "not valid TOML"),
])
def test_a_bad_config_names_the_file_and_the_key(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        config.load(path)
    assert message in str(error.value)
    assert str(path) in str(error.value)


def test_an_admins_own_taxonomy_routes_its_categories(tmp_path):
    path = tmp_path / "own.toml"
    path.write_text('[triage]\ncategories = ["Refunds", "parcels"]\n'
                    '[routing]\nrefunds = "money@example.test"\ndefault = "all@example.test"\n')
    settings = config.load(path)
    assert settings.triage.categories == ("refunds", "parcels")
    assert settings.routing.address("refunds") == "money@example.test"
    assert settings.routing.address("parcels") == "all@example.test"


def test_cli_prints_one_line_for_a_bad_config(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[smtp]\nhots = "x"\n')
    done = run_cli(path, "cases", "list")
    assert done.returncode == 78
    assert done.stderr.strip().count("\n") == 0
    assert "unknown key 'smtp.hots'" in done.stderr


def test_missing_config_file_says_how_to_choose_one(tmp_path):
    done = run_cli(tmp_path / "nope.toml", "cases", "list")
    assert done.returncode == 78
    assert "no such config file" in done.stderr and "INGESTD_CONFIG" in done.stderr


def test_a_config_naming_no_templates_or_model_uses_the_shipped_ones(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[routing]\ndefault = "agents@example.test"\n')
    settings = config.load(path)
    assert (settings.templates / "acknowledgment.txt").is_file()
    assert settings.triage.model.is_file() and settings.triage.model.name == "current.skops"
    assert not settings.templates.is_relative_to(tmp_path)


def test_a_config_s_own_templates_and_model_win(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('templates = "mail"\n[triage]\nmodel = "m/mine.skops"\n')
    settings = config.load(path)
    assert settings.templates == tmp_path / "mail"
    assert settings.triage.model == tmp_path / "m" / "mine.skops"


def test_a_secret_file_can_come_from_systemd_credentials(tmp_path, monkeypatch):
    credentials = tmp_path / "run" / "credentials"
    credentials.mkdir(parents=True)
    (credentials / "imap-support").write_text("s3cret\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    path = tmp_path / "etc" / "config.toml"
    path.parent.mkdir()
    path.write_text('[[mailbox]]\nname = "support"\naddress = "support@example.test"\n'
                    'host = "127.0.0.1"\nusername = "support@example.test"\n'
                    'password_file = "$CREDENTIALS_DIRECTORY/imap-support"\n')
    assert config.load(path).mailbox[0].secret() == "s3cret"
