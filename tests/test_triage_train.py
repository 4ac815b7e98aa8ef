"""Training: records from CSV/JSONL, champion/challenger, candidates and atomic promotion."""

import csv
import json
import shutil
from pathlib import Path

import pytest

from triage import Classifier
from triage.data import CORPUS
from triage.records import LabelColumns, LabelledText, RecordsError, load_records
from triage.run import FileSpec, run_training
from triage.train import TrainingError, compare, split_records, train_candidate

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"


@pytest.fixture(scope="module")
def sample() -> list[LabelledText]:
    records = load_records(CORPUS)
    return records[:400]


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_load_records_jsonl_and_csv(tmp_path: Path) -> None:
    records = load_records(CORPUS)
    assert len(records) >= 5000
    assert all(r.category and r.severity for r in records[:50])
    csv_path = _write_csv(tmp_path / "x.csv", ["complaint_text", "label"],
                          [["I was charged twice", "Billing"], ["Parcel lost", ""]])
    loaded = load_records(csv_path, LabelColumns(("complaint_text",), "label", None))
    assert loaded == [LabelledText("", "I was charged twice", "billing", None),
                      LabelledText("", "Parcel lost", None, None)]


def test_load_records_errors_name_the_line(tmp_path: Path) -> None:
    bad = _write_csv(tmp_path / "bad.csv", ["text", "label"], [["hi", "nonsense"]])
    with pytest.raises(RecordsError, match=r"bad.csv:2: unknown category 'nonsense' .*"
                                            r"configured categories are billing, delivery"):
        load_records(bad, LabelColumns(("text",), "label", None))
    with pytest.raises(RecordsError, match="missing text column"):
        load_records(bad, LabelColumns(("body",), "label", None))
    with pytest.raises(RecordsError, match="unsupported file type"):
        load_records(tmp_path / "x.txt")


def test_split_is_stratified_and_deterministic(sample: list[LabelledText]) -> None:
    train, held = split_records(sample, 0.25, seed=1)
    assert len(train) + len(held) == len(sample)
    assert {r.category for r in held} == {r.category for r in sample}
    assert split_records(sample, 0.25, seed=1) == (train, held)


def test_category_only_csv_keeps_current_severity(tmp_path: Path,
                                                  sample: list[LabelledText]) -> None:
    models = tmp_path / "models"
    models.mkdir()
    for name in ("current.skops", "current.card.json", "current.card.md"):
        shutil.copy(MODELS / name, models / name)
    before = (models / "current.skops").read_bytes()
    rows = [[f"{r.subject}\n{r.body}", r.category or ""] for r in sample]
    path = _write_csv(tmp_path / "labelled.csv", ["complaint_text", "label"], rows)
    spec = FileSpec(path, LabelColumns(("complaint_text",), "label", None))
    report = run_training(from_file=spec, models_dir=models, promote_if_better=True,
                          progress=False)
    assert report.candidate.trained_tasks == ("category",)
    current = Classifier.load(MODELS / "current.skops")
    assert report.candidate.current_evaluation is not None
    assert report.candidate.current_evaluation.model_version == current.version
    assert report.candidate.evaluation.severity is None
    candidate = Classifier.load(report.candidate_dir / "model.skops")
    assert candidate.severity_model.steps[-1][1].classes_.tolist() == \
        current.severity_model.steps[-1][1].classes_.tolist()
    card = json.loads((report.candidate_dir / "card.json").read_text(encoding="utf-8"))
    assert card["model_version"] == candidate.version
    if not report.promoted:  # a 400-record candidate should lose to the shipped model
        assert (models / "current.skops").read_bytes() == before


def test_first_model_is_promoted(tmp_path: Path, sample: list[LabelledText]) -> None:
    rows = [[r.subject, r.body, r.category or "", r.severity or ""] for r in sample]
    path = _write_csv(tmp_path / "t.csv", ["title", "text", "topic", "urgency"], rows)
    models = tmp_path / "models"
    spec = FileSpec(path, LabelColumns(("title", "text"), "topic", "urgency"))
    report = run_training(from_file=spec, models_dir=models, promote_if_better=True,
                          progress=False)
    assert report.promoted and report.decision.reason == "no current model"
    current = Classifier.load(models / "current.skops")
    card = json.loads((models / "current.card.json").read_text(encoding="utf-8"))
    assert card["model_version"] == current.version == report.candidate.classifier.version
    assert (models / "current.card.md").read_text(encoding="utf-8").startswith("# Triage model")
    assert not list(models.glob("*.tmp")) and not list(models.glob(".*.tmp"))


def test_category_only_without_current_model_is_refused(sample: list[LabelledText]) -> None:
    unlabelled = [LabelledText(r.subject, r.body, r.category, None) for r in sample[:100]]
    with pytest.raises(TrainingError, match="no current model"):
        train_candidate(unlabelled, progress=False)


def test_candidate_must_beat_current(sample: list[LabelledText]) -> None:
    candidate = train_candidate(sample[:200], progress=False)
    assert compare(candidate).better  # no current model
    same = train_candidate(sample[:200], progress=False, current=candidate.classifier)
    assert same.current_evaluation is not None
    new, old = same.evaluation.category, same.current_evaluation.category
    assert new is not None and old is not None
    assert compare(same).better == (new.macro_f1 > old.macro_f1)
