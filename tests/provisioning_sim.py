"""Helpers for the provisioning tests: simulated tokens, reference codes, the CLI as a user runs it.

Reference codes come from oathtool and pyotp, never from Baoling's own OTP code.
"""

import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pyotp
from child_signals import default_stop_signals
from click.testing import CliRunner

from baoling.host_tools.cli import cli
from baoling.host_tools.simulator import Simulator
from baoling.provisioning.label_bitmap import LabelBitmap
from baoling.provisioning.link import Link
from baoling.provisioning.profile import Profile
from baoling.provisioning.token import Token


@contextmanager
def sim_token(state_dir: Path) -> Iterator[tuple[Simulator, Token]]:
    """A simulated token running the real firmware, and a Token open on its port."""
    with Simulator(state_dir) as sim, Link(sim.port) as link:
        yield sim, Token(link)


class StoresAnotherSecret(Token):
    """The real token, but what lands in its slot is not what the host meant to write
    (a corrupted transfer, a tampered link, a firmware bug)."""

    def write(self, slot: int, profile: Profile, bitmap: LabelBitmap | None = None) -> None:
        flipped = bytes([profile.secret[0] ^ 1]) + profile.secret[1:]
        super().write(
            slot,
            Profile(
                flipped,
                profile.algorithm,
                profile.digits,
                profile.period_s,
                profile.label,
                profile.issuer,
            ),
            bitmap,
        )


def profile_writes(sim: Simulator) -> int:
    """How many profile.write answers the token sent (its own output, parsed)."""
    count = 0
    for line in sim.device_output().splitlines():
        if line.startswith(b"@"):
            answer = json.loads(line[1:])
            count += answer.get("ok") is True and "profile" in answer.get("result", {})
    return count


def oathtool_code(profile: Profile, unix_time: int) -> str:
    proc = subprocess.run(
        [
            "oathtool",
            f"--totp={profile.algorithm}",
            "-d",
            str(profile.digits),
            "-s",
            str(profile.period_s),
            "--now",
            f"@{unix_time}",
            profile.secret.hex(),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout.strip()


def pyotp_code(profile: Profile, unix_time: int) -> str:
    totp = pyotp.TOTP(
        profile.secret_b32,
        digits=profile.digits,
        digest=getattr(hashlib, profile.algorithm),
        interval=profile.period_s,
    )
    return totp.at(unix_time)


def wait_for_reference_code(sim: Simulator, profile: Profile, timeout: float = 5) -> dict:
    """Wait until the screen shows the code oathtool and pyotp give for the host's time now."""

    def shows_reference_code(screen: dict) -> bool:
        now = int(time.time())
        reference = oathtool_code(profile, now)
        assert reference == pyotp_code(profile, now)
        return screen.get("screen") == "code" and screen.get("code") == reference

    return sim.wait_screen(shows_reference_code, timeout)


def baoling(*args: str, stdin: str = "", env: dict | None = None) -> SimpleNamespace:
    """`baoling ARGS` in this process (click's CliRunner): fast, for commands expected to work.

    Library errors are not turned into their one line here (that is host_tools.cli.main's job,
    tested through run_baoling); they come back as `exception`.
    """
    result = CliRunner().invoke(cli, list(args), input=stdin, env=env)
    return SimpleNamespace(
        returncode=result.exit_code,
        stdout=result.stdout,
        stderr=result.stderr,
        exception=result.exception,
    )


def start_baoling(*args: str, env: dict | None = None) -> subprocess.Popen[str]:
    """`baoling ARGS` started in a new process with its output piped, for a test that
    interrupts it: the child's stop signals are the defaults whatever runs the tests."""
    return subprocess.Popen(
        [sys.executable, "-m", "baoling.host_tools", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=default_stop_signals,
    )


def run_baoling(
    *args: str, stdin: str = "", env: dict | None = None
) -> subprocess.CompletedProcess[str]:
    """`baoling ARGS` as a person runs it: a new process through the console entry point."""
    return subprocess.run(
        [sys.executable, "-m", "baoling.host_tools", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
