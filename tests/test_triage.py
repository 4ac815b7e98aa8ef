"""The shipped triage model: loads safely, matches its card, gets clear mail right."""

import json
import time
from pathlib import Path

import pytest
import skops.io as sio

from triage import CATEGORIES, SEVERITIES, Classifier, Signals, TriageResult
from triage.data import BLIND
from triage.evaluate import evaluate
from triage.model import BATCH_FROM
from triage.persist import UntrustedModelError
from triage.records import load_records
from triage.run import corpus_split

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "current.skops"
CARD = ROOT / "models" / "current.card.json"

CLEAR = [
    ("Charged twice", "Hi, you took the payment for my order twice from my credit card. "
     "Please refund the duplicate charge.", "billing"),
    ("Where is my parcel?", "I ordered a lamp two weeks ago and the parcel still has not "
     "arrived. Tracking has not changed for days.", "delivery"),
    ("Broken kettle", "The kettle I bought last month stopped working, the switch is broken "
     "and it no longer heats.", "product_quality"),
    ("Site down", "Your website has been down all morning and the app shows an error page.",
     "service_outage"),
    ("Cannot log in", "I can't log in to my account. The password reset email never arrives.",
     "account_access"),
    ("Rude agent", "The agent I spoke to on the phone was rude, shouted at me and hung up.",
     "staff_conduct"),
    ("Unsubscribe", "I unsubscribed from your marketing emails but you keep sending them. "
     "Please delete my personal data.", "privacy_security"),
    ("Dangerous heater", "The heater caught fire in my living room. My son was burned.",
     "safety_legal"),
    ("Opening hours", "Your store should open earlier on Sundays, the hours are too short.",
     "other"),
]


@pytest.fixture(scope="module")
def model() -> Classifier:
    return Classifier.load(MODEL)


def test_model_version_matches_card(model: Classifier) -> None:
    card = json.loads(CARD.read_text(encoding="utf-8"))
    assert card["model_version"] == model.version
    assert set(model.categories) == set(CATEGORIES)
    assert set(model.severities) == set(SEVERITIES)


def test_model_file_is_small() -> None:
    assert MODEL.stat().st_size < 20 * 1024 * 1024


@pytest.mark.parametrize(("subject", "body", "category"), CLEAR)
def test_clear_examples(model: Classifier, subject: str, body: str, category: str) -> None:
    assert model.classify(subject, body).category == category


def test_result_shape(model: Classifier) -> None:
    result = model.classify("Charged twice", "You charged me twice, refund please.")
    assert isinstance(result, TriageResult)
    data = result.as_json()
    assert set(data) == {"category", "severity", "escalate", "confidence", "reasons",
                         "model_version"}
    assert isinstance(data["reasons"], list)
    assert 0.0 <= data["confidence"] <= 1.0
    assert data["confidence"] == pytest.approx(max(result.probabilities["category"].values()),
                                               abs=1e-4)
    assert sum(result.probabilities["severity"].values()) == pytest.approx(1.0)
    assert any(r.startswith("model: category=") for r in result.reasons)
    json.dumps(data)


def test_critical_escalates_and_rules_in_reasons(model: Classifier) -> None:
    result = model.classify("Fire", "The charger caught fire and my daughter went to hospital.")
    assert result.severity == "critical"
    assert result.escalate
    assert "rule: injury_safety" in result.reasons


def test_signals_raise_only(model: Classifier) -> None:
    text = ("Suggestion", "Just a small suggestion: a dark mode in the app would be nice.")
    plain = model.classify(*text)
    repeat = model.classify(*text, signals=Signals(recent_complaints_30d=2))
    assert not plain.escalate
    assert repeat.escalate
    assert "rule: recurring_customer" in repeat.reasons
    assert SEVERITIES.index(repeat.severity) >= max(SEVERITIES.index(plain.severity), 2)


def test_needs_review_threshold(model: Classifier) -> None:
    strict = Classifier(model.category_model, model.severity_model, model.version,
                        review_threshold=1.01)
    assert strict.classify("Hello", "Something").needs_review
    assert not model.classify(*CLEAR[0][:2]).needs_review


def test_empty_message_is_reviewed_not_escalated(model: Classifier) -> None:
    result = model.classify("", "  ")
    assert result.needs_review
    assert not result.escalate
    assert result.severity == "medium"


