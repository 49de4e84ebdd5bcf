"""The audit trail as administrators use it: the newest rows, checking the chain through
archive files, and moving old rows to an archive file. The chain itself (row hashes, the head,
its SQL) is the audit store, verifier/audit.py."""

import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from baoling.verifier import audit as audit_log
from baoling.verifier import store
from baoling.verifier.audit import AuditReport
from baoling.verifier.errors import AuditError, InvalidRequest
from baoling.verifier.events import AuditChainBroken
from baoling.verifier.files import write_new
from baoling.verifier.outbox import Outbox


class AuditTrail:
    """The audit trail of one store."""

    def __init__(self, db: store.Store, outbox: Outbox) -> None:
        self._store, self._outbox = db, outbox

    def recent(self, limit: int) -> list[dict[str, Any]]:
        """The newest `limit` audit rows, newest first."""
        with self._store.read() as conn:
            return audit_log.recent(conn, limit)

    def search(self, **filters: Any) -> list[dict[str, Any]]:
        """The newest rows that match the filters (verifier/audit.py, `search`)."""
        with self._store.read() as conn:
            return audit_log.search(conn, **filters)

    def results_since(self, action: str, since: float) -> list[tuple[float, str | None]]:
        """(time, result) of every `action` row since `since`, oldest first."""
        with self._store.read() as conn:
            return audit_log.results_since(conn, action, since)

    def verify(self, archives: Sequence[Path]) -> AuditReport:
        """Check the hash chain, through `archives` (oldest first, from the first ever
        written) and on through the database; `ok` is False with the first problem if broken."""
        with ExitStack() as files:
            try:
                lines = [
                    files.enter_context(Path(path).open(encoding="utf-8")) for path in archives
                ]
            except OSError as exc:
                raise InvalidRequest(f"cannot read {exc.filename}: {exc.strerror}") from None
            with self._store.read() as conn:
                report = audit_log.verify(conn, lines)
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
