"""Admin pages (admins only; agents get 403): the users, and the triage model in service with
its card, the candidates with their held-out metrics, and promoting one — through the same
`triage.train.promote` that training's `--promote` uses. The daemon loads a promoted model
by itself (it watches the model file)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ingestd import casework
from ingestd.web.desk import Desk, actor, admin_required, back
from ingestd.web.security import form_of, session_of

log = structlog.get_logger("ingestd.web")
CURRENT_MODEL = "current.skops"


@admin_required
def admin(request: Request) -> Response:
    desk: Desk = request.app.state.desk
    with desk.read() as s:
        people = casework.list_users(s)
    return desk.render(request, "admin.html", people=people)


def _card(path: Path) -> dict[str, Any] | None:
    try:
        card: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return card


def _metrics(card: dict[str, Any]) -> dict[str, Any]:
    heldout = card.get("heldout") or {}

    def f1(task: str) -> float | None:
        return (heldout.get(task) or {}).get("macro_f1")

    return {"category_f1": f1("category"), "severity_f1": f1("severity"),
            "escalation_recall": heldout.get("escalation_recall"),
            "heldout": heldout.get("size"), "trained": (card.get("data") or {}).get("train_size")}


def candidates(models: Path) -> list[dict[str, Any]]:
    found = []
    for directory in sorted((models / "candidates").glob("*/"), reverse=True):
        card = _card(directory / "card.json")
        if card is not None and (directory / "model.skops").is_file():
            found.append({"version": directory.name, "created": card.get("created"),
                          **_metrics(card)})
    return found


@admin_required
def model_page(request: Request) -> Response:
    desk: Desk = request.app.state.desk
    model = desk.services.settings.triage.model
    card = _card(model.with_name(model.name.removesuffix(".skops") + ".card.json"))
    return desk.render(request, "model.html", model=model, card=card,
                       metrics=_metrics(card) if card else None,
                       candidates=candidates(model.parent),
                       promotable=model.name == CURRENT_MODEL)


@admin_required
def promote(request: Request) -> Response:
    desk: Desk = request.app.state.desk
    session = session_of(request)
    model = desk.services.settings.triage.model
    version = str(form_of(request).get("version") or "")
    known = {c["version"] for c in candidates(model.parent)}
    if version not in known:
        return back("/admin/model", session, f"no candidate {version!r}", "error")
    if model.name != CURRENT_MODEL:
        return back("/admin/model", session, f"[triage] model is {model.name}, not "
                    f"{CURRENT_MODEL}: promote from the command line", "error")
    from triage.train import promote as make_current  # noqa: PLC0415  (scikit-learn: only here)

    make_current(model.parent / "candidates" / version, model.parent)
    log.info("model_promoted", version=version, actor=actor(request))
    return back("/admin/model", session, f"model {version} is in service now")


ROUTES = [Route("/admin", admin), Route("/admin/model", model_page),
          Route("/admin/model/promote", promote, methods=["POST"])]
