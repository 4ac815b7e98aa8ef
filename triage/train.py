"""Champion/challenger training: fit a candidate, score it and the current model on the same
held-out records, write the candidate with its card, and promote it only when it is better.

"Better" means a higher category macro-F1 and, when the candidate trained its own severity
model, a severity macro-F1 that is not lower. Records without a severity label (e.g. a CSV
with only a text and a category column) train the category model only; the candidate then
keeps the current model's severity pipeline. Promotion replaces ``models/current.*`` atomically
(temporary file + ``os.replace``), cards first, so a watcher that sees the new model file also
finds its card.
"""

import hashlib
import os
import random
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tqdm import tqdm

from triage import card
from triage.evaluate import Evaluation, evaluate
from triage.features import DEFAULT_KIND, compose_text, fit_pipelines
from triage.model import Classifier
from triage.records import LabelledText

DEFAULT_SEED = 42
MODEL_FILE, CARD_JSON, CARD_MD = "model.skops", "card.json", "card.md"
CURRENT_FILES = {MODEL_FILE: "current.skops", CARD_JSON: "current.card.json",
                 CARD_MD: "current.card.md"}


class TrainingError(ValueError):
    """Training cannot go ahead with the records given; the message says why."""


@dataclass(frozen=True)
class Candidate:
    """A freshly fitted model and its scores next to the current model's on the same records."""

    classifier: Classifier
    evaluation: Evaluation
    current_evaluation: Evaluation | None
    train_size: int
    heldout_size: int
    trained_tasks: tuple[str, ...]


@dataclass(frozen=True)
class Decision:
    """Whether the candidate beats the current model, and why."""

    better: bool
    reason: str


def split_records(
    records: Sequence[LabelledText], heldout_fraction: float, seed: int,
) -> tuple[list[LabelledText], list[LabelledText]]:
    """Shuffle deterministically and cut off ``heldout_fraction`` per category (stratified)."""
    groups: dict[str | None, list[LabelledText]] = {}
    for record in records:
        groups.setdefault(record.category, []).append(record)
    rng = random.Random(seed)  # noqa: S311  # reproducible split, not cryptography
    train: list[LabelledText] = []
    heldout: list[LabelledText] = []
    for key in sorted(groups, key=str):
        group = groups[key][:]
        rng.shuffle(group)
        cut = round(len(group) * heldout_fraction)
        heldout += group[:cut]
        train += group[cut:]
    return train, heldout


def model_version(records: Sequence[LabelledText], kind: str, now: datetime) -> str:
    """Date plus a short hash of the training data, e.g. ``2026.11.23-1a2b3c4d``."""
    digest = hashlib.sha256(kind.encode())
    for r in records:
        digest.update(f"{r.subject}\0{r.body}\0{r.category}\0{r.severity}\n".encode())
    return f"{now:%Y.%m.%d}-{digest.hexdigest()[:8]}"


def fit_classifier(
    records: Sequence[LabelledText], base: Classifier | None, kind: str = DEFAULT_KIND,
) -> tuple[Classifier, tuple[str, ...]]:
    """Fit category and severity where labelled; borrow the missing one from ``base``."""
    texts = [compose_text(r.subject, r.body) for r in records]
    labels = {"category": [r.category for r in records], "severity": [r.severity for r in records]}
    fitted = fit_pipelines(texts, labels, kind)
    missing = [task for task in labels if task not in fitted]
    if missing and base is None:
        raise TrainingError(
            f"the records carry no usable {' or '.join(missing)} labels and there is no current "
            "model to take that part from; add the label column or train the default model first"
        )
    category = fitted.get("category") or (base.category_model if base else None)
    severity = fitted.get("severity") or (base.severity_model if base else None)
    assert category is not None and severity is not None  # noqa: S101  # guaranteed above
    now = datetime.now(UTC)
    meta = {"kind": kind, "trained_at": now.isoformat(timespec="seconds"),
            "trained_tasks": list(fitted), "train_size": len(records)}
    version = model_version(records, kind, now)
    return Classifier(category, severity, version, meta), tuple(fitted)


def _bar(progress: bool, total: int) -> tqdm:
    enabled = progress and sys.stderr.isatty()
    return tqdm(total=total, file=sys.stderr, disable=not enabled, unit="step", leave=False)


def train_candidate(
    records: Sequence[LabelledText],
    heldout_fraction: float = 0.2,
    seed: int = DEFAULT_SEED,
    progress: bool = True,
    *,
    heldout: Sequence[LabelledText] | None = None,
    current: Classifier | None = None,
    kind: str = DEFAULT_KIND,
) -> Candidate:
    """Fit on a split of ``records`` (or all of them when ``heldout`` is given) and score the
    candidate and ``current`` on the same held-out records."""
    with _bar(progress, 4) as bar:
        bar.set_description("split")
        if heldout is None:
            train, held = split_records(records, heldout_fraction, seed)
        else:
            train, held = list(records), list(heldout)
        if not train or not held:
            raise TrainingError("need at least one training and one held-out record")
        bar.update()
        bar.set_description("fit")
        classifier, tasks = fit_classifier(train, current, kind)
        bar.update()
        bar.set_description("evaluate candidate")
        evaluation = evaluate(classifier, held)
        bar.update()
        bar.set_description("evaluate current")
        current_eval = evaluate(current, held) if current is not None else None
        bar.update()
    return Candidate(classifier, evaluation, current_eval, len(train), len(held), tasks)


def compare(candidate: Candidate) -> Decision:
    """Champion/challenger rule (see module docstring)."""
    new, old = candidate.evaluation, candidate.current_evaluation
    if old is None:
        return Decision(True, "no current model")
    if new.category is None or old.category is None:
        return Decision(False, "held-out records carry no category labels")
    cat_new, cat_old = new.category.macro_f1, old.category.macro_f1
    if cat_new <= cat_old:
        return Decision(False, f"category macro-F1 {cat_new:.4f} is not above {cat_old:.4f}")
    if "severity" in candidate.trained_tasks and new.severity and old.severity:
        sev_new, sev_old = new.severity.macro_f1, old.severity.macro_f1
        if sev_new < sev_old:
            return Decision(False, f"severity macro-F1 {sev_new:.4f} is below {sev_old:.4f}")
    return Decision(True, f"category macro-F1 {cat_new:.4f} beats {cat_old:.4f}")


def write_candidate(candidate: Candidate, models_dir: Path, source: str, **extra: object) -> Path:
    """Save the candidate model and its card under ``models/candidates/<version>/``."""
    directory = models_dir / "candidates" / candidate.classifier.version
    directory.mkdir(parents=True, exist_ok=True)
    model_card = card.build_card(candidate, source, **extra)
    card.write_card(model_card, directory / CARD_JSON, directory / CARD_MD)
    candidate.classifier.save(directory / MODEL_FILE)
    return directory


def promote(candidate_dir: Path, models_dir: Path) -> Path:
    """Make a written candidate the current model (cards first, model file last)."""
    for source in (CARD_JSON, CARD_MD, MODEL_FILE):
        target = models_dir / CURRENT_FILES[source]
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        shutil.copyfile(candidate_dir / source, tmp)
        tmp.replace(target)
    return models_dir / CURRENT_FILES[MODEL_FILE]
