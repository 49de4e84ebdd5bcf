"""Where the verifier keeps its data, read from `BAOLING_`-prefixed environment variables.

Each setting is read with an explicit type, so a bad value names the variable that holds it.
"""

import os
from pathlib import Path

from baoling.verifier.errors import InvalidRequest

DATA_DIR_ENV = "BAOLING_DATA_DIR"
STORE_URL_ENV = "BAOLING_STORE_URL"
DEFAULT_DATA_DIR = Path.home() / ".local" / "share" / "baoling"
MASTER_KEY_FILENAME = "master.key"
SQLITE_FILENAME = "verifier.sqlite3"


def data_dir() -> Path:
    """The folder holding the SQLite file and the master key (BAOLING_DATA_DIR)."""
    value = os.environ.get(DATA_DIR_ENV, "").strip()
    if not value:
        return DEFAULT_DATA_DIR
    path = Path(value).expanduser()
    if path.exists() and not path.is_dir():
        raise InvalidRequest(f"{DATA_DIR_ENV} names {path}, which is not a folder")
    return path


def store_url() -> str | None:
    """A SQLAlchemy URL (BAOLING_STORE_URL), or None for the SQLite file in the data folder."""
    value = os.environ.get(STORE_URL_ENV, "").strip()
    return value or None
