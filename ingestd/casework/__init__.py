"""Case work: every change to a case goes through here, and so does every read of one.

Status (with the procedure's allowed moves), assignment, replies, recovery and corrective
action, label corrections, escalation, the customer's progress updates and the
acknowledgment's effect each record their event and queue the mail they cause in the same
transaction. The pipeline, the procedure's sweep,
the sender's callback and the commands only call this package; none writes a case itself.
"""

from ingestd.casework import users
from ingestd.casework._agent import (
    RECOVERY_KINDS,
    assign,
    correct_labels,
    record_corrective_action,
    record_recovery,
    reply,
)
from ingestd.casework._desk import (
    BULK_ACTIONS,
    add_note,
    bulk,
    corrected_cases,
    customer_replied,
    mark_not_complaint,
    notes,
)
from ingestd.casework._escalation import LEVEL_ROLES, escalate
from ingestd.casework._floods import acknowledgment_withheld, notify, send_digests, sender_key
from ingestd.casework._mail import message_raw
from ingestd.casework._read import CaseFilter, case_view, detail, get_case, list_cases, summary
from ingestd.casework._record import enqueue, record
from ingestd.casework._search import SORTS, VIEWS, CasePage, CaseQuery, search_cases
from ingestd.casework._sender import build_sender
from ingestd.casework._status import (
    PICKED_UP,
    STATUSES,
    acknowledgment_sent,
    allowed_moves,
    change_status,
    set_status,
)
from ingestd.casework._updates import (
    UPDATE_KINDS,
    UPDATE_MAIL_KINDS,
    new_date_notice,
    notice_window_opens,
    promised_date,
)
from ingestd.casework.users import (
    ROLES,
    UserView,
    add_user,
    authenticate,
    disable_user,
    enable_user,
    get_user,
    list_users,
    set_password,
)
from storage.queries import latest_inbound

__all__ = [
    "BULK_ACTIONS",
    "LEVEL_ROLES",
    "PICKED_UP",
    "RECOVERY_KINDS",
    "ROLES",
    "SORTS",
    "STATUSES",
    "UPDATE_KINDS",
    "UPDATE_MAIL_KINDS",
    "VIEWS",
    "CaseFilter",
    "CasePage",
    "CaseQuery",
    "UserView",
    "acknowledgment_sent",
    "acknowledgment_withheld",
    "add_note",
    "add_user",
    "allowed_moves",
    "assign",
    "authenticate",
    "build_sender",
    "bulk",
    "case_view",
    "change_status",
    "correct_labels",
    "corrected_cases",
    "customer_replied",
    "detail",
    "disable_user",
    "enable_user",
    "enqueue",
    "escalate",
    "get_case",
    "get_user",
    "latest_inbound",
    "list_cases",
    "list_users",
    "mark_not_complaint",
    "message_raw",
    "new_date_notice",
    "notes",
    "notice_window_opens",
    "notify",
    "promised_date",
    "record",
    "record_corrective_action",
    "record_recovery",
    "reply",
    "search_cases",
    "send_digests",
    "sender_key",
    "set_password",
    "set_status",
    "summary",
    "users",
]
