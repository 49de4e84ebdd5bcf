"""A directory's answers kept for a while (docs/users.md, "Caching lookups"), so a validation by
user name need not search the directory each time.

Only users the directory found are kept, each for `ttl_s` seconds from when the directory said
so, and never longer: a user deleted from the directory is refused at the latest `ttl_s` seconds
later, and once an entry has expired a directory that cannot be reached fails the lookup closed
(a stale answer is never given instead). A name the directory does not hold is not kept, so an
account created there works at once. At most `max_entries` users are kept, the least recently
used leaving first, so a flood of names cannot grow it without bound.
"""

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from baoling.verifier.resolvers import Account
from baoling.verifier.user_names import UserName

MAX_ENTRIES = 100_000


class ResolutionCache:
    """Accounts by user name, each until its time is up."""

    def __init__(
        self,
        ttl_s: float,
        *,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s, self._max, self._clock = ttl_s, max_entries, clock
        self._lock = threading.Lock()
        self._kept: OrderedDict[UserName, tuple[float, Account]] = OrderedDict()
        self.hits = self.misses = 0

    def get(self, user: UserName) -> Account | None:
        """The account kept for `user` if it has not expired; None: ask the directory."""
        with self._lock:
            found = self._kept.get(user)
            if found is not None and self._clock() < found[0]:
                self._kept.move_to_end(user)
                self.hits += 1
                return found[1]
            if found is not None:
                del self._kept[user]
            self.misses += 1
            return None

    def put(self, account: Account) -> None:
        """Keep what the directory just said of `account.user`, for `ttl_s` seconds."""
        if self.ttl_s <= 0:
            return
        with self._lock:
            self._kept[account.user] = (self._clock() + self.ttl_s, account)
            self._kept.move_to_end(account.user)
            while len(self._kept) > self._max:
                self._kept.popitem(last=False)

    def forget(self, user: UserName) -> None:
        """Drop `user`, so that the next lookup asks the directory."""
        with self._lock:
            self._kept.pop(user, None)

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()
