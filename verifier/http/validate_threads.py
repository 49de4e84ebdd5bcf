"""The threads that run POST /v1/validate's checks by token (validate_route.py): a check waits
for its commit's flush (verifier/group_commit.py), so it must not run on the event loop, which
hands it over and awaits its answer.

A queue and an asyncio future per check, instead of `loop.run_in_executor` on a
ThreadPoolExecutor: that one's concurrent future (with its condition variable), work item,
thread count check and the asyncio future chained to it cost the event loop about 6 % of its
time under validations in a profile of a served node, where the event loop is what bounds
them (docs/performance.md, "HTTP validate throughput").
"""

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from contextvars import Context, copy_context
from typing import Any, TypeVar

T = TypeVar("T")

_Job = tuple[
    Context, Callable[..., Any], tuple[Any, ...], asyncio.AbstractEventLoop, "asyncio.Future[Any]"
]


class ValidateThreads:
    """`threads` threads, started at the first check; `shutdown` lets them end."""

    def __init__(self, threads: int) -> None:
        self._count = threads
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._started = self._closed = False

    async def run(self, check: Callable[..., T], *args: Any) -> T:
        """`check(*args)`'s result (or its exception), run in one of the threads in a copy of
        the caller's context (contextvars)."""
        if self._closed or not self._started:
            self._start()
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[T] = loop.create_future()
        self._queue.put((copy_context(), check, args, loop, answer))
        return await answer

    def shutdown(self) -> None:
        """End the threads once the checks queued before are done; later checks fail."""
        with self._lock:
            self._closed = True
            if self._started:
                for _ in range(self._count):
                    self._queue.put(None)

    def _start(self) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("the validate threads are shut down")
            if not self._started:
                for i in range(self._count):
                    thread = threading.Thread(target=self._serve, name=f"validate-{i}")
                    thread.daemon = True
                    thread.start()
                self._started = True

    def _serve(self) -> None:
        while (job := self._queue.get()) is not None:
            context, check, args, loop, answer = job
            try:
                result, error = context.run(check, *args), None
            except BaseException as exc:  # noqa: BLE001 (the caller gets it)
                result, error = None, exc
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits for it
                loop.call_soon_threadsafe(_settle, answer, result, error)


def _settle(answer: "asyncio.Future[Any]", result: Any, error: BaseException | None) -> None:
    """Give the awaiting request its answer, unless it was cancelled (its client left)."""
    if answer.cancelled():
        return
    if error is not None:
        answer.set_exception(error)
    else:
        answer.set_result(result)
