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
from contextlib import AbstractContextManager
from typing import Any, Generic, TypeVar

from sqlalchemy.engine import Connection

from baoling.verifier.errors import StoreError

T = TypeVar("T")
# The most writes one transaction takes: a bound on what one failed commit undoes.
MAX_GROUP = 64


class _Write(Generic[T]):
    """One caller's write and, once its group is done, its result or exception. The caller
    waits on a plain lock the writer thread releases: a Future's condition variable costs the
    writer thread several times more per answer (a profile: 8 % of its time)."""

    __slots__ = ("write", "context", "done", "result", "error")

    def __init__(self, write: Callable[[Connection], T]) -> None:
        self.write = write
        self.context = contextvars.copy_context()
        self.done = threading.Lock()
        self.done.acquire()
        self.result: T | None = None
        self.error: BaseException | None = None

    def answer(self, result: T | None, error: BaseException | None) -> None:
        self.result, self.error = result, error
        self.done.release()


class GroupCommit:
    """One writer thread that commits the writes queued by any number of caller threads, as
    many at a time as are waiting; `transaction` opens the write transaction of each group
    and `savepoint` runs one write in it."""

    def __init__(
        self,
        transaction: Callable[[], AbstractContextManager[Connection]],
        savepoint: Callable[[Connection], AbstractContextManager[None]],
    ) -> None:
        self._transaction, self._savepoint = transaction, savepoint
        self._queue: queue.SimpleQueue[_Write[Any] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    def run(self, write: Callable[[Connection], T]) -> T:
        """`write`'s result (or its exception) once the transaction it ran in is committed.
        It runs in the writer thread, in a copy of the caller's context (contextvars)."""
        pending = _Write(write)
        with self._lock:
            if self._closed:
                raise StoreError("the store is closed")
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._serve, name="group-commit", daemon=True
                )
                self._thread.start()
            self._queue.put(pending)
        pending.done.acquire()
        if pending.error is not None:
            raise pending.error
        return pending.result  # type: ignore[return-value]  # set with no error: a T

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

    def _commit(self, group: list[_Write[Any]]) -> None:
        """Run the group in one transaction, each write in a savepoint; answer after COMMIT."""
        done: list[tuple[_Write[Any], Any]] = []
        pending = list(group)
        try:
            with self._transaction() as conn:
                for write in group:
                    failed: list[BaseException] = []
                    try:
                        with self._savepoint(conn):
                            try:
                                result = write.context.run(write.write, conn)
                            except BaseException as exc:
                                failed.append(exc)
                                raise
                    except BaseException as exc:
                        if not failed or exc is not failed[0]:
                            raise  # the savepoint itself failed: so does the whole group
                        pending.remove(write)
                        write.answer(None, exc)  # undone: it need not wait for the commit
                        continue
                    done.append((write, result))
        except BaseException as exc:  # noqa: BLE001 (every caller of the group gets it)
            for write in pending:
                write.answer(None, exc)
            return
        for write, result in done:
            write.answer(result, None)
