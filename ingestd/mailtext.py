"""The text of a mail as people read it, and the order and phone numbers a complaint mentions
(the seeds ask for order details).

The view itself (HTML made plain, history and signature cut off) belongs to ``triage.text``:
the model is trained on exactly what the pipeline shows it.
"""

from __future__ import annotations

import re

from triage.text import clean_text, html_to_text, strip_quoted

__all__ = [
    "clean_text", "find_order_numbers", "find_phone_numbers", "html_to_text", "strip_quoted",
]

_ORDER = re.compile(
    r"\b(?:order|bestellung|commande|pedido|invoice|rechnung|facture|factura)"
    r"(?:\s*(?:no\.?|nr\.?|number|nummer|num[ée]ro|n[º°o]\.?|#|id))?\s*[:#]?\s*"
    r"(#?[A-Z]{0,4}-?\d[\dA-Z-]{3,19})\b", re.I)
_PHONE = re.compile(r"(?<![\w#+-])(\+?\(?\d[\d ()./-]{6,18}\d)(?![\w-])")


def find_order_numbers(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(m.group(1).lstrip("#") for m in _ORDER.finditer(text)))


def find_phone_numbers(text: str) -> tuple[str, ...]:
    found = []
    for match in _PHONE.finditer(text):
        number = match.group(1).strip()
        digits = re.sub(r"\D", "", number)
        if 8 <= len(digits) <= 15 and not _looks_like_date(number):
            found.append(number)
    return tuple(dict.fromkeys(found))


def _looks_like_date(candidate: str) -> bool:
    return bool(re.fullmatch(r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}", candidate))
