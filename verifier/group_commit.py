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

A caller thread waits for its answer (`run`); a caller on an event loop awaits it (`run_async`):
the writer thread hands the answer to the loop, so no thread is spent waiting for the flush.
"""

import asyncio
import contextlib
import contextvars
import queue
import threading
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from typing import Any, Generic, TypeVar

from sqlalchemy.engine import Connection

from baoling.verifier.errors import StoreError

T = TypeVar("T")
# The most writes one transaction takes: a bound on what one failed commit undoes.
MAX_GROUP = 64


class _Write(Generic[T]):
    """One caller's write, run in a copy of the caller's context (contextvars), and once its
    group is done its result or exception. A caller thread waits on `waiter`, a plain lock
    the writer thread releases (a Future's condition variable costs the writer thread several
    times more per answer; a profile: 8 % of its time); a task of an event loop (`loop`)
    awaits `future`, a future of that loop."""

    __slots__ = ("write", "context", "waiter", "future", "result", "error")

    def __init__(
        self, write: Callable[[Connection], T], loop: asyncio.AbstractEventLoop | None = None
    ) -> None:
        self.write = write
        self.context = contextvars.copy_context()
        self.waiter: threading.Lock | None = None
        self.future: asyncio.Future[T] | None = None
        if loop is None:
            self.waiter = threading.Lock()
            self.waiter.acquire()
        else:
            self.future = loop.create_future()
        self.result: T | None = None
        self.error: BaseException | None = None


def _answer(writes: Iterable[_Write[Any]]) -> None:
    """Tell the callers of `writes` their outcomes, from the writer thread: wake each waiting
    thread, and the tasks of each event loop with one call on that loop for all of them. That
    call wakes the loop and lets go of the GIL, which the writer thread then waits to take
    back while the loop runs: once per answer, that wait doubled a group's time (measured
    with bench/http_validate.py's load)."""
    loops: dict[asyncio.AbstractEventLoop, list[_Write[Any]]] = {}
    for write in writes:
        if write.future is None:
            assert write.waiter is not None  # a caller thread's write
            write.waiter.release()
        else:
            loops.setdefault(write.future.get_loop(), []).append(write)
    for loop, answered in loops.items():
        # A closed loop raises RuntimeError: nobody waits for these answers any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_settle, answered)


def _settle(writes: list[_Write[Any]]) -> None:
    """On their loop, give the awaiting tasks their writes' outcomes; a task that stopped
    waiting (a cancelled request) has none to hear."""
    for write in writes:
        future = write.future
        assert future is not None  # a task's write
        if future.cancelled():
            continue
        if write.error is not None:
            future.set_exception(write.error)
        else:
            future.set_result(write.result)


class GroupCommit:
    """One writer thread that commits the writes queued by any number of callers (threads, or
    tasks of an event loop), as many at a time as are waiting; `transaction` opens the write
    transaction of each group and `savepoint` runs one write in it."""

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
        self._queue_write(pending)
        assert pending.waiter is not None  # made without a loop
        pending.waiter.acquire()
        if pending.error is not None:
            raise pending.error
        return pending.result  # type: ignore[return-value]  # set with no error: a T

    async def run_async(self, write: Callable[[Connection], T]) -> T:
        """`run` for a caller on an event loop, which must never wait for a flush: the loop
        goes on serving while the writer thread runs and commits `write`, then the writer
        thread schedules the answer on the loop (`call_soon_threadsafe`)."""
        pending = _Write(write, asyncio.get_running_loop())
        self._queue_write(pending)
        assert pending.future is not None  # made with a loop
        result: T = await pending.future
        return result

    def _queue_write(self, pending: _Write[Any]) -> None:
        with self._lock:
            if self._closed:
                raise StoreError("the store is closed")
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._serve, name="group-commit", daemon=True
                )
                self._thread.start()
            self._queue.put(pending)

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
        pending = list(group)
        try:
            with self._transaction() as conn:
                for write in group:
                    failed: list[BaseException] = []
                    try:
                        with self._savepoint(conn):
                            try:
                                write.result = write.context.run(write.write, conn)
                            except BaseException as exc:
                                failed.append(exc)
                                raise
                    except BaseException as exc:
                        if not failed or exc is not failed[0]:
                            raise  # the savepoint itself failed: so does the whole group
                        pending.remove(write)
                        write.error = exc
                        _answer([write])  # undone: it need not wait for the commit
        except BaseException as exc:  # noqa: BLE001 (every caller of the group gets it)
            for write in pending:
                write.result, write.error = None, exc
        _answer(pending)
