"""The demo's steps: a simulated token, a verifier, provisioning between them, three checks.

Everything here is the real thing: the firmware under MicroPython behind a pseudo-terminal,
`baoling verifier serve` as a child process, and provisioning over the serial link and HTTP.
Each step says what it did and how long it took; every process started is stopped on the way
out by the ExitStack, also when a stop signal (Ctrl-C, SIGTERM) ends the steps.
"""

import contextlib
import json
import os
import shlex
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import httpx

from baoling.core.identity import token_id
from baoling.host_tools.sim_control import SCREEN_PBM, control_dir
from baoling.host_tools.simulator import Simulator
from baoling.host_tools.terminal_screen import screen_to_text
from baoling.host_tools.verifier_process import ServerProcess
from baoling.provisioning.enrol import VerifierClient
from baoling.provisioning.keystore import KeyStore
from baoling.provisioning.link import Link
from baoling.provisioning.profile import Profile
from baoling.provisioning.provision import provision
from baoling.provisioning.secrets import new_secret
from baoling.provisioning.sync import SyncReport
from baoling.provisioning.token import Token
from baoling.verifier import Verifier

# The code screen's top line shows "issuer:label" in 16 characters (128 px, 8 px a character).
DEMO_ISSUER = "Baoling"
DEMO_LABEL = "alice"
SCREEN_TIMEOUT_S = 10.0
CLOCK_FINDING_S = 1.0  # a clock off by less before the sync is not worth a word
FOLLOW_EVERY_S = 0.2  # how often --keep-running looks for a new code on the screen


@dataclass
class DemoResult:
    """What the three checks answered, for the caller (and the test) to judge."""

    first: str
    replay: str
    wrong: str


@dataclass
class Running:
    """What the steps leave running, for --keep-running to describe and follow."""

    workdir: Path
    token: str  # its token id, serial-slot
    sim: Simulator
    url: str
    validate_key: str
    code: str  # the last code it showed
    result: DemoResult

    @property
    def data_dir(self) -> Path:
        """The verifier's own folder (its store and master key), not the demo's."""
        return self.workdir / "verifier"


class Narrator:
    """Prints each step in plain words with the seconds since the demo started."""

    def __init__(self, echo: Callable[[str], None]) -> None:
        self.echo = echo
        self.started = time.monotonic()

    def say(self, text: str) -> None:
        self.echo(f"[{time.monotonic() - self.started:5.1f} s] {text}")

    @contextlib.contextmanager
    def step(self, doing: str) -> Iterator[None]:
        began = time.monotonic()
        yield
        self.say(f"{doing} ({time.monotonic() - began:.1f} s)")