@pytest.mark.parametrize("copies", [1, BATCH_FROM], ids=["one_by_one", "batch_transform"])
def test_classify_many_matches_classify(model: Classifier, copies: int) -> None:
    messages = [(s, b) for s, b, _ in CLEAR] * copies
    many = model.classify_many(messages)
    for (subject, body), batch in zip(messages, many, strict=True):
        single = model.classify(subject, body)
        assert (single.category, single.severity) == (batch.category, batch.severity)
        assert single.confidence == pytest.approx(batch.confidence, abs=1e-9)
    assert model.classify_many([]) == []


def test_single_prediction_latency(model: Classifier) -> None:
    model.classify(*CLEAR[0][:2])
    times = []
    for subject, body, _ in CLEAR * 20:
        started = time.perf_counter()
        model.classify(subject, body)
        times.append(time.perf_counter() - started)
    times.sort()
    assert times[len(times) // 2] < 0.010  # 2 ms target measured by the bench; CI is noisy


def test_card_reports_the_blind_set_as_measured_now(model: Classifier) -> None:
    card = json.loads(CARD.read_text(encoding="utf-8"))
    blind = evaluate(model, load_records(BLIND))
    assert blind.size == card["blind"]["size"] >= 500
    assert blind.category is not None and blind.severity is not None
    assert blind.category.macro_f1 == pytest.approx(card["blind"]["category"]["macro_f1"])
    assert blind.severity.macro_f1 == pytest.approx(card["blind"]["severity"]["macro_f1"])
    assert blind.escalation_recall == pytest.approx(card["blind"]["escalation_recall"])
    assert blind.escalation_precision == pytest.approx(card["blind"]["escalation_precision"])


def test_blind_set_meets_the_targets(model: Classifier) -> None:
    """Issue 15's targets on mail from writers who never saw the training mail."""
    evaluation = evaluate(model, load_records(BLIND))
    assert evaluation.category is not None and evaluation.severity is not None
    assert evaluation.category.macro_f1 >= 0.85
    assert evaluation.severity.macro_f1 >= 0.75
    assert evaluation.escalation_recall is not None
    assert evaluation.escalation_recall >= 0.95
    assert evaluation.escalation_precision is not None
    assert evaluation.escalation_precision >= 0.80


@pytest.mark.parametrize(("body", "escalate"), [
    ("My father took one spoon of the soup and his lips swelled up, he could not breathe and "
     "we had to call 999. He is 80.", True),
    ("All our tills stopped at nine this morning and we have sent the customers away all day.",
     True),
    ("Nobody was hurt and nothing is broken, the parcel was just a day late. No need to reply.",
     False),
    ("My husband joked that our router must have been hacked by the neighbours, but it is just "
     "slow in the evenings. Could you check the line when you have a moment?", False),
])
def test_escalation_reads_the_situation_not_the_keywords(model: Classifier, body: str,
                                                       escalate: bool) -> None:
    result = model.classify("", body)
    assert result.escalate is escalate
    assert any(r.startswith("model: escalate p=") for r in result.reasons)


def test_random_split_of_the_corpus_matches_the_card(model: Classifier) -> None:
    card = json.loads(CARD.read_text(encoding="utf-8"))
    _, held = corpus_split()
    evaluation = evaluate(model, held)
    assert evaluation.size == card["heldout"]["size"] == card["data"]["heldout_size"]
    assert evaluation.category is not None
    assert evaluation.category.macro_f1 == pytest.approx(card["heldout"]["category"]["macro_f1"])


class Intruder:
    """Not a type any model may contain."""

    def __init__(self) -> None:
        self.payload = "x"


def test_untrusted_model_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.skops"
    sio.dump({"format": 1, "version": "x", "category": Intruder()}, path)
    with pytest.raises(UntrustedModelError, match="not on the trusted list"):
        Classifier.load(path)


def test_missing_or_garbage_model_is_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="ingestd train"):
        Classifier.load(tmp_path / "none.skops")
    garbage = tmp_path / "garbage.skops"
    garbage.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a skops model"):
        Classifier.load(garbage)


def test_save_load_roundtrip(model: Classifier, tmp_path: Path) -> None:
    path = tmp_path / "copy.skops"
    model.save(path)
    again = Classifier.load(path)
    assert again.version == model.version
    subject, body, _ = CLEAR[2]
    assert again.classify(subject, body) == model.classify(subject, body)
