"""Retraining on an admin's own history: our trainer against the simple balanced baselines.

Run from the repository root: ``python bench/bench_retrain.py [--rows N]``. A helpdesk export
is made from the shipped corpus as an admin would bring one (numeric category codes, one of
them 70 % of the mail, several under 1 %, two with one and two examples, severities as
priority numbers; ``tests/admin_export.py``). ``ingestd train``'s code path trains on it with
the codes as the taxonomy; TF-IDF + class-balanced LinearSVC and TF-IDF + class-balanced
logistic regression are fitted on the same split in the same run, and the category macro-F1
of each on the held-out part is printed with the ratio to ours. Then the whole shipped corpus
is trained as ``ingestd train`` does, for the issue's time target (5,000 mails, under 2
minutes on two cores).
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.admin_export import SEVERITY_MAP, export_rows, write_export  # noqa: E402  (after sys.path gains the repository root)
from triage.data import CORPUS  # noqa: E402  (after sys.path gains the repository root)
from triage.records import (  # noqa: E402  (after sys.path gains the repository root)
    LabelColumns,
    LabelledText,
    Taxonomy,
    load_records,
    parse_severity_map,
)
from triage.run import corpus_split  # noqa: E402  (after sys.path gains the repository root)
from triage.train import split_records, train_candidate  # noqa: E402  (after sys.path gains the repository root)


def admin_history(rows: int, folder: Path) -> list[LabelledText]:
    export = write_export(folder / "helpdesk.csv", export_rows(load_records(CORPUS), rows))
    columns = LabelColumns(("title", "description"), "queue", "priority")
    return load_records(export, columns, Taxonomy(None, parse_severity_map(SEVERITY_MAP)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4000, help="rows in the helpdesk export")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        records = admin_history(args.rows, Path(folder))
    train, held = split_records(records, 0.2, 42)
    started = time.perf_counter()
    candidate = train_candidate(train, heldout=held, progress=False)
    seconds = time.perf_counter() - started
    ours = candidate.evaluation.category.macro_f1 if candidate.evaluation.category else 0.0
    print(f"helpdesk export: {len(records)} rows, train {len(train)}, held-out {len(held)}")
    for warning in candidate.warnings:
        print(f"  warning: {warning}")
    print(f"{'category macro-F1 on the same held-out':<44}{'F1':>8}{'ours / it':>11}")
    print(f"{'ours (ingestd train, chosen by CV)':<44}{ours:>8.3f}{1.0:>11.2f}")
    for name, f1 in candidate.baselines.items():
        print(f"{name:<44}{f1:>8.3f}{ours / f1 if f1 else float('inf'):>11.2f}")
    print(f"train on the export: {seconds:.1f} s")
    corpus_train, corpus_held = corpus_split()
    started = time.perf_counter()
    train_candidate(corpus_train, heldout=corpus_held, progress=False)
    print(f"train on the shipped corpus ({len(corpus_train)} + {len(corpus_held)} held out): "
          f"{time.perf_counter() - started:.1f} s (target: under 120 s for 5,000 mails)")


if __name__ == "__main__":
    main()
