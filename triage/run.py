"""Training runs as the CLI (and the daemon's admin commands) start them.

``run_training`` is the one entry point: shipped corpus or a CSV/JSONL file, plus any extra
labelled records the caller has (e.g. corrected cases from the database). ``build_default``
rebuilds the committed default model and records the classifier comparison in its card.
"""

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from triage.data.generate import DATA_DIR
from triage.features import DEFAULT_KIND, KINDS
from triage.model import Classifier
from triage.records import LabelledText, load_records
from triage.train import (
    CURRENT_FILES,
    DEFAULT_SEED,
    MODEL_FILE,
    Candidate,
    Decision,
    compare,
    promote,
    split_records,
    train_candidate,
    write_candidate,
)

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
CORPUS = DATA_DIR / "complaints.jsonl"
HELDOUT = DATA_DIR / "heldout.jsonl"


@dataclass(frozen=True)
class TrainingReport:
    """What a training run did."""

    candidate: Candidate
    decision: Decision
    promoted: bool
    candidate_dir: Path
    current_path: Path


@dataclass(frozen=True)
class FileSpec:
    """A labelled file and which of its columns hold text and labels."""

    path: Path
    text_columns: tuple[str, ...] = ("subject", "body")
    category_column: str | None = "category"
    severity_column: str | None = "severity"

    def load(self) -> list[LabelledText]:
        """The file's records."""
        return load_records(self.path, self.text_columns, self.category_column,
                            self.severity_column)


def current_model(models_dir: Path) -> Classifier | None:
    """The promoted model, if there is one."""
    path = models_dir / CURRENT_FILES[MODEL_FILE]
    return Classifier.load(path) if path.is_file() else None


def _datasets(
    extra: Sequence[LabelledText], source: FileSpec | None, fraction: float, seed: int,
) -> tuple[list[LabelledText], list[LabelledText], str]:
    """Training and held-out records, and a description for the card."""
    if source is not None:
        train, held = split_records([*source.load(), *extra], fraction, seed)
        return train, held, f"{source.path.name} + {len(extra)} extra records"
    extra_train, extra_held = split_records(extra, fraction, seed)
    train = [*load_records(CORPUS), *extra_train]
    held = [*load_records(HELDOUT), *extra_held]
    return train, held, f"shipped corpus {CORPUS.name} + {len(extra)} extra records"


def run_training(
    extra_records: Sequence[LabelledText] = (),
    from_file: FileSpec | None = None,
    *,
    models_dir: Path = MODELS_DIR,
    promote_if_better: bool = False,
    progress: bool = True,
    heldout_fraction: float = 0.2,
    seed: int = DEFAULT_SEED,
    kind: str = DEFAULT_KIND,
) -> TrainingReport:
    """Train a candidate, write it with its card, and promote it if asked and better."""
    train, held, source = _datasets(extra_records, from_file, heldout_fraction, seed)
    current = current_model(models_dir)
    candidate = train_candidate(train, progress=progress, heldout=held, current=current,
                                kind=kind)
    decision = compare(candidate)
    directory = write_candidate(candidate, models_dir, source)
    promoted = promote_if_better and decision.better
    if promoted:
        promote(directory, models_dir)
    return TrainingReport(candidate, decision, promoted, directory,
                          models_dir / CURRENT_FILES[MODEL_FILE])


def build_default(models_dir: Path = MODELS_DIR, progress: bool = True) -> TrainingReport:
    """Rebuild the committed default model: every kind on the shipped split, best one wins."""
    train, held = load_records(CORPUS), load_records(HELDOUT)
    results: dict[str, tuple[Candidate, float]] = {}
    for kind in KINDS:
        started = time.perf_counter()
        candidate = train_candidate(train, progress=progress, heldout=held, kind=kind)
        results[kind] = (candidate, time.perf_counter() - started)
    best = max(KINDS, key=lambda k: _score(results[k][0]))
    comparison = {kind: _summary(c, seconds) for kind, (c, seconds) in results.items()}
    directory = write_candidate(results[best][0], models_dir, f"shipped corpus {CORPUS.name}",
                                kind_comparison=comparison)
    promote(directory, models_dir)
    return TrainingReport(results[best][0], Decision(True, f"best kind: {best}"), True,
                          directory, models_dir / CURRENT_FILES[MODEL_FILE])


def _score(candidate: Candidate) -> tuple[float, float]:
    ev = candidate.evaluation
    return (ev.category.macro_f1 if ev.category else 0.0,
            ev.severity.macro_f1 if ev.severity else 0.0)


def _summary(candidate: Candidate, seconds: float) -> dict[str, float]:
    cat, sev = _score(candidate)
    recall = candidate.evaluation.escalation_recall
    return {"category_macro_f1": cat, "severity_macro_f1": sev,
            "escalation_recall": recall if recall is not None else 0.0, "fit_seconds": seconds}


if __name__ == "__main__":
    report = build_default()
    print(f"default model {report.candidate.classifier.version} -> {report.current_path}")
