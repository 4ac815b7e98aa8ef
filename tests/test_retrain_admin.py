"""Retraining on an admin's own helpdesk export: their codes, their skew, their rare classes."""

import json
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from ingestd.cli.triage_cmds import register
from tests.admin_export import RARE, SEVERITY_MAP, export_rows, write_export
from triage.data import CORPUS
from triage.records import load_records

COLUMNS = ["--text-columns", "title,description", "--label-column", "queue",
           "--severity-column", "priority"]


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = export_rows(load_records(CORPUS), total=3000)
    return write_export(tmp_path_factory.mktemp("export") / "helpdesk.csv", rows)


@pytest.fixture
def cli() -> click.Group:
    group = click.Group("test")
    register(group)
    return group


def test_unknown_codes_are_one_line_naming_file_line_and_taxonomy(
        cli: click.Group, export: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["train", "--from", str(export), *COLUMNS,
                                      "--severity-map", SEVERITY_MAP, "--no-progress",
                                      "--models-dir", str(tmp_path)])
    assert result.exit_code == 1
    message = result.output.strip()
    assert len(message.splitlines()) == 1
    assert re.search(r"helpdesk.csv:2: unknown category '\d+'", message)
    assert "billing, delivery, product_quality" in message
    assert "--categories-from-data" in message


def test_severity_codes_need_a_map(cli: click.Group, export: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["train", "--from", str(export), *COLUMNS,
                                      "--categories-from-data", "--no-progress",
                                      "--models-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert re.search(r"unknown severity '\d'", result.output) and "--severity-map" in result.output


def test_codes_from_data_train_end_to_end_and_beat_the_baselines(
        cli: click.Group, export: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    result = CliRunner().invoke(cli, ["train", "--from", str(export), *COLUMNS,
                                      "--categories-from-data", "--severity-map", SEVERITY_MAP,
                                      "--promote", "--no-progress", "--json", "--no-cases",
                                      "--models-dir", str(models)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    for code in RARE:  # the one- and two-example classes: a warning each, no crash
        assert f"category {code!r} has only" in result.stderr
    assert report["promoted"] and report["trained_tasks"] == ["category", "severity",
                                                              "escalation"]
    ours = report["candidate"]["category_macro_f1"]
    assert set(report["baselines"]) == {"tfidf + linearsvc (balanced)",
                                        "tfidf + logreg (balanced)"}
    for name, baseline in report["baselines"].items():
        assert ours >= baseline, f"{name}: {baseline} beats the candidate's {ours}"
    classified = CliRunner().invoke(cli, ["classify", "-", "--json", "--model",
                                          str(models / "current.skops")],
                                    input=b"Subject: Refund\r\n\r\nYou charged me twice.\r\n")
    assert json.loads(classified.output)["category"] in {"10", "20", "30", "40", "50", "60",
                                                          "70"}
