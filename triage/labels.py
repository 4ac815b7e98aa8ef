"""The label sets of the triage model, in the order the SPEC lists them."""

from typing import Final

CATEGORIES: Final[tuple[str, ...]] = (
    "billing",
    "delivery",
    "product_quality",
    "service_outage",
    "account_access",
    "staff_conduct",
    "privacy_security",
    "safety_legal",
    "other",
)

SEVERITIES: Final[tuple[str, ...]] = ("low", "medium", "high", "critical")


def severity_rank(severity: str) -> int:
    """Position of a severity on the low..critical scale (used to only ever raise it)."""
    return SEVERITIES.index(severity)


def max_severity(a: str, b: str) -> str:
    """The more severe of two severities."""
    return a if severity_rank(a) >= severity_rank(b) else b
