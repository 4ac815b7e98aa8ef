"""One case: the conversation, attachments, triage, the SLA clock, escalations, notes and
history, and the forms that work it. Each form posts to `/cases/{ref}/{action}`; the action
goes through `ingestd.casework` in one unit of work and the agent comes back to the case with
what happened (or casework's reason for refusing) as a flash message."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from ingestd import casework
from ingestd.errors import IngestdError, NotFound
from ingestd.mimelimits import ParseLimits
from ingestd.web import mailview
from ingestd.web.desk import Desk, actor, back, login_required
from ingestd.web.mailview import HTML_LIMIT, attachment
from ingestd.web.security import form_of, session_of
from storage import Case
from triage.labels import SEVERITIES

STAGES = (("acknowledge", "acknowledged_at"), ("investigate", "assigned_at"),
          ("resolve", "resolved_at"), ("followup", "followup_sent_at"))


def _conversation(s: Session, case: Case, messages: list[dict[str, Any]],
                  limits: ParseLimits) -> list[dict[str, Any]]:
    shown, number = [], 0
    for position, message in enumerate(messages):
        raw = (casework.message_raw(s, case, position, max_bytes=HTML_LIMIT)
               if message["direction"] == "in" else None)
        files = []
        for item in message["attachments"] or []:
            files.append({**item, "index": number})
            number += 1
        shown.append({**message, "shown": mailview.shown(message["text"] or "", raw, limits),
                      "html": mailview.sanitised_html(raw) if raw else None, "files": files})
    return shown


def _sla(case: Case, now: datetime) -> list[dict[str, Any]]:
    stages = []
    for step, done_field in STAGES:
        due, done = getattr(case, f"{step}_due"), getattr(case, done_field)
        if due is None and done is None:
            continue
        state = ("done late" if done and due and done > due else "done" if done else
                 "breached" if due and due < now else "waiting")
        stages.append({"step": step, "due": due, "done": done, "state": state,
                       "left": None if done or due is None else (due - now).total_seconds()})
    return stages


@login_required
def case_page(request: Request) -> Response:
    desk: Desk = request.app.state.desk
    reference = request.path_params["ref"]
    now = desk.now()
    with desk.read() as s:
        try:
            case = casework.get_case(s, reference)
        except NotFound:
            return desk.render(request, "missing.html", 404, reference=reference)
        data = casework.detail(s, case)
        context: dict[str, Any] = {
            "case": data, "conversation": _conversation(
                s, case, data["messages"], desk.services.settings.limits.parse_limits()),
            "sla": _sla(case, now), "notes": casework.notes(s, case),
            "escalations": [e for e in data["events"] if e["kind"] == "escalation"],
            "moves": casework.allowed_moves(case.status),
            "not_complaint": case.not_complaint,
            "people": [u.name for u in casework.list_users(s) if not u.disabled],
        }
    return desk.render(request, "case.html", categories=desk.services.settings.triage.categories,
                       severities=SEVERITIES, recovery_kinds=casework.RECOVERY_KINDS, **context)


@login_required
def download(request: Request) -> Response:
    """An attachment, always as a download (never shown inline: it may be HTML or a script)."""
    desk: Desk = request.app.state.desk
    reference, index = request.path_params["ref"], int(request.path_params["index"])
    with desk.read() as s:
        try:
            case = casework.get_case(s, reference)
        except NotFound:
            return PlainTextResponse(f"no case {reference}", 404)
        position, inside = _locate(casework.detail(s, case)["messages"], index)
        raw = None if position is None else casework.message_raw(s, case, position)
    found = attachment(raw, inside) if raw else None
    if found is None:
        return PlainTextResponse("no such attachment (or its mail was erased)", 404)
    name, payload = found
    return Response(payload, media_type="application/octet-stream", headers={
        "content-disposition": f"attachment; filename*=UTF-8''{quote(name, safe='')}"})


def _locate(messages: list[dict[str, Any]], index: int) -> tuple[int | None, int]:
    """Which message holds the case's `index`-th attachment, and its place in that mail."""
    for position, message in enumerate(messages):
        count = len(message["attachments"] or [])
        if index < count:
            return position, index
        index -= count
    return None, 0


