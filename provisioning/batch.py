"""Batch provisioning: one manifest row per token, one token after another, resumable.

The manifest (CSV) has a header and one row per token: `label` (required), `issuer`,
`algorithm`, `digits`, `period`, `slot`. Secrets are made here, one per row.

Durable records, written in this order after each token proved its secret:
1. the batch's PSKC file (every secret of the batch; plain, pre-shared key or password);
2. the results file (JSON lines, mode 0600: row, serial, token id, profile, and the admin key
   when the batch locks tokens). A batch that begins on a PSKC file already holding keys
   (--pskc-append) first writes their token ids into it, as the line {"pskc_held": [...]}.
With a verifier, each token is enrolled after its result is written (`"enrolled": false`,
then true): a verifier that fails then leaves the token recorded as not enrolled, the batch
stops saying so, and the next run enrols such tokens before anything else.
Every file, the verifier and the admin key file are checked before a token is touched. The
results file is written (empty) before the first token, so a run that finds it is a resume and
adds to the batch's PSKC file; a first run refuses an existing PSKC file unless told to append.
Rows are done in order, so after an interruption the first row without a result is the one
in flight. A token that reached the PSKC file but not the results (interrupted between the two
writes) is recognised by its serial and recorded, not provisioned again; a key the PSKC file
held when the batch began never is (Batch.reconcile). Tokens already in the results are skipped
when seen again.
"""

import csv
import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from baoling.core.identity import token_id
from baoling.core.limits import DEFAULT_ALGORITHM, DEFAULT_DIGITS, DEFAULT_PERIOD_S
from baoling.provisioning.discovery import Found, find_tokens
from baoling.provisioning.enrol import VerifierClient
from baoling.provisioning.entry import Entry
from baoling.provisioning.errors import BadManifest, BaolingError, EnrolError
from baoling.provisioning.files import why_unwritable, write_private
from baoling.provisioning.keystore import KeyStore
from baoling.provisioning.link import Link
from baoling.provisioning.profile import Profile
from baoling.provisioning.provision import Outcome, provision
from baoling.provisioning.pskc_export import PskcFile
from baoling.provisioning.secrets import new_secret
from baoling.provisioning.token import HostClock, Token, system_clock_ms

COLUMNS = ("label", "issuer", "algorithm", "digits", "period", "slot")
SCAN_EVERY_S = 1.0


@dataclass(frozen=True)
class Row:
    """One manifest row: what the n-th token gets (its secret is made when it is written)."""

    number: int
    label: str
    issuer: str
    algorithm: str
    digits: int
    period_s: int
    slot: int

    def wrote(self, entry: Entry) -> bool:
        """Whether `entry` is what this row writes (all but the secret, which is made anew)."""
        made = entry.profile
        written = (entry.slot, made.label, made.issuer, made.algorithm, made.digits, made.period_s)
        return written == (
            self.slot,
            self.label,
            self.issuer,
            self.algorithm,
            self.digits,
            self.period_s,
        )

    def profile(self) -> Profile:
        return Profile(
            new_secret(self.algorithm),
            self.algorithm,
            self.digits,
            self.period_s,
            self.label,
            self.issuer,
        )


