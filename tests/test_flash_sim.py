"""`baoling token flash` deploys with mpy-cross and mpremote to the simulator in development mode
(the unix port's REPL speaks mpremote's raw REPL), and the new version answers `info`."""

import json
import shutil

import pytest
from provisioning_sim import baoling, wait_for_reference_code

from baoling.host_tools.simulator import FIRMWARE_DIR, Simulator
from baoling.provisioning.errors import TokenLocked
from baoling.provisioning.flash import flash
from baoling.provisioning.keystore import KeyStore
from baoling.provisioning.link import Link
from baoling.provisioning.profile import Profile
from baoling.provisioning.provision import provision
from baoling.provisioning.token import Token

PROFILE = Profile(bytes(range(20)), label="alice")


@pytest.fixture
def new_firmware(tmp_path):
    """The firmware with a version no token runs yet."""
    folder = tmp_path / "firmware"
    shutil.copytree(FIRMWARE_DIR, folder)
    device = folder / "device.py"
    text = device.read_text()
    assert '_FIRMWARE = const("' in text
    marked = text.replace('_FIRMWARE = const("', '_FIRMWARE = const("9.9.9-flash-test+', 1)
    device.write_text(marked)
    return folder


def test_flash_deploys_mpy_files_and_the_new_version_answers(tmp_path, new_firmware):
    with Simulator(tmp_path / "token") as sim:
        with Link(sim.port) as link:
            tok = Token(link)
            old_version = tok.info["firmware"]
            provision(tok, PROFILE, keys=KeyStore(tmp_path / "k"))
        proc = baoling(
            "token",
            "flash",
            "--port",
            sim.port,
            "--board",
            "sim",
            "--firmware",
            str(new_firmware),
            "--json",
        )
        assert proc.returncode == 0, proc.stderr
        assert "mpremote" in proc.stderr
        info = json.loads(proc.stdout)
        assert info["firmware"] == "9.9.9-flash-test+" + old_version
        deployed = {path.name for path in sim.state_dir.iterdir()}
        assert {"otp.mpy", "device.mpy", "store.mpy", "main.py", "board.py"} <= deployed
        assert not {"otp.py", "device.py", "store.py"} & deployed
        assert [p["label"] for p in info["profiles"]] == ["alice"]  # the store survived
        wait_for_reference_code(sim, PROFILE)


def test_flash_refuses_a_locked_token_before_touching_it(tmp_path, new_firmware):
    with Simulator(tmp_path / "token") as sim:
        with Link(sim.port) as link:
            Token(link).lock(bytes(32))
        before = sorted(path.name for path in sim.state_dir.iterdir())
        with pytest.raises(TokenLocked) as caught:
            flash(sim.port, "sim", new_firmware)
        assert str(caught.value) == (
            f"The token on {sim.port} is locked: its firmware cannot be replaced (mpremote cannot "
            "reach a locked token). Wipe it first with `baoling token wipe`."
        )
        assert sorted(path.name for path in sim.state_dir.iterdir()) == before
