"""The time one message may take to be read and scored: a mail over it is quarantined.

The budget is processor time, not time on the clock: on a busy machine every mail waits
longer for a core, and an ordinary mail must not be quarantined for that; a hostile one
spends the processor itself. In a process's main thread (`run --once`, `deliver`, a parse
worker) a timer signal stops the work the moment the budget is spent; in a daemon's watcher
thread, where signals cannot reach, the work is measured when it ends. Either way the
message goes to quarantine with the reason, and the pipeline goes on with the next one.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class OverBudget(Exception):
    """Reading or scoring one message took longer than `[limits] message_seconds`."""

    def __init__(self, seconds: float, took: float | None = None) -> None:
        spent = f"took {took:.1f} s of processor time" if took is not None else "was stopped"
        super().__init__(
            f"reading and scoring this mail {spent}, over the {seconds:g} s a message may "
            "take ([limits] message_seconds); its raw bytes are kept: "
            "`ingestd quarantine retry` runs it again (raise the limit first)")
        self.seconds, self.took = seconds, took

    def __reduce__(self) -> tuple[type[OverBudget], tuple[float, float | None]]:
        return OverBudget, (self.seconds, self.took)  # back from a worker process whole


def _can_interrupt() -> bool:
    return threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")


@contextmanager
def budget(seconds: float) -> Iterator[None]:
    """Raise `OverBudget` once the block has used `seconds` of processor time."""
    started = time.thread_time()
    if not _can_interrupt():
        yield
    else:
        def _stop(_signum: int, _frame: FrameType | None) -> None:
            raise OverBudget(seconds)

        previous = signal.signal(signal.SIGVTALRM, _stop)
        signal.setitimer(signal.ITIMER_VIRTUAL, seconds)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_VIRTUAL, 0)
            signal.signal(signal.SIGVTALRM, previous)
    took = time.thread_time() - started
    if took > seconds:
        raise OverBudget(seconds, took)
