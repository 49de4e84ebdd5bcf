"""Files the verifier writes that must never replace an existing file and must be on disk
before anything depends on them: the master key, audit archives."""

import os
from collections.abc import Iterable
from pathlib import Path


def write_new(path: Path, chunks: Iterable[bytes]) -> None:
    """Create `path` with mode 0600, never over an existing file (FileExistsError), write
    `chunks`, and flush the file and its folder entry to disk. A failure part-way removes the
    file: no half-written file is left behind to be trusted later."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    sync_folder(path.parent)


def sync_folder(folder: Path) -> None:
    """Flush a folder's entries (a new or renamed file's name) to disk."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
