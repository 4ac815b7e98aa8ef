"""Agents correct the triage; the corrections become training data."""

from __future__ import annotations

import json
import shutil

from tests.support import REPO, ConfigSpec, mail, run_cli, write_config


def _maildir(root, mails):
    for sub in ("new", "cur", "tmp"):
        (root / sub).mkdir(parents=True)
    for n, raw in enumerate(mails):
        (root / "new" / f"{n}.msg").write_bytes(raw)
    return root


def test_label_correction_is_recorded_and_used_by_train(tmp_path):
    box = _maildir(tmp_path / "Maildir", [
        mail("Ann <ann@example.net>", "Question about my bill", "Why is it higher this month?")])
    config = write_config(tmp_path, ConfigSpec(f"sqlite:///{tmp_path}/db.sqlite3",
                                               maildirs={"demo": box}))
    assert run_cli(config, "db", "upgrade").returncode == 0
    assert run_cli(config, "run", "--once").returncode == 0
    (case,) = json.loads(run_cli(config, "cases", "list", "--json").stdout)

    labelled = run_cli(config, "cases", "label", case["reference"], "--category", "billing",
                       "--severity", "low", "--actor", "alice")
    assert labelled.returncode == 0, labelled.stderr
    shown = json.loads(run_cli(config, "cases", "show", case["reference"], "--json").stdout)
    assert (shown["category"], shown["severity"]) == ("billing", "low")
    label_event = [e for e in shown["events"] if e["kind"] == "label"][-1]
    assert label_event["actor"] == "alice" and label_event["new"] == "billing/low"

    bad = run_cli(config, "cases", "label", case["reference"], "--category", "bills")
    assert bad.returncode != 0 and "bills" in bad.stderr

    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(REPO / "models" / "current.skops", models / "current.skops")
    sample = tmp_path / "history.jsonl"
    lines = (REPO / "triage" / "data" / "corpus.jsonl").read_text().splitlines()[:150]
    sample.write_text("\n".join(lines) + "\n")
    trained = run_cli(config, "train", "--from", str(sample), "--no-progress", "--json",
                      "--models-dir", str(models), timeout=300)
    assert trained.returncode == 0, trained.stderr
    report = json.loads(trained.stdout)
    # 150 file records + the one corrected case, split into training and held-out parts
    assert report["train_size"] + report["heldout_size"] == 151
    assert report["promoted"] is False  # not asked to promote
