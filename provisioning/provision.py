"""Provisioning one slot of one token: info -> time sync -> [first device PIN] -> write -> prove
-> lock -> register.

Whatever can be checked before the token changes is checked first (the label line's bitmap
and whether the token can show it, slot, admin key, the registration targets). Registration
runs last and only after the prove step matched, so a failure at any step leaves nothing
registered for a secret the token may not hold. A registration that fails after the write
(a verifier gone since its check) says where the secret was registered so far and how to
finish or roll back.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from baoling.core.identity import token_id
from baoling.provisioning.entry import Entry
from baoling.provisioning.errors import (
    BadProfile,
    BaolingError,
    ProveMismatch,
    SlotOccupied,
    TokenError,
)
from baoling.provisioning.keystore import KeyStore
from baoling.provisioning.label_bitmap import LabelBitmap, label_line, needs_bitmap, render
from baoling.provisioning.profile import Profile
from baoling.provisioning.sync import SyncReport, sync_time
from baoling.provisioning.token import PIN_HOLD_S, HostClock, Token, check_pin, system_clock_ms


class Registrar(Protocol):
    """Somewhere a provisioned profile is registered: a verifier, a PSKC file, a URI."""

    def check(self, token_id: str) -> None:
        """Raise now if registering `token_id` is bound to fail."""

    def register(self, entry: Entry) -> None:
        """Register a profile the token proved it holds."""

    @property
    def where(self) -> str:
        """Where it registers, for a person: "the verifier at URL", "the PSKC file PATH"."""
        ...


@dataclass(frozen=True)
class Outcome:
    """What provisioning did; `admin_key` is set when this run locked the token."""

    entry: Entry
    sync: SyncReport
    locked: bool
    admin_key: bytes | None

    def as_json(self) -> dict:
        """For --json: everything but the secret and the admin key."""
        return {**self.entry.as_json(), "locked": self.locked, "sync": self.sync.as_json()}


def check_slot(token: Token, slot: int, *, force: bool) -> None:
    """Refuse a slot the token does not have, or one in use unless replacing is allowed."""
    slots = int(token.info.get("slots", 4))
    if not 0 <= slot < slots:
        raise BadProfile(f"Slot must be from 0 to {slots - 1}, not {slot}.")
    if slot not in token.occupied_slots():
        return
    if token.locked:
        raise SlotOccupied(
            f"Slot {slot} of the token on {token.port} is occupied and the token is locked: "
            "write to a free slot (`baoling token info` lists them).",
            "slot_occupied",
        )
    if not force:
        raise SlotOccupied(
            f"Slot {slot} of the token on {token.port} already holds a profile: add --force to "
            "replace it, or choose a free slot with --slot.",
            "slot_occupied",
        )


def label_bitmap_for(token: Token, profile: Profile) -> LabelBitmap | None:
    """The bitmap of the profile's label line, or None when the token's font draws it.

    Refused before the token changes: a line that does not fit, no font installed, or a token
    whose firmware predates label bitmaps (docs/protocol.md, Versions).
    """
    line = label_line(profile.label, profile.issuer)
    if not needs_bitmap(line):
        return None
    bitmap = render(line)
    if not token.shows_label_bitmaps:
        raise TokenError(
            f"The token on {token.port} runs firmware {token.info.get('firmware', '?')} "
            f"(protocol {token.info.get('protocol', 1)}), which shows ASCII labels only: update "
            f"it (`baoling token flash`) to show {line!r}, or use an ASCII label.",
            "old_protocol",
        )
    return bitmap


def check_first_pin(token: Token, pin: str) -> None:
    """Refuse a device PIN given with provisioning before the token changes: a PIN outside 4..8
    digits, firmware without PINs, a token that has a PIN (changing one needs the old PIN) or
    holds profiles (a first PIN needs an empty token, docs/protocol.md pin.set)."""
    check_pin(pin)
    token.check_pin_support()
    if token.has_pin:
        raise TokenError(
            f"The token on {token.port} already has a device PIN: provision without --pin "
            "(enter the PIN on the token first), or change it with `baoling token pin --change`.",
            "pin_set",
        )
    if token.occupied_slots():
        raise TokenError(
            f"The token on {token.port} already holds profiles, and a first device PIN needs a "
            "token without any: wipe it first (`baoling token wipe`), or provision without --pin.",
            "pin_refused",
        )


def provision(
    token: Token,
    profile: Profile,
    *,
    slot: int = 0,
    force: bool = False,
    lock: bool = False,
    keys: KeyStore,
    registrars: Sequence[Registrar] = (),
    clock: HostClock = system_clock_ms,
    on_button: Callable[[], None] = lambda: None,
    pin: str | None = None,
    pin_hold_s: int = PIN_HOLD_S,
) -> Outcome:
    """Put `profile` into `slot` of `token`, prove it landed, optionally lock, then register.

    With `pin`, the token first gets that device PIN (sent once, never kept here), which opens
    it for `pin_hold_s` seconds: long enough to write and prove the profile right after.
    """
    if pin is not None:
        check_first_pin(token, pin)
    bitmap = label_bitmap_for(token, profile)
    check_slot(token, slot, force=force)
    name = token_id(token.serial, slot)
    for registrar in registrars:
        registrar.check(name)
    admin_key = keys.get(token.serial) if token.locked else None
    report = sync_time(token, admin_key=admin_key, clock=clock, on_button=on_button)
    if pin is not None:
        token.set_pin(pin, None, pin_hold_s)
    token.write(slot, profile, bitmap)
    try:
        token.prove(slot, profile)
    except ProveMismatch as exc:
        raise ProveMismatch(
            f"{exc} Nothing was registered: provision it again, or wipe the token.", exc.code
        ) from None
    new_key = None
    if lock and not token.locked:
        new_key = keys.new_key(token.serial)
        token.lock(new_key)
        token.refresh()
    entry = Entry(token.serial, slot, profile, device_pin=token.has_pin)
    for done, registrar in enumerate(registrars):
        try:
            registrar.register(entry)
        except BaolingError as exc:
            raise type(exc)(_written_but(exc, entry, token.locked, registrars[:done])) from None
    return Outcome(entry, report, token.locked, new_key)


def _written_but(exc: BaolingError, entry: Entry, locked: bool, kept: Sequence[Registrar]) -> str:
    """A registration failed after the write: what the token holds, where it is recorded, and
    how to finish or roll back."""
    holds = f"Slot {entry.slot} of token {entry.serial}{' (locked)' if locked else ''}"
    if not kept:
        return (
            f"{exc} {holds} holds a new secret registered nowhere: roll back by wiping the "
            "token (`baoling token wipe`), or write the slot again."
        )
    places = " and ".join(registrar.where for registrar in kept)
    return (
        f"{exc} {holds} holds a new secret, registered only in {places}: finish by "
        "registering it from there (`baoling token export --keys FILE --uri` gives its URI), "
        "or roll back by wiping the token (`baoling token wipe`)."
    )
