"""The distribution as a user gets it: built from what is committed, installed anywhere.

One module fixture extracts `git archive HEAD` outside the checkout, builds an sdist and, from
that sdist, a wheel (`python -m build`), and installs the wheel into a fresh venv. The commands
then run from a folder outside the checkout with no PYTHONPATH, so they can only use what the
wheel installed. Slow (about a minute): `pytest -m package` runs these tests alone.
"""

import fcntl
import io
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.child_signals import default_stop_signals

pytestmark = pytest.mark.package

REPO = Path(__file__).resolve().parent.parent
MAPPED = ("core", "firmware", "host_tools", "provisioning", "verifier")  # each is baoling.<name>
DEMO_END = "Demo finished: accept, then reject (replay), then reject (wrong code)."
STOP_WITHIN_S = 5.0


@dataclass(frozen=True)
class Installed:
    source: Path  # the extracted archive the distributions were built from
    version: str
    wheel: Path
    sdist: Path
    bin: Path  # the fresh venv's bin/
    workdir: Path  # an empty folder outside the checkout, where commands run
    env: dict[str, str]

    @property
    def package(self) -> Path:
        """Where the wheel installed the `baoling` package."""
        python = f"python{sys.version_info[0]}.{sys.version_info[1]}"
        return self.bin.parent / "lib" / python / "site-packages" / "baoling"

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            cwd=self.workdir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def _check(command: list[str], timeout: float) -> str:
    """Run a set-up step that must succeed; its output."""
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{command[:4]} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def _outside_env(venv_bin: Path, home: Path) -> dict[str, str]:
    """This process's environment without anything that leads back to the checkout."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "VIRTUAL_ENV") and not key.startswith("BAOLING_")
    }
    checkout_bin = str(Path(sys.executable).parent)
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p and p != checkout_bin]
    env["PATH"] = os.pathsep.join([str(venv_bin), *path])
    env["HOME"] = str(home)
    return env


def _build_and_install(root: Path) -> None:
    """Extract `git archive HEAD` into root/source, build into root/dist, install into
    root/venv; root/work and root/home are the empty folders the commands get."""
    assert not root.is_relative_to(REPO)
    source = root / "source"
    source.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", "HEAD"], capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(source, filter="data")
    # No --sdist/--wheel: build makes the sdist, then the wheel from the unpacked sdist.
    dist = root / "dist"
    built = _check([sys.executable, "-m", "build", "--outdir", str(dist), str(source)], timeout=300)
    # build shows the backend's warnings (a deprecated license table, say) as "WARNING <text>".
    assert re.findall(r"^WARNING .*", built, re.M) == []
    venv = root / "venv"
    _check([sys.executable, "-m", "venv", "--without-pip", str(venv)], timeout=60)
    (wheel,) = dist.glob("*.whl")
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python")]
    _check([*pip, "install", "--quiet", "--disable-pip-version-check", str(wheel)], timeout=600)
    (root / "work").mkdir()
    (root / "home").mkdir()


def _installed(root: Path) -> Installed:
    source = root / "source"
    version = tomllib.loads((source / "pyproject.toml").read_text())["project"]["version"]
    return Installed(
        source=source,
        version=version,
        wheel=root / "dist" / f"baoling-{version}-py3-none-any.whl",
        sdist=root / "dist" / f"baoling-{version}.tar.gz",
        bin=root / "venv" / "bin",
        workdir=root / "work",
        env=_outside_env(root / "venv" / "bin", root / "home"),
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """Built once per test run. Under `pytest -n` the workers share one build, in the run's
    temporary folder behind a lock, instead of each worker building its own."""
    run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if run_id is None:
        root = tmp_path_factory.mktemp("package")
        _build_and_install(root)
        return _installed(root)
    shared = tmp_path_factory.getbasetemp().parent / f"package-{run_id}"
    shared.mkdir(exist_ok=True)
    root = shared / "build"
    with (shared / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (shared / "done").exists():  # the first worker here, or one whose build failed
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir()
            _build_and_install(root)
            (shared / "done").touch()
    return _installed(root)


def _archived_files(installed: Installed, folder: str) -> set[str]:
    """Files of one top-level folder of the archive, as paths relative to the archive."""
    base = installed.source
    return {
        str(path.relative_to(base))
        for path in (base / folder).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


def test_the_wheel_holds_the_baoling_package_only_with_the_firmware(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = set(wheel.namelist())
        dist_info = f"baoling-{installed.version}.dist-info"
        record = wheel.read(f"{dist_info}/RECORD").decode()
    assert {line.split(",")[0] for line in record.splitlines()} == names
    assert {name.split("/")[0] for name in names} == {"baoling", dist_info}
    assert "baoling/__init__.py" not in names  # a namespace package: baoling.<name> only
    for folder in MAPPED:
        archived = {
            f"baoling/{path}"
            for path in _archived_files(installed, folder)
            if folder == "firmware" or path.endswith(".py")
        }
        assert archived <= names, f"{folder}/ is missing from the wheel"
    firmware = {name for name in names if name.startswith("baoling/firmware/")}
    assert firmware == {f"baoling/{path}" for path in _archived_files(installed, "firmware")}
    assert {
        "baoling/firmware/main.py",
        "baoling/firmware/manifest.py",
        "baoling/firmware/boards/pico.py",
        "baoling/firmware/boards/esp32.py",
        "baoling/firmware/boards/sim.py",
        "baoling/verifier/dictionary.radius",
    } <= names


def test_the_sdist_holds_every_source_folder_and_the_readme(installed: Installed) -> None:
    with tarfile.open(installed.sdist) as sdist:
        top = f"baoling-{installed.version}/"
        names = {name.removeprefix(top) for name in sdist.getnames()}
    for folder in MAPPED:
        missing = _archived_files(installed, folder) - names
        assert missing == set(), f"missing from the sdist: {sorted(missing)}"
    assert {"README.md", "pyproject.toml", "core/__init__.py", "firmware/manifest.py"} <= names


def test_the_installed_commands_use_the_wheel_not_the_checkout(installed: Installed) -> None:
    done = installed.run(
        "python",
        "-c",
        "import baoling, baoling.host_tools.simulator as s; "
        "print(*baoling.__path__, sep='\\n'); print(s.FIRMWARE_DIR)",
    )
    assert done.returncode == 0, done.stderr
    *package_paths, firmware_dir = done.stdout.splitlines()
    assert package_paths == [str(installed.package)]
    assert firmware_dir == str(installed.package / "firmware")


def test_the_demo_runs_to_its_end(installed: Installed) -> None:
    done = installed.run("baoling", "demo", timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert DEMO_END in done.stdout.splitlines()


def _read_port(proc: subprocess.Popen[str], within_s: float) -> str:
    """The `port: ...` line `baoling sim run` prints once the firmware runs."""
    assert proc.stdout is not None
    deadline = time.monotonic() + within_s
    seen = []
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], deadline - time.monotonic())
        line = proc.stdout.readline() if ready else ""
        if not line:
            break
        seen.append(line)
        if line.startswith("port: "):
            return line.removeprefix("port: ").strip()
    proc.kill()
    _, errors = proc.communicate()
    raise AssertionError(f"no port line within {within_s} s: {seen}\n{errors}")


def test_the_simulator_boots_the_installed_firmware_and_flash_finds_it(
    installed: Installed,
) -> None:
    firmware = installed.package / "firmware"
    version = re.compile(r'^_FIRMWARE = const\("([^"]+)"\)', re.M)
    found = version.search((firmware / "device.py").read_text())
    assert found is not None
    state = installed.workdir / "token"
    proc = subprocess.Popen(
        [str(installed.bin / "baoling"), "sim", "run", "--state", str(state)],
        cwd=installed.workdir,
        env=installed.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_stop_signals,
    )
    try:
        port = _read_port(proc, within_s=60)
        flashed = {path.name for path in state.iterdir()}
        assert "manifest.py" not in flashed
        assert (state / "otp.py").read_bytes() == (firmware / "otp.py").read_bytes()
        assert (state / "board.py").read_bytes() == (firmware / "boards" / "sim.py").read_bytes()

        info = installed.run("baoling", "token", "info", "--port", port, "--json")
        assert info.returncode == 0, info.stderr
        assert json.loads(info.stdout)["firmware"] == found[1]

        # No --firmware: the default is the installed package's firmware.
        flash = installed.run(
            "baoling", "token", "flash", "--port", port, "--board", "sim", "--json", timeout=120
        )
        assert flash.returncode == 0, flash.stdout + flash.stderr
        assert json.loads(flash.stdout)["firmware"] == found[1]
        deployed = {path.name for path in state.iterdir()}
        assert {"otp.mpy", "device.mpy", "main.py", "board.py"} <= deployed
        assert not {"otp.py", "manifest.py", "manifest.mpy"} & deployed

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=STOP_WITHIN_S) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
