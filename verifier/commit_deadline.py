"""A time limit for PostgreSQL commits, so that a validation fails closed instead of hanging.

A commit on a primary with a synchronous standby (`synchronous_standby_names`) waits for the
standby's confirmation, and if the standby is gone it waits forever: `statement_timeout` does
not end that wait. The store arms a deadline just before each commit; when it passes, one
watcher thread cancels the commit's query (libpq's cancel request). PostgreSQL then stops
waiting, with only a warning: the transaction is on the primary's disk but not on the
standby's. So a commit that needed the cancel is a failure whatever PostgreSQL answered: the
store raises StoreError (HTTP 503) and drops the connection. docs/operations.md ("A synchronous
standby that is gone") says what a client sees then.
"""

import contextlib
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from baoling.core.urls import shown_url
from baoling.verifier.errors import StoreError

if TYPE_CHECKING:  # the settings import this module's default: no SQLAlchemy for them
    from sqlalchemy.engine import Connection

# store_commit_timeout_seconds' default: a commit takes milliseconds, a client waits seconds.
DEFAULT_COMMIT_TIMEOUT_S = 5.0
# A watcher thread with nothing to watch for this long ends; the next deadline starts another.
_IDLE_S = 1.0
_CANCEL_TIMEOUT_S = 5.0  # how long one cancel request may take to reach the server


class CommitDeadlines:
    """The deadlines of a store's commits under way, and the thread that enforces them."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._keys = itertools.count()
        self._due: dict[int, tuple[float, Any]] = {}  # key: (deadline, DB-API connection)
        self._fired: set[int] = set()
        self._changed = threading.Condition()
        self._watcher: threading.Thread | None = None

    @contextlib.contextmanager
    def watch(self, conn: "Connection") -> Iterator[Callable[[], None]]:
        """Around a transaction on `conn`; yields `arm`, to call right before the commit (on
        PostgreSQL only: SQLite has no standby to wait for). A commit still running
        `seconds` after `arm` is cancelled, and leaving raises StoreError."""
        key = next(self._keys)

        def arm() -> None:
            if conn.dialect.name == "postgresql":
                self._arm(key, conn.connection.dbapi_connection)

        try:
            yield arm
        finally:
            if self._disarm(key):
                conn.invalidate()  # a late cancel must not reach the connection's next user
                shown = shown_url(conn.engine.url.render_as_string(False))
                raise StoreError(
                    f"database {shown} did not confirm the commit within {self.seconds:g} s "
                    "(store_commit_timeout_seconds; a synchronous "
                    "standby away?): it may be on the primary only, so it counts as failed"
                ) from None

    def _arm(self, key: int, dbapi_connection: Any) -> None:  # noqa: ANN401 (DB-API: untyped)
        with self._changed:
            self._due[key] = (time.monotonic() + self.seconds, dbapi_connection)
            if self._watcher is None:
                self._watcher = threading.Thread(
                    target=self._watch, name="commit-deadlines", daemon=True
                )
                self._watcher.start()
            elif len(self._due) == 1 and self.seconds < _IDLE_S:
                # Wake a watcher with nothing to wait for, if it could sleep past this
                # deadline: it looks again within _IDLE_S anyway (a wake-up per validation
                # cost a served node about 3 % of its time). Else it sleeps until an earlier
                # deadline: every deadline is `seconds` after its arming, so this one is last.
                self._changed.notify()

    def _disarm(self, key: int) -> bool:
        """Forget the deadline; True when it had passed and the commit was cancelled."""
        with self._changed:
            self._due.pop(key, None)
            fired = key in self._fired
            self._fired.discard(key)
            return fired

    def _watch(self) -> None:
        while True:
            with self._changed:
                now = time.monotonic()
                late = [key for key, (due, _) in self._due.items() if due <= now]
                connections = [self._due.pop(key)[1] for key in late]
                self._fired.update(late)
                if not late:
                    if self._due:
                        soonest = min(due for due, _ in self._due.values())
                        self._changed.wait(soonest - now)
                    elif not self._changed.wait(_IDLE_S) and not self._due:
                        self._watcher = None
                        return
                    continue
            for connection in connections:  # outside the lock: a cancel is a network call
                with contextlib.suppress(Exception):  # gone already: nothing left to stop
                    connection.cancel_safe(timeout=_CANCEL_TIMEOUT_S)
