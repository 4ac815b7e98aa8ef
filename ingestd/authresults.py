"""Did our own receiving server authenticate the sender? (RFC 8601 Authentication-Results)

Anyone can write a participant's address in From. Where the receiving server checks
DMARC, DKIM and SPF, it records the verdict in an Authentication-Results header named by
its authserv-id; only that header counts (one added further away, or by the sender, is
ignored: a well-run receiving server removes copies of its own id that arrive from outside).
The sender is authenticated when DMARC passed, or DKIM or SPF passed for the From domain.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any

import authres  # type: ignore[import-untyped]  # (no type information shipped)

_HEAD_END = (b"\r\n\r\n", b"\n\n")


@dataclass(frozen=True)
class Verdict:
    """Whether the From domain was authenticated, and the evidence in a few words."""

    authenticated: bool
    reason: str


def sender_verdict(raw: bytes, authserv_id: str, from_address: str) -> Verdict:
    """What our server (`authserv_id`) found out about the author of `raw`."""
    domain = from_address.rpartition("@")[2].lower().rstrip(".")
    results = _our_results(raw, authserv_id.lower())
    if results is None:
        return Verdict(False, f"no Authentication-Results from {authserv_id}")
    seen = []
    for result in results:
        method, outcome = str(result.method).lower(), str(result.result).lower()
        seen.append(f"{method}={outcome}")
        if outcome == "pass" and _aligned(method, _properties(result), domain):
            return Verdict(True, f"{method}=pass for {domain}")
    return Verdict(False, f"{authserv_id} found no pass aligned with {domain or 'From'} ("
                   + (", ".join(seen) or "no results") + ")")


def _our_results(raw: bytes, authserv_id: str) -> list[Any] | None:
    """The results of the topmost header our server wrote, or None when there is none."""
    for value in _header_values(raw):
        try:
            header = authres.AuthenticationResultsHeader.parse_value(" ".join(value.split()))
        except authres.AuthResError:
            continue
        if str(header.authserv_id).lower() == authserv_id:
            return list(header.results)
    return None


def _header_values(raw: bytes) -> list[str]:
    ends = [i for i in (raw.find(end) for end in _HEAD_END) if i >= 0]
    head = raw[:min(ends)] if ends else raw
    message = BytesHeaderParser(policy=compat32).parsebytes(head)
    return [str(v) for v in message.get_all("Authentication-Results", [])]


def _properties(result: object) -> dict[str, str]:
    found: dict[str, str] = {}
    for prop in getattr(result, "properties", []):
        found.setdefault(f"{prop.type}.{prop.name}".lower(), str(prop.value).lower())
    return found


def _aligned(method: str, props: dict[str, str], domain: str) -> bool:
    """The domain the method vouched for is the From domain (or one above it)."""
    if not domain:
        return False
    checked = {"dmarc": props.get("header.from", domain),
               "dkim": props.get("header.d") or props.get("header.i", "").rpartition("@")[2],
               "spf": props.get("smtp.mailfrom", "").rpartition("@")[2]}.get(method, "")
    checked = checked.strip().rstrip(".")
    return bool(checked) and (domain == checked or domain.endswith("." + checked))
