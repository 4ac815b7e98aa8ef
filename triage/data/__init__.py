"""The project-owned triage corpus: mail written by independent writers (see README.md)."""

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent
CORPUS = DATA_DIR / "corpus.jsonl"  # the training pool; the card's random split comes from it
BLIND = DATA_DIR / "blind.jsonl"  # other writers, never trained on or tuned against