def validate(url: str, key: str, token: str, code: str) -> str:
    """Ask the verifier over HTTP, as a VPN or web login would; returns accept or reject."""
    answer = httpx.post(
        f"{url}/v1/validate",
        json={"token": token, "code": code},
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    answer.raise_for_status()
    return answer.json()["result"]


def wrong_code(code: str) -> str:
    """A code of the same length that differs from `code` in every digit."""
    return "".join(str((int(digit) + 5) % 10) for digit in code)


def run_demo(
    workdir: Path,
    echo: Callable[[str], None],
    *,
    keep_running: bool = False,
    interruptible: Callable[[], AbstractContextManager[None]] = contextlib.nullcontext,
) -> DemoResult | None:
    """Run every step in `workdir`; with keep_running, wait for a stop signal after them.

    The steps run inside `interruptible()`, where a stop signal (KeyboardInterrupt) ends them;
    the clean-up below it stops every process. Returns None when stopped before the checks.
    """
    say = Narrator(echo)
    result = None
    with contextlib.ExitStack() as stack:
        try:
            with interruptible():
                running = _steps(workdir, say, stack)
                result = running.result
                if keep_running:
                    stay_up(running, say)
        except KeyboardInterrupt:
            say.say("Asked to stop.")
    say.say("Stopped the token and the verifier.")
    return result


def _steps(workdir: Path, say: Narrator, stack: contextlib.ExitStack) -> Running:
    """The demo's steps; every process they start is entered into `stack`."""
    data_dir = workdir / "verifier"
    with say.step("Started a verifier"):
        admin = Verifier(data_dir=data_dir)
        admin_key = admin.create_api_key("demo-admin", ["admin"])
        validate_key = admin.create_api_key("demo-login", ["validate"])
        admin.close()
        server = stack.enter_context(ServerProcess(["--data-dir", str(data_dir)]))
    say.say(f"  HTTP API at {server.url}; SQLite store and master key in {data_dir}")

    with say.step("Started a simulated token: the real firmware under MicroPython"):
        sim = stack.enter_context(Simulator(workdir / "token"))
    say.say(f"  its serial port is {sim.port}")

    with (
        say.step("Provisioned it: clock synced, secret written and proved, enrolled"),
        Link(sim.port) as link,  # closed after this step: the port is free for other commands
    ):
        token = Token(link)
        profile = Profile(secret=new_secret("sha1"), label=DEMO_LABEL, issuer=DEMO_ISSUER)
        outcome = provision(
            token,
            profile,
            keys=KeyStore(workdir / "admin-keys.json"),
            registrars=[VerifierClient(server.url, admin_key)],
        )
    name = token_id(token.serial, outcome.entry.slot)
    say.say(f"  token id {name}; {clock_finding(outcome.sync)}")

    shown = sim.wait_screen(lambda s: s["screen"] == "code", timeout=SCREEN_TIMEOUT_S)
    sim.screenshot(sim.png_path)
    say.echo(screen_to_text(control_dir(sim.state_dir) / SCREEN_PBM))
    say.say(
        f"The token shows {shown['code']} for {shown['label']}, "
        f"{shown['seconds_left']} s left; picture: {sim.png_path}"
    )

    code = shown["code"]
    result = DemoResult(
        first=validate(server.url, validate_key, name, code),
        replay=validate(server.url, validate_key, name, code),
        wrong=validate(server.url, validate_key, name, wrong_code(code)),
    )
    say.say(f"Checked the code on screen over HTTP: {result.first}")
    say.say(f"Checked the same code again: {result.replay} (replay protection)")
    say.say(f"Checked a wrong code: {result.wrong}")
    return Running(workdir, name, sim, server.url, validate_key, code, result)


def stay_up(running: Running, say: Narrator) -> None:
    """Say how to try the token and the verifier, then each new code, until a stop signal."""
    header = write_key_header(running.workdir / "validate-key.header", running.validate_key)
    say.echo(try_commands(running, header))
    code = running.code
    while True:
        time.sleep(FOLLOW_EVERY_S)
        shown = running.sim.screen()
        if shown.get("screen") == "code" and shown.get("code") != code:
            code = shown["code"]
            say.say(f"The token shows {code}, {shown['seconds_left']} s left")


def clock_finding(sync: SyncReport) -> str:
    """What the sync did, in words; the offset before it only when it was big enough to matter
    (CLOCK_FINDING_S: the simulator's clock is this computer's, off by no more than a round
    trip)."""
    text = f"its clock set to within {abs(sync.offset_after_ms):.1f} ms of this computer's"
    before_s = sync.offset_before_ms / 1000
    if abs(before_s) >= CLOCK_FINDING_S:
        text += f" (it was {before_s:+.1f} s off)"
    return text


def baoling_command() -> str:
    """How to run this very `baoling` from any shell: the full path of its executable, or this
    Python with -m when started so, so that no virtual environment needs activating."""
    started_as = Path(sys.argv[0])
    if started_as.name == "baoling" and started_as.is_file():
        return shlex.quote(str(started_as.absolute()))
    return f"{shlex.quote(sys.executable)} -m baoling.host_tools"


def write_key_header(path: Path, key: str) -> Path:
    """The validate key as a header file for `curl -H @FILE`, readable by its owner only: the
    key is not printed. A file left by an earlier run (--data-dir) is replaced, mode and all."""
    path.unlink(missing_ok=True)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
        file.write(f"Authorization: Bearer {key}\n")
    return path


def try_commands(running: Running, header: Path) -> str:
    """What to type in another shell while the demo keeps running; each works as printed."""
    baoling = baoling_command()
    name, port = running.token, running.sim.port
    body = json.dumps({"token": name, "code": "CODE"})
    lines = [
        f"\nStill running: token {name} on {port}, verifier at {running.url}.",
        "Try these in another shell (CODE: the code the token shows, printed below as it changes):",
        f"  {baoling} sim screen --state {shlex.quote(str(running.sim.state_dir))}",
        f"  {baoling} token info --port {shlex.quote(port)}",
        f"  {baoling} verifier --data-dir {shlex.quote(str(running.data_dir))} show {name}",
        f"  curl -sS -H @{shlex.quote(str(header))} -H 'Content-Type: application/json' "
        f"-d {shlex.quote(body)} {running.url}/v1/validate",
        "Press Ctrl-C to stop.",
    ]
    return "\n".join(lines)
