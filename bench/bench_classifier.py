"""Benchmark the triage classifier against a plain word TF-IDF + LogisticRegression baseline.

Run from the repository root: ``python bench/bench_classifier.py [--repeat N]``. Both models are
fitted in this run on the shipped corpus's training split and measured on its held-out split
(``triage.run.corpus_split``), so the ratios are comparable on any machine; our fit includes
the cross-validated choice of features and hyper-parameters and the escalation threshold.
Single-message latency uses the public ``classify`` path
(model, rules and result object) for ours and ``Pipeline.predict_proba`` for the baseline.
Our severity macro-F1 and escalation recall and precision on the same held-out follow, so a
change made for speed shows what it costs.
"""

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402  (after sys.path gains the repository root)
from sklearn.linear_model import LogisticRegression  # noqa: E402  (after sys.path gains the repository root)
from sklearn.metrics import f1_score  # noqa: E402  (after sys.path gains the repository root)
from sklearn.pipeline import Pipeline  # noqa: E402  (after sys.path gains the repository root)

from triage import Classifier  # noqa: E402  (after sys.path gains the repository root)
from triage.evaluate import evaluate  # noqa: E402  (after sys.path gains the repository root)
from triage.features import compose_text  # noqa: E402  (after sys.path gains the repository root)
from triage.records import LabelledText  # noqa: E402  (after sys.path gains the repository root)
from triage.run import corpus_split  # noqa: E402  (after sys.path gains the repository root)
from triage.train import fit_classifier  # noqa: E402  (after sys.path gains the repository root)


def timed(fn: Callable[[], object], clock: Callable[[], float] = time.perf_counter) -> float:
    started = clock()
    fn()
    return clock() - started


def latencies(fn: Callable[[str, str], object], records: list[LabelledText], repeat: int,
              clock: Callable[[], float] = time.perf_counter) -> tuple[float, float]:
    """p50 and p95 in ms; with ``time.thread_time`` it is CPU time, immune to a busy machine."""
    samples = []
    for _ in range(repeat):
        for r in records:
            samples.append(timed(lambda r=r: fn(r.subject, r.body), clock))
    samples.sort()
    return samples[len(samples) // 2] * 1e3, samples[int(len(samples) * 0.95)] * 1e3


def baseline(train: list[LabelledText]) -> tuple[Pipeline, Pipeline]:
    texts = [compose_text(r.subject, r.body) for r in train]
    models = []
    for labels in ([r.category for r in train], [r.severity for r in train]):
        pipe = Pipeline([("tfidf", TfidfVectorizer()), ("lr", LogisticRegression(max_iter=1000))])
        models.append(pipe.fit(texts, labels))
    return models[0], models[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="latency passes over held-out")
    args = parser.parse_args()
    train, held = corpus_split()
    texts = [compose_text(r.subject, r.body) for r in held]

    ours: list[Classifier] = []
    ours_fit = timed(lambda: ours.append(fit_classifier(train, None).classifier))
    base: list[tuple[Pipeline, Pipeline]] = []
    base_fit = timed(lambda: base.append(baseline(train)))
    model, (b_cat, b_sev) = ours[0], base[0]

    def base_one(subject: str, body: str) -> object:
        text = [compose_text(subject, body)]
        return b_cat.predict_proba(text), b_sev.predict_proba(text)

    o50, o95 = latencies(model.classify, held, args.repeat)
    b50, b95 = latencies(base_one, held, args.repeat)
    oc50, oc95 = latencies(model.classify, held, args.repeat, time.thread_time)
    bc50, bc95 = latencies(base_one, held, args.repeat, time.thread_time)
    o_batch = timed(lambda: model.classify_many((r.subject, r.body) for r in held))
    b_batch = timed(lambda: (b_cat.predict_proba(texts), b_sev.predict_proba(texts)))
    o_f1 = f1_score([r.category for r in held],
                    [x.category for x in model.classify_many((r.subject, r.body) for r in held)],
                    average="macro")
    b_f1 = f1_score([r.category for r in held], b_cat.predict(texts), average="macro")

    print(f"corpus: train {len(train)}, held-out {len(held)}")
    print(f"{'':24}{'ours':>12}{'baseline':>12}{'ratio':>8}")
    rows = [
        ("fit time (s)", ours_fit, base_fit),
        ("latency p50 (ms)", o50, b50),
        ("latency p95 (ms)", o95, b95),
        ("CPU latency p50 (ms)", oc50, bc50),
        ("CPU latency p95 (ms)", oc95, bc95),
        ("batch (msg/s)", len(held) / o_batch, len(held) / b_batch),
        ("category macro-F1", o_f1, b_f1),
    ]
    for name, a, b in rows:
        print(f"{name:<24}{a:>12.3f}{b:>12.3f}{a / b:>8.2f}")
    held_eval = evaluate(model, held)
    severity = held_eval.severity.macro_f1 if held_eval.severity else float("nan")
    print(f"ours on held-out: severity macro-F1 {severity:.3f}, "
          f"escalation recall {held_eval.escalation_recall or 0:.3f}, "
          f"precision {held_eval.escalation_precision or 0:.3f}")
    verdict = "met" if min(o50, oc50) <= 2.0 else "MISSED"
    print(f"single-message target 2 ms: {verdict} (wall p50 {o50:.2f} ms, CPU p50 {oc50:.2f} ms)")


if __name__ == "__main__":
    main()