@dataclass(frozen=True)
class Job:
    """One action on one case: who, when, with which form, inside which unit of work."""

    desk: Desk
    s: Session
    case: Case
    form: FormData
    actor: str
    at: datetime

    def field(self, name: str) -> str:
        value = self.form.get(name)
        return value.strip() if isinstance(value, str) else ""

    def optional(self, name: str) -> str | None:
        return self.field(name) or None


def _reply(job: Job) -> str:
    body = job.form.get("body")
    casework.reply(job.s, job.desk.services, job.case, body if isinstance(body, str) else "",
                   actor=job.actor, at=job.at)
    return f"reply to {job.case.customer_address} queued"


def _assign(job: Job) -> str:
    casework.assign(job.s, job.case, job.field("assignee"), actor=job.actor, at=job.at,
                    services=job.desk.services)
    return f"assigned to {job.field('assignee')}"


def _status(job: Job) -> str:
    status = job.field("status")
    untold = casework.change_status(job.s, job.desk.services, job.case, status,
                                    actor=job.actor, at=job.at, note=job.optional("note"),
                                    resolution=job.optional("resolution"))
    return f"now {status}" + (f"; the customer was not told ({untold})" if untold else "")


def _labels(job: Job) -> str:
    casework.correct_labels(job.s, job.case, category=job.optional("category"),
                            severity=job.optional("severity"), actor=job.actor, at=job.at,
                            categories=job.desk.services.settings.triage.categories)
    return f"labels now {job.case.category}/{job.case.severity} (training data from now on)"


def _note(job: Job) -> str:
    casework.add_note(job.s, job.case, job.field("text"), actor=job.actor, at=job.at)
    return "note added (internal: never mailed)"


def _recovery(job: Job) -> str:
    casework.record_recovery(job.s, job.case, job.field("kind"), actor=job.actor, at=job.at,
                             amount=job.optional("amount"), note=job.optional("note"))
    return f"service recovery recorded: {job.field('kind')}"


def _corrective(job: Job) -> str:
    casework.record_corrective_action(job.s, job.case, root_cause=job.field("root_cause"),
                                      action=job.field("action"), actor=job.actor, at=job.at)
    return "corrective action recorded"


def _not_complaint(job: Job) -> str:
    casework.mark_not_complaint(job.s, job.case, actor=job.actor, at=job.at,
                           reason=job.field("reason") or "not a complaint")
    return "marked as not a complaint: closed, no mail to the sender"


ACTIONS: dict[str, Callable[[Job], str]] = {
    "reply": _reply, "assign": _assign, "status": _status, "labels": _labels, "notes": _note,
    "recovery": _recovery, "corrective": _corrective, "not-complaint": _not_complaint}


@login_required
def act(request: Request) -> Response:
    desk: Desk = request.app.state.desk
    reference, name = request.path_params["ref"], request.path_params["action"]
    action = ACTIONS.get(name)
    if action is None:
        return PlainTextResponse(f"no action {name!r}", 404)
    url = f"/cases/{quote(reference)}"
    try:
        with desk.work() as s:
            case = casework.get_case(s, reference)
            done = action(Job(desk, s, case, form_of(request), actor(request), desk.now()))
    except NotFound:
        return PlainTextResponse(f"no case {reference}", 404)
    except IngestdError as exc:
        return back(url, session_of(request), str(exc), "error")
    return back(url, session_of(request), done)


ROUTES = [Route("/cases/{ref}", case_page),
          Route("/cases/{ref}/attachments/{index:int}", download),
          Route("/cases/{ref}/{action}", act, methods=["POST"])]
