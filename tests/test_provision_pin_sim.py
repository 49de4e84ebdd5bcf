"""`baoling token provision --pin` (issue 17 item 2: "set at provisioning, entered on the host,
sent once"): the real firmware in the simulator, the CLI as a person runs it.

Sources of truth: the issue's rules (4 to 8 digits checked before the token is touched, never
printed), the token's own answers (`info`, a refused proof), its PIN screen and the code it
shows after the PIN is entered with its button, against pyotp and oathtool.
"""

import base64
import time
from pathlib import Path

from provisioning_sim import run_baoling, wait_for_reference_code

from baoling.host_tools.simulator import Simulator
from baoling.provisioning.profile import Profile
from tests.test_firmware_protocol_ops import TokenLink
from tests.test_token_pin_sim import call, enter

PIN = "3102"
SECRET_B32 = "JBSWY3DPEHPK3PXPJBSWY3DP"
PROFILE = Profile(base64.b32decode(SECRET_B32), "sha1", 6, 30, "alice", "")


def test_provision_sets_the_pin_first_and_the_code_shows_only_after_it(tmp_path: Path) -> None:
    pin_file = tmp_path / "pin.txt"
    pin_file.write_text(PIN + "\n")
    with Simulator(tmp_path / "token") as sim:
        serial = call(sim, "info")["result"]["serial"]
        proc = run_baoling(
            "token", "provision", "--port", sim.port, "--secret", "-", "--label", "alice",
            "--pin-file", str(pin_file), "--pin-hold", "10", stdin=SECRET_B32 + "\n",
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == (
            f"Token {serial} slot 0: alice SHA1, 6 digits, 30 s; device PIN set, proved.\n"
        )
        assert PIN not in proc.stdout + proc.stderr
        info = call(sim, "info")["result"]
        assert (info["pin"], info["pin_tries_left"]) == (True, 10)
        assert [p["label"] for p in info["profiles"]] == ["alice"]
        sim.restart()
        sim.wait_screen(lambda s: s == {"screen": "pin", "detail": "0___"})
        refused = call(sim, "profile.prove", {"slot": 0, "challenge": "00" * 16})
        assert refused["error"] == "pin_required"
        enter(sim, PIN)
        wait_for_reference_code(sim, PROFILE)


def test_a_bad_pin_or_a_token_with_profiles_is_refused_before_the_token_changes(
    tmp_path: Path,
) -> None:
    with Simulator(tmp_path / "token") as sim:
        for bad in ("12a4", "123", "123456789"):
            proc = run_baoling(
                "token", "provision", "--port", sim.port, "--secret", "-", "--pin",
                stdin=f"{SECRET_B32}\n{bad}\n",
            )  # fmt: skip
            assert (proc.returncode, proc.stderr) == (1, "Error: The PIN must be 4 to 8 digits.\n")
            assert bad not in proc.stdout
        info = call(sim, "info")["result"]
        assert (info["pin"], info["profiles"], info["clock_trusted"]) == (False, [], False)
        link = TokenLink(sim)
        try:
            link.set_time(int(time.time() * 1000))
            link.write(3, b"an-earlier-profile!!", label="bob")
        finally:
            link.close()
        proc = run_baoling(
            "token", "provision", "--port", sim.port, "--secret", "-", "--pin",
            stdin=f"{SECRET_B32}\n{PIN}\n",
        )  # fmt: skip
        assert proc.returncode == 1
        assert proc.stderr == (
            f"Error: The token on {sim.port} already holds profiles, and a first device PIN needs "
            "a token without any: wipe it first (`baoling token wipe`), or provision without "
            "--pin.\n"
        )
        info = call(sim, "info")["result"]
        assert (info["pin"], [p["slot"] for p in info["profiles"]]) == (False, [3])
