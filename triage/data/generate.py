"""Compose the project-owned complaint corpus (deterministic for a given seed).

Run ``python -m triage.data.generate`` from the repository root to rewrite
``triage/data/complaints.jsonl`` (training pool) and ``triage/data/heldout.jsonl`` (held out,
never trained on). See ``README.md`` beside this file for the format and the design.
"""

import argparse
import json
import random
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from triage.data import _noise as noise
from triage.data import _pools_en as en
from triage.data import _pools_i18n as i18n
from triage.labels import CATEGORIES, SEVERITIES, max_severity

DATA_DIR = Path(__file__).resolve().parent
DEFAULT_SEED = 20261123
CATEGORY_WEIGHTS = (14, 14, 13, 11, 11, 9, 10, 9, 9)
_MARKERS = {"!": "critical", "^": "high"}
_CUE_DROPOUT = {"low": 0.15, "medium": 0.4, "high": 0.2}
_ASIDE_LEADS = ("Also, ", "And another thing: ", "Separately, ", "While I'm at it: ", "")
_PRODUCTS = (
    "kettle", "laptop", "headphones", "toaster", "phone", "blender", "jacket", "router",
    "vacuum cleaner", "tablet", "coffee machine", "washing machine", "hair dryer", "drill",
    "smartwatch", "e-reader", "desk lamp", "baby monitor", "air fryer", "power bank",
)
_NAMES = (
    "Anna Schmidt", "John Miller", "Priya Patel", "Mohammed Ali", "Sarah O'Connor",
    "Chen Wei", "Lucía García", "Tom Baker", "Fatima Khan", "Pierre Martin", "Olga Ivanova",
    "David Cohen", "Aisha Bello", "Liam Murphy", "Sophie Dubois", "Jan Nowak",
)
_CITIES = ("Leeds", "Bristol", "Manchester", "Glasgow", "Cardiff", "Berlin", "Lyon", "Madrid")
_RELATIVES = ("son", "daughter", "wife", "husband", "father", "mother", "little boy")
_REGULATORS = ("FCA", "ICO", "Financial Ombudsman", "Ofcom", "Ofgem", "CMA", "regulator")


@dataclass(frozen=True)
class Example:
    """One corpus line."""

    subject: str
    body: str
    category: str
    severity: str


def _amount(rng: random.Random) -> str:
    value = rng.choice((rng.randint(5, 99), rng.randint(100, 999), rng.randint(1000, 4000)))
    cents = rng.choice(("", f".{rng.randint(0, 99):02d}"))
    if rng.random() < 0.25:
        return f"{value} " + rng.choice(("euros", "pounds", "dollars", "quid", "EUR", "GBP"))
    return rng.choice(("£", "€", "$", "EUR ")) + f"{value}{cents}"


def _slots(rng: random.Random) -> dict[str, str]:
    """Values for every placeholder a pool sentence may use."""
    name = rng.choice(_NAMES)
    order = rng.choice((
        "#" + noise.random_code(rng, 1, 6),
        f"{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}",
        noise.random_code(rng, 3, 8),
    ))
    n = rng.randint(2, 6)
    return {
        "order": order, "amount": _amount(rng), "invoice": "INV-" + noise.random_code(rng, 0, 7),
        "date": f"{rng.randint(1, 28)}/{rng.randint(1, 12)}/2025",
        "product": rng.choice(_PRODUCTS), "name": name, "staff": rng.choice(_NAMES).split()[0],
        "account": noise.random_code(rng, 2, 7), "days": str(rng.randint(3, 40)),
        "n": str(n), "m": str(n + rng.randint(1, 4)), "hours": str(rng.randint(2, 30)),
        "pct": str(rng.randint(10, 60)), "city": rng.choice(_CITIES),
        "time": f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}",
        "weekday": rng.choice(("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")),
        "weeks": str(rng.randint(2, 9)), "nth": rng.choice(("third", "fourth", "fifth")),
        "years": str(rng.randint(2, 25)), "phone": f"07{rng.randint(100000000, 999999999)}",
        "relative": rng.choice(_RELATIVES), "regulator": rng.choice(_REGULATORS),
        "company": rng.choice(("Acme", "ShopCo", "NetFast", "HomeGoods", "Brightline")),
    }


