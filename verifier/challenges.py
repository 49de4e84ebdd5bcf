"""Pending RADIUS challenges in the store, so every node sees the States any node issued
(the rules are verifier/radius_challenge.py's; the SQL is verifier/store.py's)."""

import time

from baoling.verifier import store
from baoling.verifier.radius_challenge import PendingChallenge, new_state, refusal, state_key


class Challenges:
    """The pending challenges of one store."""

    def __init__(self, db: store.Store) -> None:
        self._store = db

    def issue(self, user_name: str, client: str, timeout_s: float) -> bytes:
        """A new State for `user_name` on `client`, valid for `timeout_s` seconds."""
        state, now = new_state(), time.time()
        with self._store.write() as conn:
            store.insert_challenge(conn, state_key(state), user_name, client, now + timeout_s, now)
        return state

    def redeem(self, state: bytes, user_name: str, client: str) -> str | None:
        """Use up `state` (whatever the answer, it cannot be presented again); None when it
        lets `user_name` on `client` finish the login, else why not."""
        with self._store.write() as conn:
            row = store.take_challenge(conn, state_key(state))
        pending = None if row is None else PendingChallenge(row.user_name, row.client, row.expires)
        return refusal(pending, user_name, client, time.time())
