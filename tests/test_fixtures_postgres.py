"""The throwaway PostgreSQL servers of the suite (tests/fixtures_postgres.py) do not pile up:
a server left running by a run that was killed is stopped, and its folder deleted, by the next
run; a running test's server is left alone."""

import shutil
import subprocess

import psycopg
import pytest

from tests.fixtures_postgres import _OWNER, _new_cluster, _start, _stop, sweep_orphans


def _answers(port: int) -> bool:
    try:
        psycopg.connect(host="127.0.0.1", port=port, user="postgres", connect_timeout=5).close()
    except psycopg.OperationalError:
        return False
    return True


@pytest.mark.parametrize("owner_alive", [False, True])
def test_only_a_server_whose_run_is_gone_is_swept(owner_alive: bool) -> None:
    base, data = _new_cluster()
    try:
        port = _start(base, data)
        if not owner_alive:
            gone = subprocess.Popen(["true"])
            gone.wait()
            (base / _OWNER).write_text(f"{gone.pid}\n")
        swept = sweep_orphans(base.parent)
        assert (base in swept) is not owner_alive
        assert base.exists() is owner_alive
        assert _answers(port) is owner_alive
    finally:
        _stop(data)
        shutil.rmtree(base, ignore_errors=True)
