"""`baoling token batch --pskc-append` onto a PSKC file that already holds a key the batch's first
row would write: that key is never taken for the batch's token, on the first run or on a resume
(docs/provisioning.md, "Many tokens: batch"). The tokens are simulated (the real firmware under
MicroPython on a pseudo-terminal)."""

import json
import shutil
import signal
import time
from pathlib import Path

import pytest
from provisioning_sim import baoling, profile_writes, start_baoling

from baoling.host_tools.simulator import Simulator
from baoling.provisioning.batch import Batch, Results, read_manifest
from baoling.provisioning.keystore import KeyStore
from baoling.provisioning.link import Link
from baoling.provisioning.provision import provision
from baoling.provisioning.pskc_export import PskcFile
from baoling.provisioning.token import Token

MANIFEST = "label,issuer\nalice,Corp\n"


class NoMoreTokens(Exception):
    """Raised when the batch waits for another token: the test has none to plug in."""


def stop_waiting(_seconds: float) -> None:
    raise NoMoreTokens


def kept_keys(tmp_path: Path, sim: Simulator) -> Path:
    """keys.pskc from an earlier `token provision`: slot 0 of `sim`'s token, alice of Corp."""
    keys = tmp_path / "keys.pskc"
    made = baoling(
        *("token", "provision", "--port", sim.port, "--label", "alice", "--issuer", "Corp"),
        *("--pskc", str(keys)),
    )
    assert made.returncode == 0, made.stderr
    return keys


def serial(sim: Simulator) -> str:
    with Link(sim.port) as link:
        return Token(link).serial


def test_a_key_the_appended_file_held_is_not_taken_for_the_row(tmp_path):
    """The audit's reproduction with a new token plugged in: the row goes to the new token."""
    manifest = tmp_path / "m.csv"
    manifest.write_text(MANIFEST)
    with Simulator(tmp_path / "old") as old, Simulator(tmp_path / "new") as new:
        pskc = tmp_path / "e3.pskc"
        shutil.copy(kept_keys(tmp_path, old), pskc)
        old_key = PskcFile(pskc, append=True).entries()[0]
        results = tmp_path / "new.jsonl"
        proc = baoling(
            *("token", "batch", str(manifest), "--pskc", str(pskc), "--pskc-append"),
            *("--results", str(results), "--port", new.port, "--json"),
        )
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["done"] == 1
        assert profile_writes(new) == 1
        assert profile_writes(old) == 1  # its own provisioning, nothing since
        new_serial = serial(new)
        records = Results(results).records
        assert [(r["row"], r["serial"], r["label"]) for r in records] == [(1, new_serial, "alice")]
        entries = {e.key_id: e for e in PskcFile(pskc, append=True).entries()}
        assert sorted(entries) == sorted([old_key.key_id, f"{new_serial}-0"])
        assert entries[old_key.key_id].profile.secret == old_key.profile.secret
        with Link(new.port) as link:
            Token(link).prove(0, entries[f"{new_serial}-0"].profile)  # raises if not its secret


def test_with_no_token_the_batch_waits_and_reports_nothing_provisioned(tmp_path):
    """The reproduction as the audit ran it: no token at --port. The batch asks for one and
    waits, as for any row; Ctrl-C ends it with exit 1, saying no token is done; nothing is
    recorded and the PSKC file is unchanged."""
    manifest = tmp_path / "m.csv"
    manifest.write_text(MANIFEST)
    with Simulator(tmp_path / "old") as old:
        pskc = tmp_path / "e3.pskc"
        shutil.copy(kept_keys(tmp_path, old), pskc)
    kept = pskc.read_bytes()
    results = tmp_path / "new.jsonl"
    args = ["token", "batch", str(manifest), "--pskc", str(pskc), "--pskc-append"]
    args += ["--results", str(results), "--port", "/dev/null"]
    proc = start_baoling(*args)
    assert proc.stderr is not None
    waiting = False
    for line in proc.stderr:  # ends when the batch does: it must not before Ctrl-C
        if "plug in the next token" in line:
            waiting = True
            break
    assert waiting and proc.poll() is None, proc.communicate()
    time.sleep(0.3)  # it goes on waiting
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    assert (proc.returncode, stdout) == (1, "")
    assert [line for line in stderr.splitlines() if line] == [
        "Interrupted with 0 of 1 tokens done; run the same command again to resume.",
        "Aborted.",
    ]
    assert Results(results).records == []
    assert pskc.read_bytes() == kept


def test_a_resumed_append_takes_the_token_in_flight_not_the_key_held_before(tmp_path):
    """A first run appending to keys.pskc stops before its first token; the next token reached
    the PSKC file but not the results (interrupted between the two writes). The resume records
    that token from the PSKC file; the key the file held before the batch began, which would fit
    the row as well and comes first in the file, is not taken."""
    manifest = tmp_path / "m.csv"
    manifest.write_text(MANIFEST)
    rows = read_manifest(manifest)
    with Simulator(tmp_path / "old") as old, Simulator(tmp_path / "new") as new:
        pskc = PskcFile(tmp_path / "e3.pskc", append=True)
        shutil.copy(kept_keys(tmp_path, old), pskc.path)
        results, keys = tmp_path / "r.jsonl", KeyStore(tmp_path / "k")
        first = Batch(rows, Results(results), pskc, keys, ports=[], sleep=stop_waiting)
        with pytest.raises(NoMoreTokens):  # waiting for a token: stopped there
            first.run(on_wait=lambda: None, on_done=lambda o: None, on_failed=lambda s, e: None)
        assert Results(results).records == []
        assert results.exists()  # so the next run is a resume
        with Link(new.port) as link:  # the write the interruption cut short of its result
            provision(Token(link), rows[0].profile(), keys=keys, registrars=[pskc])
        done = []
        resume = Batch(rows, Results(results), PskcFile(pskc.path), keys, ports=[new.port])
        resume.run(on_wait=lambda: None, on_done=done.append, on_failed=lambda s, e: None)
        assert done == []  # recorded, not provisioned again
        assert profile_writes(new) == 1
        assert [(r["row"], r["serial"]) for r in Results(results).records] == [(1, serial(new))]
        assert len(pskc.entries()) == 2
