"""firmware/manifest.py, the frozen build's list, names exactly the firmware's modules, and no
deployment takes the manifest for a module.

The folder is read when the test runs, so a module added to the firmware without a line in the
manifest fails here.
"""

import ast
from pathlib import Path

from baoling.host_tools.simulator import flash as flash_sim
from baoling.provisioning.flash import ENTRY, MANIFEST, firmware_modules
from tests.micropython_runner import FIRMWARE_DIR


def _calls(name: str) -> list[str]:
    """The first argument of every top-level `name("...")` call in the manifest."""
    tree = ast.parse((FIRMWARE_DIR / MANIFEST).read_text())
    return [
        node.value.args[0].value
        for node in tree.body
        if isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Call)
        and isinstance(node.value.func, ast.Name)
        and node.value.func.id == name
        and isinstance(node.value.args[0], ast.Constant)
    ]


def test_the_manifest_freezes_every_module_but_main_py() -> None:
    on_disk = {path.name for path in FIRMWARE_DIR.glob("*.py")}
    assert {"otp.py", "store.py", ENTRY, MANIFEST} <= on_disk
    frozen = _calls("module")
    assert len(frozen) == len(set(frozen))
    # main.py stays a file the board runs by name; board.py comes from boards/ at deploy time.
    assert set(frozen) == on_disk - {ENTRY, MANIFEST}
    assert _calls("require") == ["ssd1306"]  # machineboard.py's display driver


def test_the_manifest_is_not_a_firmware_module(tmp_path: Path) -> None:
    modules = firmware_modules(FIRMWARE_DIR)
    assert FIRMWARE_DIR / MANIFEST not in modules
    assert FIRMWARE_DIR / ENTRY in modules
    assert flash_sim(tmp_path / "device")
    deployed = {path.name for path in tmp_path.joinpath("device").glob("*.py")}
    assert deployed == {path.name for path in modules} | {"board.py"}
