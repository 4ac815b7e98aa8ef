"""What the pipe and the daemon agree on: the row's state, how the daemon is woken."""

from __future__ import annotations

import os
import stat

PIPED = "piped"  # raw_message.state of a mail kept by `deliver`, not yet deduplicated
CHANNEL = "ingestd_raw"  # PostgreSQL NOTIFY channel: a piped mail was committed
AGAIN = "the MTA should try again later"


def wake_path(database_file: str) -> str:
    """The FIFO beside a SQLite database that wakes the daemon (SQLite has no NOTIFY)."""
    return database_file + ".wake"


def wake_fifo(database_file: str) -> None:
    """One byte into the daemon's FIFO; nobody listening (no daemon) is fine."""
    try:
        fd = os.open(wake_path(database_file), os.O_WRONLY | os.O_NONBLOCK)
    except OSError:  # ENOENT, ENXIO: no daemon has it open; it catches up when it starts
        return
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):  # never a byte into a file put in its place
            os.write(fd, b"\n")
    except OSError:  # EAGAIN: the FIFO is full of wake-ups the daemon has yet to read
        pass
    finally:
        os.close(fd)