def _problem(pool: tuple[str, ...], rng: random.Random) -> tuple[str, str]:
    """A problem sentence and the least severity it implies."""
    text = rng.choice(pool)
    if text[0] in _MARKERS:
        return text[1:], _MARKERS[text[0]]
    return text, "low"


def _severity_cue(category: str, severity: str, rng: random.Random) -> str:
    if severity == "critical":
        kind = rng.choice(en.CRITICAL_KINDS[category])
        return rng.choice(en.CRITICAL_CUES[kind])
    if rng.random() < _CUE_DROPOUT.get(severity, 0.0):
        return ""
    return rng.choice(en.SEVERITY_CUES[severity])


def _english_body(category: str, severity: str, rng: random.Random) -> tuple[str, str, str]:
    """Body, final severity (a problem sentence may imply more), secondary category."""
    problem, floor = _problem(en.PROBLEMS[category], rng)
    severity = max_severity(severity, floor)
    parts = [problem]
    if rng.random() < 0.7:
        parts += rng.sample(en.DETAILS, rng.randint(1, 3))
    if rng.random() < 0.35:
        second, second_floor = _problem(en.PROBLEMS[category], rng)
        if second != problem and second_floor in ("low", severity):
            parts.append(second)
    parts.append(_severity_cue(category, severity, rng))
    if rng.random() < 0.25 and severity in ("high", "critical"):
        parts.append(_severity_cue(category, severity, rng))
    aside, second = _aside(category, rng)
    if rng.random() < 0.7:
        parts.append(rng.choice(en.DEMANDS[category]))
    return _frame(parts + aside, rng), severity, second


def _aside(category: str, rng: random.Random) -> tuple[list[str], str]:
    """Sometimes mention a second topic, as real customers do; returns it and its category."""
    if rng.random() >= 0.3:
        return [], category
    other = rng.choice([c for c in CATEGORIES if c != category and en.ASIDES[c]])
    if rng.random() < 0.35:
        text, floor = _problem(en.PROBLEMS[other], rng)
        if floor == "low":
            return [rng.choice(_ASIDE_LEADS) + text], other
    return [rng.choice(en.ASIDES[other])], other


def _frame(parts: list[str], rng: random.Random) -> str:
    """Join sentences into paragraphs between an opening and a closing."""
    parts = [p for p in parts if p]
    if rng.random() < 0.12:
        i = rng.randrange(len(parts))
        parts[i] = noise.shout(parts[i], rng)
    if rng.random() < 0.35:
        return " ".join(parts)
    opening = rng.choice(en.OPENINGS)
    closing = rng.choice(en.CLOSINGS)
    cut = rng.randint(1, len(parts))
    body = " ".join(parts[:cut]) + "\n\n" + " ".join(parts[cut:])
    return f"{opening}\n\n{body.strip()}\n\n{closing}\n{{name}}".strip()


def _non_native(text: str, rng: random.Random) -> str:
    for old, new in en.NON_NATIVE:
        if rng.random() < 0.5:
            text = text.replace(old, new, 1)
    return text


def _foreign_body(lang: str, category: str, severity: str, rng: random.Random) -> tuple[str, str]:
    problem, floor = _problem(i18n.PROBLEMS[lang][category], rng)
    severity = max_severity(severity, floor)
    cues = i18n.SEVERITY_CUES[lang][severity]
    cue = _foreign_critical(cues, category, rng) if severity == "critical" else rng.choice(cues)
    parts = [rng.choice(i18n.OPENINGS[lang]), problem, cue]
    if rng.random() < 0.4:
        parts.append(rng.choice(en.DETAILS[:3]))
    parts.append(rng.choice(i18n.CLOSINGS[lang]) + "\n{name}")
    return "\n\n".join(parts), severity


