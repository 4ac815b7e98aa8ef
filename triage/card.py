"""Model cards: what a model was trained on, how well it does, and where it falls short.

Each model is written with ``card.json`` (for tools) and ``card.md`` (for people).
"""

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from triage.escalation import STACK_KEY
from triage.result import DEFAULT_REVIEW_THRESHOLD
from triage.rules import describe_rules

if TYPE_CHECKING:
    from triage.train import Candidate

KNOWN_LIMITS = (
    "Trained on mail written for this project by independent writers from briefs (industry, "
    "persona, situation, labels; see triage/data/README.md), not on a real mailbox: retrain on "
    "corrected labels from the case store as soon as there are a few hundred.",
    "About 15% of the corpus is German, French, Spanish, Italian, Dutch or Portuguese, spread "
    "thin; other languages fall back to character n-grams and the rules.",
    "Mixed-topic mail gets the category of the problem the customer asks to fix only.",
    "Severity between low/medium/high is partly a judgement: the labelling guide "
    "(triage/data/LABELLING.md) draws the lines, and two writers agree on it only so often "
    "(see the corpus README).",
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
            "settings": clf.metadata.get("settings", {}),
            "escalation_threshold": clf.escalation_threshold,
            "escalation_recall_out_of_fold": clf.metadata.get("escalation_recall"),
            "escalation_stack": clf.metadata.get(STACK_KEY),
            "confidence": "top probability of the category model",
        },
        "data": {"source": source, "train_size": candidate.train_size,
                 "heldout_size": candidate.heldout_size,
                 "from_corrections": candidate.corrections,
                 "warnings": list(candidate.warnings)},
        "heldout": candidate.evaluation.as_dict(),
        "current_model_on_same_heldout": current.as_dict() if current else None,
        "baselines_on_same_heldout": candidate.baselines,
        "rules": describe_rules(),
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
    recall, precision = evaluation["escalation_recall"], evaluation.get("escalation_precision")
    if recall is not None:
        lines.append(f"Escalation recall **{recall:.3f}**"
                     + (f", precision **{precision:.3f}**" if precision is not None else "")
                     + " (must escalate: gold escalate, or gold severity critical)")
    lines.append("")
    for task in ("category", "severity"):
        if evaluation[task]:
            lines += _task_table(task.capitalize(), evaluation[task])
    return lines


def _header(model_card: dict[str, Any]) -> list[str]:
    data, model = model_card["data"], model_card["model"]
    settings = "; ".join(f"{task}: {text}" for task, text in model["settings"].items())
    return [
        f"# Triage model `{model_card['model_version']}`", "",
        f"- created: {model_card['created']}",
        f"- kind: {model['kind']} ({', '.join(model['trained_tasks'])} trained)",
        f"- chosen by cross-validation: {settings or 'nothing trained here'}",
        *_escalation_lines(model),
        f"- confidence: {model['confidence']}",
        f"- data: {data['source']}; train {data['train_size']} (of which "
        f"{data.get('from_corrections', 0)} agents' corrections), held-out "
        f"{data['heldout_size']} (never trained on)",
        *(f"- warning: {w}" for w in data.get("warnings", [])), "",
    ]


def _escalation_lines(model: dict[str, Any]) -> list[str]:
    stack, recall = model.get("escalation_stack"), model.get("escalation_recall_out_of_fold")
    score = "the stacked score" if stack else "the escalation model's probability"
    kept = f"recall >= {recall:g} out of fold" if recall else "chosen out of fold"
    lines = [f"- escalation threshold: {model['escalation_threshold']:.3f} on {score} ({kept})"]
    if stack:
        weights = ", ".join(f"{name} {w:+.2f}"
                            for name, w in zip(stack["features"], stack["coef"], strict=True))
        lines.append(f"- escalation score weights: {weights}; intercept {stack['intercept']:+.2f}")
    return lines


def render_markdown(model_card: dict[str, Any]) -> str:
    """Human-readable card."""
    lines = _header(model_card)
    lines += _metrics("Held-out metrics (random split of the training source)",
                      model_card["heldout"])
    if model_card.get("blind"):
        lines += _metrics("Blind set (other writers, never trained or tuned on)",
                          model_card["blind"])
    if model_card.get("baselines_on_same_heldout"):
        lines += ["## Simple baselines on the same held-out (category macro-F1)", "",
                  "| model | category macro-F1 |", "|---|---|"]
        lines += [f"| {name} | {f1:.3f} |"
                  for name, f1 in model_card["baselines_on_same_heldout"].items()]
        lines.append("")
    if model_card.get("current_model_on_same_heldout"):
        previous = model_card["current_model_on_same_heldout"]
        lines += _metrics("Current model on the same held-out", previous)
    lines += ["## Rules on top", ""] + [f"- {r}" for r in model_card["rules"]] + [""]
    lines += ["## Known limits", ""] + [f"- {k}" for k in model_card["known_limits"]]
    return "\n".join(lines) + "\n"
