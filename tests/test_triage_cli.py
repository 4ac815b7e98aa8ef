"""The triage click commands, registered into a throwaway group."""

import csv
import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from ingestd.cli.triage_cmds import _subject_and_text, register
from triage.data import CORPUS
from triage.records import load_records

ROOT = Path(__file__).resolve().parents[1]
HELDOUT = CORPUS  # any labelled part of the corpus will do for the commands

PLAIN = (
    b"From: Ann <ann@example.net>\r\nTo: support@example.test\r\n"
    b"Subject: Charged twice for order #A123456\r\nMessage-ID: <1@example.net>\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
    b"Hello, you took the payment twice from my card. Please refund the duplicate.\r\n"
)
HTML_ONLY = (
    b"From: Bob <bob@example.net>\r\nSubject: =?utf-8?q?Gef=C3=A4hrlich?=\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
    b"<html><style>p{}</style><body><p>The heater caught <b>fire</b>.</p>"
    b"<p>My son was burned.</p></body></html>\r\n"
)


@pytest.fixture
def cli() -> click.Group:
    group = click.Group("test")
    register(group)
    return group


def test_subject_and_text_plain_and_html() -> None:
    assert _subject_and_text(PLAIN) == (
        "Charged twice for order #A123456",
        "Hello, you took the payment twice from my card. Please refund the duplicate.",
    )
    subject, text = _subject_and_text(HTML_ONLY)
    assert subject == "Gefährlich"
    assert "caught fire" in text and "<" not in text and "p{}" not in text


def test_classify_json_from_stdin(cli: click.Group) -> None:
    result = CliRunner().invoke(cli, ["classify", "-", "--json"], input=PLAIN)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data) == {"category", "severity", "escalate", "confidence", "reasons",
                         "model_version"}
    assert data["category"] == "billing"


def test_classify_file_readable(cli: click.Group, tmp_path: Path) -> None:
    eml = tmp_path / "fire.eml"
    eml.write_bytes(HTML_ONLY)
    result = CliRunner().invoke(cli, ["classify", str(eml)])
    assert result.exit_code == 0, result.output
    assert "ESCALATE" in result.output and "rule: injury_safety" in result.output


def test_classify_missing_model_is_one_line(cli: click.Group, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["classify", "-", "--model", str(tmp_path / "x.skops")],
                                input=PLAIN)
    assert result.exit_code == 1
    assert "ingestd train" in result.output and "Traceback" not in result.output


def test_evaluate_json(cli: click.Group, tmp_path: Path) -> None:
    subset = tmp_path / "held.jsonl"
    subset.write_text("".join(HELDOUT.read_text(encoding="utf-8").splitlines(True)[:120]),
                      encoding="utf-8")
    result = CliRunner().invoke(cli, ["evaluate", str(subset), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["size"] == 120
    assert data["category"]["macro_f1"] > 0.7
    assert 0.0 <= data["escalation_recall"] <= 1.0
    readable = CliRunner().invoke(cli, ["evaluate", str(subset)])
    assert "escalation recall" in readable.output


def test_train_from_csv_with_other_columns(cli: click.Group, tmp_path: Path) -> None:
    records = load_records(HELDOUT)[:300]
    path = tmp_path / "cases.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["complaint_text", "label", "prio"])
        writer.writerows([f"{r.subject} {r.body}", r.category, r.severity] for r in records)
    models = tmp_path / "models"
    args = ["train", "--from", str(path), "--text-columns", "complaint_text",
            "--label-column", "label", "--severity-column", "prio", "--promote",
            "--no-progress", "--json", "--models-dir", str(models)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["promoted"] is True
    assert data["trained_tasks"] == ["category", "severity", "escalation"]
    assert (models / "current.skops").is_file()
    classify = CliRunner().invoke(cli, ["classify", "-", "--json", "--model",
                                        str(models / "current.skops")], input=PLAIN)
    assert json.loads(classify.output)["model_version"] == data["candidate_version"]
