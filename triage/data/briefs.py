"""Briefs for the writers of the triage corpus: who writes, about what, how, with which labels.

A brief holds no wording: industry, persona, category, severity, language, style and, for some,
a hard case to include. Each writer gets only its own briefs and ``LABELLING.md`` and writes whole
mails; nobody shares phrase lists. The training writers and the blind-set writers draw from
different seeds and never see each other's briefs or mail.

    python -m triage.data.briefs --count 450 --seed 1 --writer w01 > briefs-w01.jsonl
"""

import argparse
import json
import random
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass

from triage.labels import CATEGORIES

INDUSTRIES = (
    "retail", "telecom", "utilities", "banking", "insurance", "healthcare", "travel", "SaaS",
    "public transport", "food", "automotive", "housing",
)
LANGUAGES = {"de": 3, "fr": 3, "es": 3, "it": 2, "nl": 2, "pt": 2}  # 15 % in all
AGES = ("student", "young professional", "parent of small children", "middle-aged", "retired",
        "very elderly")
ROLES = ("private customer", "small-business owner", "office manager for a company",
         "writing on behalf of an elderly relative", "carer for a disabled person",
         "landlord", "tenant", "IT admin of a customer company", "long-time loyal customer",
         "first-time customer")
TEMPERS = ("calm and polite", "furious", "sarcastic", "anxious", "terse", "rambling",
           "very formal", "matter-of-fact", "exhausted", "confused")
STYLES = {
    "one_liner": 8, "short": 20, "normal": 30, "long_rambling": 8, "formal_letter": 8,
    "quoted_thread": 8, "forward": 5, "html_only": 5, "non_native_english": 5,
    "mobile_typos": 3,
}
SEVERITY_WEIGHTS = {"low": 20, "medium": 28, "high": 26, "critical": 26}
HARD_CASES = {
    "critical": ("plain_words", 0.45),
    "low": ("harmless_alarm", 0.3),
    "medium": ("harmless_alarm", 0.25),
    "high": ("repeated_contact", 0.2),
}
HARD_CASE_TEXT = {
    "plain_words": "tell the danger, loss or stoppage in plain everyday words, without the obvious "
                   "keywords (injured, fire, lawyer, sue, breach, hacked, outage, regulator)",
    "harmless_alarm": "use an alarming word (lawyer, fire, hacked, injury, data breach, outage, "
                      "court, police, hospital, dangerous...) in a harmless context: negated, "
                      "hypothetical, quoted, a joke or a routine request; the labels stay as given",
    "repeated_contact": "the customer says they have written or called several times before",
}


@dataclass(frozen=True)
class Brief:
    """What one mail is to be: everything but its words."""

    id: str
    industry: str
    persona: str
    category: str
    severity: str
    escalate: bool
    language: str
    style: str
    hard_case: str


def _weighted(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _language(rng: random.Random) -> str:
    return _weighted(rng, LANGUAGES) if rng.random() < 0.15 else "en"


def _hard_case(rng: random.Random, severity: str) -> str:
    kind, share = HARD_CASES[severity]
    return HARD_CASE_TEXT[kind] if rng.random() < share else ""


def briefs(count: int, seed: int, writer: str) -> Iterator[Brief]:
    """``count`` briefs cycling through every category, severities by weight."""
    rng = random.Random(seed)  # noqa: S311  (reproducible briefs, not cryptography)
    for number in range(count):
        category = CATEGORIES[number % len(CATEGORIES)]
        severity = _weighted(rng, SEVERITY_WEIGHTS)
        language = _language(rng)
        style = _weighted(rng, STYLES)
        if language != "en" and style == "non_native_english":
            style = "normal"
        yield Brief(
            id=f"{writer}-{number:04d}",
            industry=rng.choice(INDUSTRIES),
            persona=f"{rng.choice(AGES)}, {rng.choice(ROLES)}, {rng.choice(TEMPERS)}",
            category=category,
            severity=severity,
            escalate=severity == "critical",
            language=language,
            style=style,
            hard_case=_hard_case(rng, severity),
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--writer", required=True)
    args = parser.parse_args(argv)
    for brief in briefs(args.count, args.seed, args.writer):
        sys.stdout.write(json.dumps(asdict(brief), ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
