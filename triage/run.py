"""Training runs as the CLI (and the daemon's admin commands) start them.

``run_training`` is the one entry point: shipped corpus or a CSV/JSONL file, plus any extra
labelled records the caller has (e.g. corrected cases from the database). ``build_default``
rebuilds the committed default model and reports the blind set beside the random split.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from triage import card
from triage.data import BLIND, CORPUS
from triage.evaluate import evaluate
from triage.model import Classifier
from triage.records import LabelColumns, LabelledText, Taxonomy, load_records
from triage.train import (
    CARD_JSON,
    CARD_MD,
    CURRENT_FILES,
    DEFAULT_SEED,
    MODEL_FILE,
    Candidate,
    Decision,
    compare,
    promote,
    split_records,
    train_candidate,
)

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"


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
    """A labelled file, which of its columns hold text and labels, and its taxonomy."""

    path: Path
    columns: LabelColumns = field(default_factory=LabelColumns)
    taxonomy: Taxonomy = field(default_factory=Taxonomy)

    def load(self) -> list[LabelledText]:
        """The file's records."""
        return load_records(self.path, self.columns, self.taxonomy)


def write_candidate(candidate: Candidate, models_dir: Path, source: str, **extra: object) -> Path:
    """Save the candidate model and its card under ``models/candidates/<version>/``."""
    directory = models_dir / "candidates" / candidate.classifier.version
    directory.mkdir(parents=True, exist_ok=True)
    model_card = card.build_card(candidate, source, **extra)
    card.write_card(model_card, directory / CARD_JSON, directory / CARD_MD)
    candidate.classifier.save(directory / MODEL_FILE)
    return directory


def current_model(models_dir: Path) -> Classifier | None:
    """The promoted model, if there is one."""
    path = models_dir / CURRENT_FILES[MODEL_FILE]
    return Classifier.load(path) if path.is_file() else None


def corpus_split(
    fraction: float = 0.2, seed: int = DEFAULT_SEED,
) -> tuple[list[LabelledText], list[LabelledText]]:
    """The shipped corpus as the default model is trained and scored: a stratified split."""
    return split_records(load_records(CORPUS), fraction, seed)


def _datasets(
    extra: Sequence[LabelledText], source: FileSpec | None, fraction: float, seed: int,
) -> tuple[list[LabelledText], list[LabelledText], str]:
    """Training and held-out records, and a description for the card."""
    if source is not None:
        train, held = split_records([*source.load(), *extra], fraction, seed)
        return train, held, f"{source.path.name} + {len(extra)} extra records"
    extra_train, extra_held = split_records(extra, fraction, seed)
    train, held = corpus_split(fraction, seed)
    return ([*train, *extra_train], [*held, *extra_held],
            f"shipped corpus {CORPUS.name} + {len(extra)} extra records")


def run_training(
    extra_records: Sequence[LabelledText] = (),
    from_file: FileSpec | None = None,
    *,
    models_dir: Path = MODELS_DIR,
    promote_if_better: bool = False,
    progress: bool = True,
    heldout_fraction: float = 0.2,
    seed: int = DEFAULT_SEED,
) -> TrainingReport:
    """Train a candidate, write it with its card, and promote it if asked and better."""
    train, held, source = _datasets(extra_records, from_file, heldout_fraction, seed)
    current = current_model(models_dir)
    candidate = train_candidate(train, progress=progress, heldout=held, current=current)
    decision = compare(candidate)
    directory = write_candidate(candidate, models_dir, source)
    promoted = promote_if_better and decision.better
    if promoted:
        promote(directory, models_dir)
    return TrainingReport(candidate, decision, promoted, directory,
                          models_dir / CURRENT_FILES[MODEL_FILE])


def build_default(models_dir: Path = MODELS_DIR, progress: bool = True) -> TrainingReport:
    """Rebuild the committed default model on the corpus split; the card adds the blind set."""
    train, held = corpus_split()
    candidate = train_candidate(train, progress=progress, heldout=held)
    blind = evaluate(candidate.classifier, load_records(BLIND))
    directory = write_candidate(candidate, models_dir, f"shipped corpus {CORPUS.name}",
                                blind=blind.as_dict())
    promote(directory, models_dir)
    return TrainingReport(candidate, Decision(True, "default model"), True, directory,
                          models_dir / CURRENT_FILES[MODEL_FILE])


if __name__ == "__main__":
    report = build_default()
    print(f"default model {report.candidate.classifier.version} -> {report.current_path}")
