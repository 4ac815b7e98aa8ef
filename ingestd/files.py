"""Files and folders ingestd creates hold customers' mail: readable by its own user only.

Modes are set by the process itself (0600 files, 0700 folders), so a run outside systemd,
under any umask, leaves nothing world-readable. Folders and files that already exist keep
the modes an admin gave them (a group for agents' access, say).
"""

from __future__ import annotations

import os
from pathlib import Path

FILE_MODE = 0o600
FOLDER_MODE = 0o700


def private_folder(path: Path) -> Path:
    """Create `path` and any missing parent, each 0700; existing folders are left as they are."""
    if path.is_dir():
        return path
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=FOLDER_MODE)
        except FileExistsError:  # another process made it a moment ago
            continue
        folder.chmod(FOLDER_MODE)  # mkdir's mode is narrowed by the umask, never widened
    return path


def write_private(path: Path, data: bytes) -> Path:
    """Write `data` durably to `path` as a 0600 file, replacing it atomically."""
    private_folder(path.parent)
    temp = path.with_name(f".{path.name}.tmp")
    write_unsynced(temp, data)
    sync(temp)
    temp.replace(path)
    return path


def write_unsynced(path: Path, data: bytes) -> None:
    """Write `data` to `path` as a 0600 file, not yet synced (callers sync many together)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # a temp file left by a crash may have had another mode
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def sync(path: Path) -> None:
    """fsync a file, or a folder (which makes the names of new files in it durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
