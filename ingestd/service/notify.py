"""The systemd notification protocol (sd_notify): one datagram to $NOTIFY_SOCKET.

Written out here rather than pulled in as a dependency: it is a dozen lines. Without
$NOTIFY_SOCKET (not started by systemd) every call is a no-op.
"""

from __future__ import annotations

import os
import socket

import structlog

log = structlog.get_logger("ingestd.notify")
SEND_TIMEOUT = 1.0


def notify(*fields: str) -> bool:
    """Send `READY=1`, `WATCHDOG=1`, `STATUS=...`; True when a manager got it."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address or address[0] not in "@/":
        return False
    target = "\0" + address[1:] if address[0] == "@" else address  # '@': abstract namespace
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.settimeout(SEND_TIMEOUT)  # a manager that stopped reading must not stall us
            sock.sendto("\n".join(fields).encode(), target)
    except OSError as exc:
        log.warning("notify_failed", error=str(exc))
        return False
    return True


def watchdog_interval() -> float | None:
    """Half the watchdog timeout systemd gave us (seconds), or None without a watchdog."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return max(int(usec) / 2_000_000, 0.5)
    except ValueError:
        return None