def read_manifest(path: Path) -> list[Row]:
    """Parse and check every row before any token is touched; errors name the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadManifest(f"Cannot read manifest {path}: {exc}.") from None
    # The text itself, not its lines: a quoted field may hold a line break, which the label
    # check then refuses; strict: a quote left open is an error, not a label running on.
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    try:
        return _rows(path, reader)
    except csv.Error as exc:
        raise BadManifest(
            f"Manifest {path}, line {reader.reader.line_num}: not CSV ({exc})."
        ) from None


def _rows(path: Path, reader: "csv.DictReader[str]") -> list[Row]:
    header = set(reader.fieldnames or ())
    if "label" not in header or header - set(COLUMNS):
        raise BadManifest(
            f"Manifest {path} needs a header line with the columns label and optionally "
            f"{', '.join(COLUMNS[1:])}; it has: {', '.join(reader.fieldnames or ()) or 'none'}."
        )
    rows = []
    for number, record in enumerate(reader, start=1):
        try:
            row = Row(
                number,
                record["label"] or "",
                record.get("issuer") or "",
                record.get("algorithm") or DEFAULT_ALGORITHM,
                _whole(record, "digits", DEFAULT_DIGITS),
                _whole(record, "period", DEFAULT_PERIOD_S),
                _whole(record, "slot", 0),
            )
            Profile(b"\0" * 20, row.algorithm, row.digits, row.period_s, row.label, row.issuer)
        except (ValueError, BaolingError) as exc:
            raise BadManifest(f"Manifest {path}, row {number}: {exc}") from None
        rows.append(row)
    if not rows:
        raise BadManifest(f"Manifest {path} has no rows.")
    return rows


def _whole(record: dict[str, str], column: str, default: int) -> int:
    text = (record.get(column) or "").strip()
    if not text:
        return default
    if not (text.isascii() and text.isdigit()):
        raise ValueError(f"{column} must be a whole number, not {text!r}.")
    return int(text)


class Results:
    """The results file: one JSON object per provisioned token, rewritten atomically, after a
    first line `{"pskc_held": [token ids]}` when the batch's PSKC file held keys before it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: list[dict[str, Any]] = []
        self.pskc_held: list[str] = []  # token ids in the PSKC file when the batch began
        if path.exists():
            try:
                lines = [json.loads(line) for line in path.read_text().splitlines()]
            except ValueError:
                raise BadManifest(f"Results file {path} is not JSON lines.") from None
            if lines and "pskc_held" in lines[0]:
                self.pskc_held = list(lines.pop(0)["pskc_held"])
            self.records = lines

    def rows_done(self) -> set[int]:
        return {record["row"] for record in self.records}

    def serials_done(self) -> set[str]:
        return {record["serial"] for record in self.records}

    def check_writable(self) -> None:
        reason = why_unwritable(self.path)
        if reason:
            raise BadManifest(f"The results file {self.path} cannot be written: {reason}.")

    def add(self, record: dict[str, Any]) -> None:
        self.records.append(record)
        self.save()

    def save(self) -> None:
        held = [{"pskc_held": self.pskc_held}] if self.pskc_held else []
        lines = "".join(json.dumps(r, sort_keys=True) + "\n" for r in [*held, *self.records])
        write_private(self.path, lines.encode())


