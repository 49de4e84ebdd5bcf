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


def why_unwritable(path: Path) -> str | None:
    """Why `write_private(path, ...)` would fail for where the file goes (a folder in its place, a
    folder that cannot be made or written), or None: asked before a token is touched. It makes
    the missing folders, as the write would, and leaves no file behind."""
    if path.is_dir():
        return f"{path} is a folder"
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    except (FileExistsError, NotADirectoryError):
        return f"{path.parent} cannot be a folder: a file is in its way"
    except OSError as exc:
        return f"the folder {path.parent} cannot be made ({exc.strerror})"
    probe = path.with_name(path.name + ".tmp")
    try:
        probe.unlink(missing_ok=True)
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        probe.unlink()
    except OSError as exc:
        return f"the folder {path.parent} takes no new file ({exc.strerror})"
    return None
