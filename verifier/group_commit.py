"""Group commit for SQLite, which has one writer at a time and flushes every commit to disk
(verifier/store.py, `_sqlite_connect`): the writes that arrive while one commit is being
flushed share the next transaction and its one flush, instead of each waiting for a flush of
its own behind the others.

Each write is a function of the transaction's connection, run in a savepoint of its own, so
one that fails is undone alone and the others still commit. Its caller hears the result only
after the commit that holds it has returned, that is, after the flush: an accepted code is on
disk before anyone is told, exactly as with a transaction of its own. A failed commit fails
every write of its group. Nothing waits to fill a group: a write that finds no commit running
is committed at once, alone, so one client sees no added delay.
"""

import contextvars
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from sqlalchemy.engine import Connection

from baoling.verifier.errors import StoreError

T = TypeVar("T")
# The most writes one transaction takes: a bound on what one failed commit undoes.
MAX_GROUP = 64

_Write = tuple[Callable[[Connection], Any], contextvars.Context, "Future[Any]"]


class GroupCommit:
    """One writer thread that commits the writes queued by any number of caller threads, as
    many at a time as are waiting; `transaction` opens the write transaction of each group."""

    def __init__(self, transaction: Callable[[], AbstractContextManager[Connection]]) -> None:
        self._transaction = transaction
        self._queue: queue.SimpleQueue[_Write | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    def run(self, write: Callable[[Connection], T]) -> T:
        """`write`'s result (or its exception) once the transaction it ran in is committed.
        It runs in the writer thread, in a copy of the caller's context (contextvars)."""
        future: Future[T] = Future()
        with self._lock:
            if self._closed:
                raise StoreError("the store is closed")
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._serve, name="group-commit", daemon=True
                )
                self._thread.start()
            self._queue.put((write, contextvars.copy_context(), future))
        return future.result()

    def close(self) -> None:
        """Commit what is queued, then stop the writer thread."""
        with self._lock:
            self._closed = True
            thread, self._thread = self._thread, None
            if thread is not None:
                self._queue.put(None)
        if thread is not None:
            thread.join()

    def _serve(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            stop = False
            while len(group) < MAX_GROUP:
                try:
                    queued = self._queue.get_nowait()
                except queue.Empty:
                    break
                if queued is None:
                    stop = True
                    break
                group.append(queued)
            self._commit(group)
            if stop:
                return

    def _commit(self, group: list[_Write]) -> None:
        """Run the group in one transaction, each write in a savepoint; answer after COMMIT."""
        done: list[tuple[Future[Any], Any]] = []
        pending = [future for _, _, future in group]
        try:
            with self._transaction() as conn:
                for write, context, future in group:
                    savepoint = conn.begin_nested()
                    try:
                        result = context.run(write, conn)
                    except BaseException as exc:  # noqa: BLE001 (the caller gets it)
                        savepoint.rollback()
                        pending.remove(future)
                        future.set_exception(exc)  # it changed nothing: no need to wait
                        continue
                    savepoint.commit()
                    done.append((future, result))
        except BaseException as exc:  # noqa: BLE001 (every caller of the group gets it)
            for future in pending:
                future.set_exception(exc)
            return
        for future, result in done:
            future.set_result(result)
