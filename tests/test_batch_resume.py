"""`baoling token batch` over three simulated tokens, interrupted in the middle and resumed:
every token is recorded once, the one PSKC file holds every secret, and each token proves it."""

import json
import os
import signal
import time
from contextlib import ExitStack

from provisioning_sim import baoling, profile_writes, start_baoling

from baoling.host_tools.simulator import Simulator
from baoling.provisioning.batch import Batch, Results, read_manifest
from baoling.provisioning.errors import SlotOccupied
from baoling.provisioning.keystore import KeyStore
from baoling.provisioning.link import Link
from baoling.provisioning.provision import provision
from baoling.provisioning.pskc_export import PskcFile
from baoling.provisioning.token import Token

MANIFEST = """label,issuer,algorithm,digits,period
alice,ACME,sha1,6,30
bob,ACME,sha256,8,60
carol,ACME,sha512,6,30
"""
PASSWORD = "batch password 1"


def test_interrupted_batch_resumes_and_provisions_every_token_once(tmp_path):
    manifest = tmp_path / "staff.csv"
    manifest.write_text(MANIFEST)
    results = tmp_path / "staff.csv.results.jsonl"
    pskc = tmp_path / "staff.pskc"
    env_args = ["--pskc", str(pskc), "--pskc-password", "--lock", "--keys", str(tmp_path / "k")]
    with ExitStack() as stack:
        sims = [stack.enter_context(Simulator(tmp_path / f"t{n}")) for n in range(3)]
        ports = [arg for sim in sims for arg in ("--port", sim.port)]
        args = ["token", "batch", str(manifest), *env_args, *ports]
        env = {**os.environ, "BAOLING_PSKC_PASSWORD": PASSWORD}
        first = start_baoling(*args, env=env)  # the Ctrl-C below reaches it under any runner
        deadline = time.monotonic() + 60
        while not (results.exists() and results.read_text().count("\n") >= 1):
            assert time.monotonic() < deadline and first.poll() is None, first.communicate()
            time.sleep(0.01)
        first.send_signal(signal.SIGINT)
        _, stderr = first.communicate(timeout=30)
        assert first.returncode == 1
        assert "run the same command again to resume" in stderr
        assert "Traceback" not in stderr
        done_before = [json.loads(line) for line in results.read_text().splitlines()]
        assert 1 <= len(done_before) < 3

        second = baoling(*args, "--json", env={"BAOLING_PSKC_PASSWORD": PASSWORD})
        assert second.returncode == 0, second.stderr
        assert json.loads(second.stdout)["done"] == 3

        records = [json.loads(line) for line in results.read_text().splitlines()]
        assert [r["row"] for r in records] == [1, 2, 3]
        assert [r["label"] for r in records] == ["alice", "bob", "carol"]
        assert records[: len(done_before)] == done_before
        assert len({r["serial"] for r in records}) == 3
        assert all(r["locked"] and len(bytes.fromhex(r["admin_key"])) == 32 for r in records)
        assert oct(results.stat().st_mode & 0o777) == "0o600"

        entries = {e.serial: e for e in PskcFile(pskc, password=PASSWORD).entries()}
        assert sorted(entries) == sorted(r["serial"] for r in records)
        for sim in sims:
            with Link(sim.port) as link:
                tok = Token(link)
                assert tok.locked
                tok.prove(0, entries[tok.serial].profile)  # raises if not the same secret
        serials_done_first = {r["serial"] for r in done_before}
        for sim in sims:
            with Link(sim.port) as link:
                serial = Token(link).serial
            if serial in serials_done_first:
                assert profile_writes(sim) == 1


def test_token_in_the_pskc_file_but_not_in_the_results_is_recorded_not_reprovisioned(tmp_path):
    # The state an interruption between the two writes leaves: see provisioning/batch.py (the
    # results file, written empty before the first token, makes the next run a resume).
    manifest = tmp_path / "m.csv"
    manifest.write_text(MANIFEST)
    rows = read_manifest(manifest)
    pskc = PskcFile(tmp_path / "b.pskc")
    Results(tmp_path / "r.jsonl").save()
    keys = KeyStore(tmp_path / "k")
    with Simulator(tmp_path / "a") as first, Simulator(tmp_path / "b") as second:
        with Link(first.port) as link:
            provision(Token(link), rows[0].profile(), keys=keys, registrars=[pskc])
        done = []
        run = Batch(
            rows[:2], Results(tmp_path / "r.jsonl"), pskc, keys, ports=[first.port, second.port]
        )
        run.run(on_wait=lambda: None, on_done=done.append, on_failed=lambda s, e: None)
        assert profile_writes(first) == 1 and profile_writes(second) == 1
        records = run.results.records
        assert [(r["row"], r["label"]) for r in records] == [(1, "alice"), (2, "bob")]
        assert [o.entry.profile.label for o in done] == ["bob"]
        assert len(pskc.entries()) == 2


def test_a_token_that_fails_is_left_out_and_its_row_goes_to_the_next(tmp_path):

    manifest = tmp_path / "m.csv"
    manifest.write_text(MANIFEST)
    rows = read_manifest(manifest)[:1]
    with Simulator(tmp_path / "theirs") as theirs, Simulator(tmp_path / "fresh") as fresh:
        with Link(theirs.port) as link:  # locked by someone else, slot 0 in use
            provision(Token(link), rows[0].profile(), lock=True, keys=KeyStore(tmp_path / "x"))
        failures = []
        run = Batch(
            rows,
            Results(tmp_path / "r.jsonl"),
            PskcFile(tmp_path / "b.pskc"),
            KeyStore(tmp_path / "k"),
            ports=[theirs.port, fresh.port],
        )
        run.run(
            on_wait=lambda: None,
            on_done=lambda outcome: None,
            on_failed=lambda serial, exc: failures.append(exc),
        )
        assert [type(exc) for exc in failures] == [SlotOccupied]
        with Link(fresh.port) as link:
            fresh_serial = Token(link).serial
        assert [r["serial"] for r in run.results.records] == [fresh_serial]
