"""Intake: fetch mail, keep its raw bytes durably, and hand it to the pipeline, in one path
for IMAP folders, Maildir directories and standard input.

Raw bytes are committed (with the source's new state) before a source is told anything, so
a crash before the commit re-fetches a batch and a crash after it skips it; deduplication on
the delivery location and on Message-ID plus body digest happens in the same transaction.
``run --once`` calls ``drain_all``; the daemon's folder watchers call ``drain_folder`` with
their own after-batch work; ``deliver --process`` calls ``store_and_process``. Mail that a
plain ``deliver`` kept (``ingestd.spool``) becomes pending in ``admit_piped``.
"""

from ingestd.intake._drain import (
    DrainReport,
    drain_all,
    drain_maildir,
    store_and_process,
    store_maildir,
)
from ingestd.intake._folders import (
    commit_batch,
    drain_folder,
    release_leases,
    resync,
    take_lease,
)
from ingestd.intake._piped import admit_piped
from ingestd.intake._store import StoreResult, store

__all__ = [
    "DrainReport",
    "StoreResult",
    "admit_piped",
    "commit_batch",
    "drain_all",
    "drain_folder",
    "drain_maildir",
    "release_leases",
    "resync",
    "store",
    "store_and_process",
    "store_maildir",
    "take_lease",
]