def _record(row: Row, entry: Entry, locked: bool, admin_key: bytes | None) -> dict[str, Any]:
    return {
        "row": row.number,
        **entry.as_json(),
        "locked": locked,
        "admin_key": admin_key.hex() if admin_key else None,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


@dataclass
class Batch:
    """A batch run over `rows`, recording into `results` and `pskc`."""

    rows: list[Row]
    results: Results
    pskc: PskcFile
    keys: KeyStore
    lock: bool = False
    ports: list[str] | None = None
    verifier: VerifierClient | None = None
    clock: HostClock = system_clock_ms
    scan: Callable[[list[str] | None], list[Found]] = find_tokens
    sleep: Callable[[float], None] = time.sleep

    def pending(self) -> list[Row]:
        done = self.results.rows_done()
        return [row for row in self.rows if row.number not in done]

    def check_ready(self) -> None:
        """Everything a token's provisioning needs, before the first token is touched. A batch
        whose results file exists is resuming: its PSKC file is its own and is added to."""
        if self.results.path.exists():
            self.pskc = replace(self.pskc, append=True)
        self.pskc.check_ready()
        self.results.check_writable()
        if self.lock:
            self.keys.check_writable()
        if self.verifier is not None:
            self.verifier.check_reachable()
        elif any(record.get("enrolled") is False for record in self.results.records):
            raise BadManifest(
                f"{self.results.path} records tokens not enrolled yet: give the same --verifier "
                "to enrol them."
            )

    def reconcile(self) -> None:
        """Record a token that reached the PSKC file but not the results (see module doc).

        The rule: a key is taken for the first pending row only if the PSKC file did not hold
        it when the batch began, its token is not in the results yet, and it is what that row
        writes. The token ids the file held then (--pskc-append) are the results file's
        `pskc_held`, written with it before the first token, so a resume knows them too: such
        a key is never this batch's token, and its row waits for a token to provision.
        """
        pending = self.pending()
        if not pending:
            return
        seen = self.results.serials_done()
        held = set(self.results.pskc_held)
        for entry in self.pskc.entries():
            if entry.key_id in held:
                continue
            if entry.serial not in seen and pending[0].wrote(entry):
                key = None
                if self.lock:
                    key = self.keys.get(entry.serial)
                self.results.add(_record(pending[0], entry, self.lock, key))
                return

    def run(
        self,
        on_wait: Callable[[], None],
        on_done: Callable[[Outcome], None],
        on_failed: Callable[[str, BaolingError], None],
    ) -> None:
        """Provision every pending row, waiting for a new token before each.

        A token that fails (wrong state, unplugged, prove mismatch) is reported and left out of
        this run; its row goes to the next token.
        """
        self.check_ready()
        if not self.results.path.exists():  # this run begins the batch
            self.results.pskc_held = [entry.key_id for entry in self.pskc.entries()]
        self.results.save()  # before any token: a later run of this batch is a resume
        self.pskc = replace(self.pskc, append=True)
        self.reconcile()
        self.enrol_recorded()
        failed: set[str] = set()
        for row in self.pending():
            while True:
                port, serial = self._wait_for_new_token(on_wait, failed)
                if self.verifier is not None:
                    self.verifier.check_reachable()  # down: stop here, nothing written
                try:
                    if self.verifier is not None:
                        self.verifier.check(token_id(serial, row.slot))
                    outcome = self._provision(port, row)
                    break
                except BaolingError as exc:
                    failed.add(serial)
                    on_failed(serial, exc)
            locked = outcome.locked
            admin_key = outcome.admin_key
            if locked and admin_key is None:
                admin_key = self.keys.get(outcome.entry.serial)
            record = _record(row, outcome.entry, locked, admin_key)
            if self.verifier is not None:
                record["enrolled"] = False
            self.results.add(record)
            if self.verifier is not None:
                self._enrol(self.verifier, record, outcome.entry)
            on_done(outcome)

    def enrol_recorded(self) -> None:
        """Enrol the tokens an earlier run wrote and recorded but could not enrol."""
        waiting = [r for r in self.results.records if r.get("enrolled") is False]
        if not waiting or self.verifier is None:
            return
        kept = {entry.key_id: entry for entry in self.pskc.entries()}
        for record in waiting:
            entry = kept.get(record["token_id"])
            if entry is None:
                raise BadManifest(
                    f"{self.results.path} records {record['token_id']} as not enrolled, but "
                    f"{self.pskc.path} does not hold its secret: give the batch's PSKC file."
                )
            if self.verifier.knows(entry.key_id):  # enrolled, but the answer was lost
                record["enrolled"] = True
                self.results.save()
            else:
                self._enrol(self.verifier, record, entry)

    def _enrol(self, verifier: VerifierClient, record: dict[str, Any], entry: Entry) -> None:
        """Enrol a recorded token; on failure say what was written and how to finish."""
        try:
            verifier.register(entry)
        except EnrolError as exc:
            raise EnrolError(
                f"Token {entry.serial} slot {entry.slot} (row {record['row']}) holds a new "
                f"secret, kept in {self.pskc.path} and recorded as not enrolled in "
                f"{self.results.path}, but enrolling it failed: {exc} To finish, run the same "
                "command again once the verifier answers: recorded tokens are enrolled first. "
                "To roll back, wipe the token (`baoling token wipe`) and give the rows left to "
                "a new batch with new --results and --pskc files."
            ) from None
        record["enrolled"] = True
        self.results.save()

    def _provision(self, port: str, row: Row) -> Outcome:
        with Link(port) as link:
            return provision(
                Token(link),
                row.profile(),
                slot=row.slot,
                lock=self.lock,
                keys=self.keys,
                registrars=[self.pskc],
                clock=self.clock,
            )

    def _wait_for_new_token(self, on_wait: Callable[[], None], failed: set[str]) -> tuple[str, str]:
        """Port and serial of a token not yet done; asks once for the next to be plugged in."""
        asked = False
        while True:
            skip = self.results.serials_done() | failed
            for found in self.scan(self.ports):
                if found.info is not None and found.info["serial"] not in skip:
                    return found.port, found.info["serial"]
            if not asked:
                on_wait()
                asked = True
            self.sleep(SCAN_EVERY_S)
