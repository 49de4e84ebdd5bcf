"""The audit trail as administrators use it: the newest rows, checking the chain through
archive files and against anchors, moving old rows to an archive file; and what a serving node
runs in the background: sealing appended rows and anchoring the head. The chain itself (row
hashes, the head, its SQL) is the audit store, verifier/audit.py; anchors are
verifier/audit_anchors.py."""

import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from baoling.verifier import audit as audit_log
from baoling.verifier import store
from baoling.verifier.audit import AuditReport
from baoling.verifier.audit_anchors import AnchorError, anchor_line, append_line, read_anchors
from baoling.verifier.audit_anchors import signed_text as anchor_text
from baoling.verifier.errors import AuditError, InvalidRequest
from baoling.verifier.events import AuditChainBroken
from baoling.verifier.files import write_new
from baoling.verifier.inputs import check_limit, check_time
from baoling.verifier.master_key import CurrentKey
from baoling.verifier.outbox import Outbox


class AuditTrail:
    """The audit trail of one store."""

    def __init__(self, db: store.Store, outbox: Outbox, key: CurrentKey) -> None:
        self._store, self._outbox, self._key = db, outbox, key
        self._anchored: str | None = None  # the head this trail anchored last
        # When this process last verified the chain, and what it found (the console's overview
        # shows it rather than reading the whole chain on every load).
        self.last_verified: tuple[float, AuditReport] | None = None

    def seal(self, *, wait: bool = True) -> int:
        """Chain the rows appended so far (verifier/audit.py, `seal`); returns how many. When
        another node seals at this moment: wait for it, or (`wait` False) leave it to it.
        Nothing on SQLite, whose rows are chained as they are appended: there it would take the
        write lock (every second on a serving node, and before every read of the trail) to
        find nothing, and wait behind any other writer."""
        if self._store.engine.dialect.name == "sqlite":
            return 0
        with self._store.concurrent_write() as conn:
            if not audit_log.take_seal_lock(conn, wait=wait):
                return 0
            return audit_log.seal(conn)

    def anchor(self, path: Path) -> str | None:
        """Append the chain's head, signed, to the anchors file at `path` unless this trail
        anchored that head last; returns the head written (None: nothing new)."""
        with self._store.read() as conn:
            head = audit_log.head(conn)
            key = self._key.in_use(conn)
        if head == self._anchored:
            return None
        at = time.time()
        append_line(
            path, anchor_line(head, at, key.fingerprint, key.anchor_mac(anchor_text(head, at)))
        )
        self._anchored = head
        return head

    def recent(self, limit: int) -> list[dict[str, Any]]:
        """The newest `limit` audit rows, newest first, sealed first."""
        check_limit(limit)
        self.seal()
        with self._store.read() as conn:
            return audit_log.recent(conn, limit)

    def search(self, **filters: Any) -> list[dict[str, Any]]:
        """The newest rows that match the filters (verifier/audit.py, `search`), sealed first."""
        if "limit" in filters:
            check_limit(filters["limit"])
        for name in ("since", "until"):
            check_time(filters.get(name), name)
        self.seal()
        with self._store.read() as conn:
            return audit_log.search(conn, **filters)

    def results_since(self, action: str, since: float) -> list[tuple[float, str | None]]:
        """(time, result) of every `action` row since `since`, oldest first."""
        with self._store.read() as conn:
            return audit_log.results_since(conn, action, since)

    def verify(self, archives: Sequence[Path], anchors: Path | None = None) -> AuditReport:
        """Seal the rows appended so far, then check the hash chain, through `archives`
        (oldest first, from the first ever written) and on through the database, and against
        the anchors file `anchors`; `ok` is False with the first problem if broken."""
        self.seal()
        with ExitStack() as files:
            try:
                lines = [
                    files.enter_context(Path(path).open(encoding="utf-8")) for path in archives
                ]
                anchor_lines = (
                    [] if anchors is None else Path(anchors).read_text("utf-8").splitlines()
                )
            except OSError as exc:
                raise InvalidRequest(f"cannot read {exc.filename}: {exc.strerror}") from None
            except UnicodeDecodeError:
                raise InvalidRequest(f"{anchors} is not an anchors file") from None
            with self._store.read() as conn:
                key = self._key.in_use(conn)
                try:
                    checked = read_anchors(anchor_lines, key.fingerprint, key.anchor_mac)
                    if (
                        anchors is not None
                        and not checked
                        and audit_log.head(conn) != audit_log.START
                    ):  # an emptied file would otherwise pass as checked
                        raise AnchorError(
                            "it holds no anchor, so nothing checks the chain's head (emptied, "
                            "or started since the last anchor)"
                        )
                except AnchorError as exc:
                    head = audit_log.head(conn)
                    report = AuditReport(False, 0, head, f"anchors file {anchors}: {exc}")
                else:
                    report = audit_log.verify(conn, lines, checked)
        self.last_verified = (time.time(), report)
        if not report.ok:
            broken = AuditChainBroken(rows_checked=report.rows, problem=report.problem or "")
            with self._store.write() as conn:
                self._outbox.emit(conn, broken, time.time())
        return report

    def archive(self, path: Path, *, before: float) -> int:
        """Move the audit rows written before `before` (Unix time) to a new file at `path`;
        returns how many (0: nothing that old, and no file). The chain is verified first, and
        the file is on disk before any row is deleted, in the transaction that holds the
        chain's head (docs/operations.md, "Archiving the audit trail")."""
        path = Path(path)
        with self._store.write() as conn:
            audit_log.take_seal_lock(conn, wait=True)
            audit_log.seal(conn)
            report = audit_log.verify(conn)
            if not report.ok:
                raise AuditError(
                    f"the audit chain is broken ({report.problem}); nothing was archived"
                )
            through = audit_log.archive_end(conn, before)
            if through is None:
                return 0
            try:
                write_new(path, (line.encode() for line in audit_log.archive_lines(conn, through)))
            except FileExistsError:
                raise InvalidRequest(f"{path} already exists; nothing was archived") from None
            except OSError as exc:
                raise InvalidRequest(
                    f"cannot write {path}: {exc.strerror}; nothing was archived"
                ) from None
            return audit_log.drop_archived(conn, through, time.time())
