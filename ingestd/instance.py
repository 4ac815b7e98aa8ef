"""Who this process is, for folder leases and outbox claims, and whether a holder is gone.

A lease or claim names its holder as host:pid:tag. When the holder ran on this host and its
process no longer exists, it crashed: its leases and claims are free at once instead of after
their timeout, so a restarted instance acknowledges the waiting mail in seconds.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterable

HOST = socket.gethostname()
_TAG = uuid.uuid4().hex[:6]


def instance() -> str:
    """This process's name as a holder; a forked child is a holder of its own."""
    return f"{HOST}:{os.getpid()}:{_TAG}"


def is_gone(holder: str | None) -> bool:
    """True when `holder` was a process on this host that no longer runs."""
    if not holder or holder == instance() or holder.count(":") < 2:
        return False
    host, pid, _tag = holder.rsplit(":", 2)
    if host != HOST or not pid.isdigit():
        return False  # another machine's process: only its lease timeout can tell
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def gone(holders: Iterable[str | None]) -> list[str]:
    return [h for h in set(holders) if h is not None and is_gone(h)]
