"""The demo's steps: a simulated token, a verifier, provisioning between them, three checks.

Everything here is the real thing: the firmware under MicroPython behind a pseudo-terminal,
`baoling verifier serve` as a child process, and provisioning over the serial link and HTTP.
Each step says what it did and how long it took; every process started is stopped on the way
out, also on Ctrl-C, by the ExitStack.
"""

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from baoling.host_tools.sim_control import SCREEN_PBM, control_dir
from baoling.host_tools.simulator import Simulator
from baoling.host_tools.terminal_screen import screen_to_text
from baoling.host_tools.verifier_process import ServerProcess
from baoling.provisioning.enrol import VerifierClient
from baoling.provisioning.keystore import KeyStore
from baoling.provisioning.link import Link
from baoling.provisioning.profile import Profile
from baoling.provisioning.provision import provision
from baoling.provisioning.pskc_export import token_id
from baoling.provisioning.secrets import new_secret
from baoling.provisioning.token import Token
from baoling.verifier import Verifier

DEMO_ISSUER = "Baoling demo"
DEMO_LABEL = "alice"
SCREEN_TIMEOUT_S = 10.0


@dataclass
class DemoResult:
    """What the three checks answered, for the caller (and the test) to judge."""

    first: str
    replay: str
    wrong: str


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
    workdir: Path, echo: Callable[[str], None], *, keep_running: bool = False
) -> DemoResult:
    """Run every step in `workdir`; with keep_running, wait for Ctrl-C before cleaning up."""
    say = Narrator(echo)
    with contextlib.ExitStack() as stack:
        with say.step("Started a verifier: SQLite store and master key in " + str(workdir)):
            admin = Verifier(data_dir=workdir / "verifier")
            admin_key = admin.create_api_key("demo-admin", ["admin"])
            validate_key = admin.create_api_key("demo-login", ["validate"])
            admin.close()
            server = stack.enter_context(ServerProcess(["--data-dir", str(workdir / "verifier")]))
        say.say(f"  verifier HTTP API at {server.url}")

        with say.step("Started a simulated token: the real firmware under MicroPython"):
            sim = stack.enter_context(Simulator(workdir / "token"))
        say.say(f"  its serial port is {sim.port}")

        with say.step("Provisioned it: clock synced, secret written and proved, enrolled"):
            link = stack.enter_context(Link(sim.port))
            token = Token(link)
            profile = Profile(secret=new_secret("sha1"), label=DEMO_LABEL, issuer=DEMO_ISSUER)
            outcome = provision(
                token,
                profile,
                keys=KeyStore(workdir / "admin-keys.json"),
                registrars=[VerifierClient(server.url, admin_key)],
            )
        name = token_id(token.serial, outcome.entry.slot)
        say.say(
            f"  token {name}: clock off by {outcome.sync.offset_before_ms / 1000:+.1f} s "
            f"before the sync, {outcome.sync.offset_after_ms:+.1f} ms after"
        )

        shown = sim.wait_screen(lambda s: s["screen"] == "code", timeout=SCREEN_TIMEOUT_S)
        sim.screenshot(sim.png_path)
        echo(screen_to_text(control_dir(sim.state_dir) / SCREEN_PBM))
        say.say(
            f"The token shows {shown['code']} for {DEMO_LABEL}, "
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

        if keep_running:
            # Ctrl-C is how this mode ends: from the moment it is offered it stops the wait,
            # and the ExitStack below stops the token and the verifier.
            with contextlib.suppress(KeyboardInterrupt):
                echo(
                    f"\nStill running. Token port: {sim.port} (try `baoling token info "
                    f"--port {sim.port}`; the token's screen: {sim.png_path}).\n"
                    f"Verifier: {server.url} (validate key {validate_key}; "
                    f"admin key {admin_key}).\nPress Ctrl-C to stop."
                )
                while True:
                    time.sleep(1)
        link.close()
    say.say("Stopped the token and the verifier.")
    return result
