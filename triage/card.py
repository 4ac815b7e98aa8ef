"""Model cards: what a model was trained on, how well it does, and where it falls short.

Each model is written with ``card.json`` (for tools) and ``card.md`` (for people).
"""

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from triage.features import CHAR_FEATURES, WORD_FEATURES
from triage.result import DEFAULT_REVIEW_THRESHOLD
from triage.rules import TEXT_RULES

if TYPE_CHECKING:
    from triage.train import Candidate

KNOWN_LIMITS = (
    "Trained on a synthetic, generated corpus (triage/data): real mail will differ in style; "
    "retrain on corrected labels from the case store as soon as there are a few hundred.",
    "About 10% of training mail is German, French or Spanish, with a much smaller vocabulary "
    "than English; other languages fall back to character n-grams and the rules.",
    "Mixed-topic mail gets the category of the dominant topic only.",
    "Severity between low/medium/high is partly subjective (labels were noised on purpose); "
    "critical is backed by keyword rules that can miss misspelled or indirect wording.",
    "Confidence is the category model's top probability; below the review threshold "
    f"(default {DEFAULT_REVIEW_THRESHOLD}) the case is marked for review.",
)


def build_card(candidate: "Candidate", source: str, **extra: object) -> dict[str, Any]:
    """The JSON card of a candidate."""
    clf = candidate.classifier
    current = candidate.current_evaluation
    return {
        "model_version": clf.version,
        "created": clf.metadata.get("trained_at"),
        "model": {
            "kind": clf.metadata.get("kind"),
            "trained_tasks": list(candidate.trained_tasks),
            "features": f"word 1-2-gram TF-IDF (<= {WORD_FEATURES}) + char_wb 2-5-gram "
                        f"TF-IDF (<= {CHAR_FEATURES}), subject + body",
            "confidence": "top probability of the category model",
        },
        "data": {"source": source, "train_size": candidate.train_size,
                 "heldout_size": candidate.heldout_size},
        "heldout": candidate.evaluation.as_dict(),
        "current_model_on_same_heldout": current.as_dict() if current else None,
        "rules": [*sorted({f"{r.name} (raises to {r.floor})" for r in TEXT_RULES}),
                  "recurring_customer (raises to high)", "category_spike (raises to high)"],
        "known_limits": list(KNOWN_LIMITS),
        **extra,
    }


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def write_card(model_card: dict[str, Any], json_path: Path, md_path: Path) -> None:
    """Write both forms of a card."""
    _atomic_write(json_path, json.dumps(model_card, indent=2, ensure_ascii=False) + "\n")
    _atomic_write(md_path, render_markdown(model_card))


def _task_table(title: str, task: dict[str, Any]) -> list[str]:
    lines = [f"### {title}", "", f"macro-F1 **{task['macro_f1']:.3f}**, "
             f"accuracy {task['accuracy']:.3f}", "",
             "| label | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for label, m in task["per_class"].items():
        lines.append(f"| {label} | {m['precision']:.3f} | {m['recall']:.3f} | "
                     f"{m['f1']:.3f} | {m['support']} |")
    labels = task["labels"]
    lines += ["", "Confusion (rows gold, columns predicted):", "",
              "| gold \\ pred | " + " | ".join(labels) + " |",
              "|---" * (len(labels) + 1) + "|"]
    for label, row in zip(labels, task["confusion"], strict=True):
        lines.append(f"| {label} | " + " | ".join(str(v) for v in row) + " |")
    return [*lines, ""]


def _metrics(heading: str, evaluation: dict[str, Any]) -> list[str]:
    lines = [f"## {heading}", "", f"Records: {evaluation['size']}, model "
             f"`{evaluation['model_version']}`."]
    if evaluation["escalation_recall"] is not None:
        lines.append(f"Escalation recall (gold critical that escalate): "
                     f"**{evaluation['escalation_recall']:.3f}**")
    lines.append("")
    for task in ("category", "severity"):
        if evaluation[task]:
            lines += _task_table(task.capitalize(), evaluation[task])
    return lines


def render_markdown(model_card: dict[str, Any]) -> str:
    """Human-readable card."""
    data, model = model_card["data"], model_card["model"]
    lines = [
        f"# Triage model `{model_card['model_version']}`", "",
        f"- created: {model_card['created']}",
        f"- kind: {model['kind']} ({', '.join(model['trained_tasks'])} trained)",
        f"- features: {model['features']}",
        f"- confidence: {model['confidence']}",
        f"- data: {data['source']}; train {data['train_size']}, held-out "
        f"{data['heldout_size']} (never trained on)", "",
    ]
    lines += _metrics("Held-out metrics", model_card["heldout"])
    if model_card.get("current_model_on_same_heldout"):
        previous = model_card["current_model_on_same_heldout"]
        lines += _metrics("Current model on the same held-out", previous)
    if model_card.get("kind_comparison"):
        lines += ["## Classifier comparison (same split)", "",
                  "| kind | category macro-F1 | severity macro-F1 | escalation recall | fit s |",
                  "|---|---|---|---|---|"]
        for kind, row in model_card["kind_comparison"].items():
            lines.append(f"| {kind} | {row['category_macro_f1']:.3f} | "
                         f"{row['severity_macro_f1']:.3f} | {row['escalation_recall']:.3f} | "
                         f"{row['fit_seconds']:.1f} |")
        lines.append("")
    lines += ["## Rules on top", ""] + [f"- {r}" for r in model_card["rules"]] + [""]
    lines += ["## Known limits", ""] + [f"- {k}" for k in model_card["known_limits"]]
    return "\n".join(lines) + "\n"

