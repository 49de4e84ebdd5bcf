"""A serving node whose SQLite data folder fills up fails closed and recovers by itself.

The server runs in a mount namespace of its own (`unshare -m`) with its data folder on a small
tmpfs, as a full volume would be; the test fills that tmpfs through /proc/PID/root, then frees
it. While it is full a right code is answered 503 (never accepted without its write on disk),
the log says why, /readyz says not ready, and once space returns the same code is accepted
once.
"""

import base64
import contextlib
import errno
from pathlib import Path

import httpx
import pyotp

from baoling.host_tools.verifier_process import ServerProcess
from baoling.verifier.service import Verifier

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
HTTP_TIMEOUT_S = 30
# The tmpfs: room for the seeded store and its WAL, little more.
TMPFS_SIZE = "4m"


def _fill(folder: Path) -> Path:
    """Write zeros into `folder` until its file system is full; the filler's path."""
    filler = folder / "filler"
    with open(filler, "wb") as out, contextlib.suppress(OSError):
        while True:
            out.write(b"\0" * 65536)
            out.flush()
    with open(folder / "probe", "wb") as probe:
        try:
            probe.write(b"\0" * 65536)
            probe.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        else:
            raise AssertionError("the tmpfs is not full")
    (folder / "probe").unlink()
    return filler


def test_a_full_data_folder_fails_closed_with_a_log_line_and_recovers(tmp_path):
    seed, data = tmp_path / "seed", tmp_path / "data"
    with contextlib.closing(Verifier(data_dir=seed)) as v:
        v.enrol("alice", base64.b32decode(SECRET))
        key = v.create_api_key("test", ["validate"])
    data.mkdir()
    mount = (
        f'mount -t tmpfs -o size={TMPFS_SIZE} tmpfs {data} && cp -a {seed}/. {data}/ && exec "$@"'
    )
    wrapper = ["unshare", "-m", "sh", "-c", mount, "sh"]
    auth = {"Authorization": f"Bearer {key}"}
    with ServerProcess(["--data-dir", str(data)], wrapper=wrapper) as server:

        def validate(code: str) -> httpx.Response:
            return httpx.post(
                f"{server.url}/v1/validate",
                json={"token": "alice", "code": code},
                headers=auth,
                timeout=HTTP_TIMEOUT_S,
            )

        seen = Path(f"/proc/{server.process.pid}/root") / data.relative_to("/")
        filler = _fill(seen)
        code = pyotp.TOTP(SECRET).now()
        full = validate(code)
        assert (full.status_code, full.json()["error"]) == (503, "unavailable")
        assert "database or disk is full" in full.json()["message"]
        # Reads still work on a full disk; /readyz says the writes cannot.
        ready = httpx.get(f"{server.url}/readyz", timeout=HTTP_TIMEOUT_S)
        assert ready.status_code == 503
        assert ready.json()["checks"]["store"] == "ok"
        assert "bytes free (at least 1048576 needed)" in ready.json()["checks"]["data_folder"]
        filler.unlink()
        assert httpx.get(f"{server.url}/readyz", timeout=HTTP_TIMEOUT_S).status_code == 200
        assert validate(code).json()["result"] == "accept"
        assert validate(code).json()["result"] == "reject"
    warnings = [line for line in server.lines if "baoling.http unavailable:" in line]
    assert len(warnings) == 1
    assert "database or disk is full" in warnings[0]
    assert code not in server.log()
