"""Training: records from CSV/JSONL, champion/challenger, candidates and atomic promotion."""

import csv
import json
import shutil
from pathlib import Path

import pytest

from triage import Classifier
from triage.data import CORPUS
from triage.escalation import FEATURES, STACK_KEY
from triage.records import (
    LabelColumns,
    LabelledText,
    RecordsError,
    Taxonomy,
    load_records,
    parse_severity_map,
)
from triage.run import FileSpec, run_training
from triage.train import (
    TrainingError,
    compare,
    escalation_threshold,
    rare_classes,
    split_records,
    train_candidate,
)

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


def test_html_bodies_escalate_column_and_severity_codes(tmp_path: Path) -> None:
    jsonl = tmp_path / "mail.jsonl"
    jsonl.write_text(json.dumps({"subject": "Smoke", "body_html": "<p>The heater <b>smoked"
                                 "</b>.</p><script>x()</script>", "category": "safety_legal",
                                 "severity": "1", "escalate": True}) + "\n", encoding="utf-8")
    taxonomy = Taxonomy(severity_map=parse_severity_map("1=critical, 2=high"))
    [record] = load_records(jsonl, taxonomy=taxonomy)
    assert record.body == "The heater smoked."
    assert (record.severity, record.escalate, record.must_escalate) == ("critical", True, True)
    assert LabelledText("", "x", None, "critical").must_escalate is True  # implied by severity
    with pytest.raises(RecordsError, match="bad severity map entry '3=urgent'"):
        parse_severity_map("3=urgent")


def test_categories_from_data_and_rare_classes_warn(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "codes.csv", ["text", "code"],
                      [["a", "7"], ["b", "7"], ["c", "7"], ["d", "9"]])
    records = load_records(path, LabelColumns(("text",), "code", None), Taxonomy(None))
    assert [r.category for r in records] == ["7", "7", "7", "9"]
    [warning] = rare_classes(records)
    assert warning.startswith("category '9' has only 1 example(s)")
    train, held = split_records(records, 0.5, seed=1)
    assert "9" in {r.category for r in train} and "9" not in {r.category for r in held}


def test_escalation_threshold_keeps_the_recall_with_the_rules() -> None:
    proba, gold = [0.9, 0.8, 0.7, 0.2, 0.1] * 40, [True, True, True, True, False] * 40
    # 95 % of 160: the 0.2s must be caught too
    assert escalation_threshold(proba, gold, 0.95) == 0.2
    # when a rule already escalates those, the model need not go below 0.7
    rules = [False, False, False, True, False] * 40
    assert escalation_threshold(proba, gold, 0.95, rules) == 0.7


def test_escalation_is_decided_on_the_stacked_score(tmp_path: Path,
                                                    sample: list[LabelledText]) -> None:
    candidate = train_candidate(sample[:300], progress=False)
    model = candidate.classifier
    assert model.metadata[STACK_KEY]["features"] == list(FEATURES)
    scores = model.score("Heater", "The heater caught fire in the night and my son was burned.")
    result = model.decide(scores)
    stacked = result.probabilities["escalate"]["yes"]
    assert stacked != pytest.approx(scores.escalation)  # not the escalation model alone
    relation = ">=" if stacked >= model.escalation_threshold else "<"
    assert f"model: escalate p={stacked:.2f} {relation}" in " ".join(result.reasons)
    model.save(tmp_path / "m.skops")  # the stack travels with the model file
    loaded = Classifier.load(tmp_path / "m.skops")
    assert loaded.decide(scores).probabilities == result.probabilities
    # a model saved before the stack reads its escalation model's own probability
    older = Classifier(model.category_model, model.severity_model, model.version,
                       {k: v for k, v in model.metadata.items() if k != STACK_KEY},
                       escalation_model=model.escalation_model)
    assert older.decide(scores).probabilities["escalate"]["yes"] == scores.escalation
