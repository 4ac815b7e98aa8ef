"""How far a second writer, with only LABELLING.md, agrees with the corpus labels.

``relabel.jsonl`` holds a second writer's labels for a stratified sample of corpus mails
(ids only: the writer saw the mail, never its labels). Prints raw agreement and Cohen's kappa
per label; severity also with quadratic weights, since it is ordered.

    python -m triage.data.agreement
"""

import json
from pathlib import Path

from sklearn.metrics import cohen_kappa_score

from triage.data import CORPUS, DATA_DIR
from triage.labels import SEVERITIES

RELABEL = DATA_DIR / "relabel.jsonl"


def _by_id(path: Path) -> dict[str, dict[str, object]]:
    rows = (json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line)
    return {str(row["id"]): row for row in rows}


def agreement(corpus: Path = CORPUS, relabel: Path = RELABEL) -> dict[str, dict[str, float]]:
    """Per label: the share of identical labels and Cohen's kappa, on the mails both label."""
    first, second = _by_id(corpus), _by_id(relabel)
    ids = sorted(set(first) & set(second))
    figures = {"size": {"mails": float(len(ids))}}
    for label in ("category", "severity", "escalate"):
        a = [str(first[i][label]) for i in ids]
        b = [str(second[i][label]) for i in ids]
        figures[label] = {"agreement": sum(x == y for x, y in zip(a, b, strict=True)) / len(ids),
                          "kappa": float(cohen_kappa_score(a, b))}
    rank = {s: n for n, s in enumerate(SEVERITIES)}
    figures["severity"]["kappa_quadratic"] = float(cohen_kappa_score(
        [rank[str(first[i]["severity"])] for i in ids],
        [rank[str(second[i]["severity"])] for i in ids], weights="quadratic"))
    return figures


if __name__ == "__main__":
    print(json.dumps(agreement(), indent=2))