def _foreign_critical(cues: tuple[str, ...], category: str, rng: random.Random) -> str:
    """Pick a legal (0,1), injury (2,3) or data-breach (4) cue matching the category."""
    if category == "safety_legal":
        return cues[rng.choice((0, 2, 3))]
    if category in ("privacy_security", "account_access"):
        return cues[rng.choice((0, 4))]
    return cues[rng.choice((0, 1))]


def _subject(category: str, lang: str, rng: random.Random) -> str:
    if lang != "en":
        return rng.choice(i18n.SUBJECTS[lang])
    pool = en.SUBJECTS[category] if rng.random() < 0.65 else en.GENERIC_SUBJECTS
    subject = rng.choice(pool)
    if rng.random() < 0.15:
        subject = rng.choice(("Re: ", "RE: ", "AW: ", "Fwd: ")) + subject
    return "" if subject == "(no subject)" else subject


def _noisy(body: str, subject: str, slots: dict[str, str], rng: random.Random) -> str:
    """Apply typos, non-native phrasing, quoting and forwarding."""
    if rng.random() < 0.12:
        body = _non_native(body, rng)
    if rng.random() < 0.3:
        body = noise.add_typos(body, rng.uniform(0.02, 0.09), rng)
    if rng.random() < 0.12:
        body = noise.quote_reply(body, rng)
    if rng.random() < 0.07:
        sender = slots["name"] + " <" + slots["name"].split()[0].lower() + "@example.net>"
        body = noise.forward(body, subject, sender, rng)
    return body


def compose(rng: random.Random) -> Example:
    """One labelled complaint email."""
    category = rng.choices(CATEGORIES, weights=CATEGORY_WEIGHTS)[0]
    severity = rng.choices(SEVERITIES, weights=en.SEVERITY_PRIORS[category])[0]
    lang = "en" if rng.random() < 0.9 else rng.choice(("de", "fr", "es"))
    second = category
    if lang == "en":
        body, severity, second = _english_body(category, severity, rng)
    else:
        body, severity = _foreign_body(lang, category, severity, rng)
    slots = _slots(rng)
    subject = _subject(category, lang, rng).format(**slots)
    body = _noisy(body.format(**slots), subject, slots, rng)
    if second != category and rng.random() < 0.1:
        category = second  # annotators disagree on which topic of a mixed mail counts
    return Example(subject, body, category, _label_noise(severity, rng))


def _label_noise(severity: str, rng: random.Random) -> str:
    """Annotators disagree on the low/medium/high boundary; critical stays critical."""
    if severity == "critical" or rng.random() >= 0.06:
        return severity
    rank = SEVERITIES.index(severity)
    return SEVERITIES[max(0, min(2, rank + rng.choice((-1, 1))))]


def generate(count: int, seed: int = DEFAULT_SEED) -> Iterator[Example]:
    """``count`` examples, the same ones for the same seed."""
    rng = random.Random(seed)  # noqa: S311  # reproducible corpus, not cryptography
    for _ in range(count):
        yield compose(rng)


def write_jsonl(examples: list[Example], path: Path) -> None:
    """Write examples as one JSON object per line (UTF-8)."""
    with path.open("w", encoding="utf-8") as out:
        for example in examples:
            out.write(json.dumps(asdict(example), ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> None:
    """Regenerate the shipped corpus files."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--heldout-fraction", type=float, default=0.2)
    parser.add_argument("--out-dir", type=Path, default=DATA_DIR)
    args = parser.parse_args(argv)
    examples = list(generate(args.count, args.seed))
    cut = int(len(examples) * (1 - args.heldout_fraction))
    write_jsonl(examples[:cut], args.out_dir / "complaints.jsonl")
    write_jsonl(examples[cut:], args.out_dir / "heldout.jsonl")


if __name__ == "__main__":
    main()
