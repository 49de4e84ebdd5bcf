"""Writing files that hold secrets (admin keys, PSKC exports, batch results)."""

import os
from pathlib import Path


def write_private(path: Path, data: bytes) -> None:
    """Replace `path` with `data` atomically (new file, fsync, rename), readable by its owner
    only: an interruption leaves the previous complete file, never a torn or exposed one."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(path.name + ".tmp")
    temporary.unlink(missing_ok=True)  # O_CREAT's mode applies only to a new file
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)
