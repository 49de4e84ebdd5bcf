# The token's state machine: what each protocol operation does in each state (empty,
# provisioned, locked), and which operations wait for the button (Confirm). The operations that
# only provisioning uses are in clockset.py and admin.py, each loaded for its request and
# dropped after it. No I/O of its own: app.py feeds it requests, waits for the press a Confirm
# asks for, and shows what changed.
import gc
import time
from binascii import hexlify

from micropython import const

from protocol import MAX_LINE, VERSION, Refused, hexbytes, integer, only, usable
from store import PIN_TRIES, SLOTS

_FIRMWARE = const("0.3.0")  # provisioning/flash.py reads it here to confirm a flash
_NONCE = const(16)  # nonce bytes
_NONCE_MS = const(60000)  # a nonce expires after this
_CHALLENGE_MIN = const(16)
_CHALLENGE_MAX = const(64)
_OPS = const(("info", "time.get", "time.nonce", "profile.label", "profile.prove"))
# clockset.py's and admin.py's, each a function named as the op with "_" for "."
_CLOCK_OPS = const(("time.set", "drift.set"))
_ADMIN_OPS = const(("profile.write", "profile.erase", "lock", "wipe", "pin.set", "sleep.set"))


class Confirm:
    """An operation that runs only after a long press within timeout_s (wipe, big clock jump)."""

    def __init__(self, dev, kind, timeout_s, action, value):
        self.dev = dev
        self.kind = kind  # "wipe" or "time": which screen asks for the press
        self.timeout_s = timeout_s
        self.started = time.ticks_ms()
        self.pressed = False
        self.action = action
        self.value = value

    def run(self):
        """Carry the operation out: the press came."""
        return self.action(self.dev, self.value, time.ticks_diff(time.ticks_ms(), self.started))


class Device:
    """Carries out protocol operations on the store and the clock."""

    def __init__(self, hw, store, clock):
        self.hw = hw
        self.store = store
        self.clock = clock
        self.nonce = None  # (nonce, ticks_ms made) of the last time.nonce, until used
        self.nonce_ms = _NONCE_MS
        self.started = time.ticks_ms()
        self.changed = True  # something the screen shows changed (main redraws)
        self.hold_until = 0  # ticks_ms until which a right PIN keeps the secrets open
        self.flash = None  # a status to show briefly after an operation: "locked", "wiped"

    def handle(self, op, args):
        """Return a result dict or a Confirm, or raise Refused (or store.StoreError).
        Operation "a.b" is method _a_b here, or function a_b of clockset.py or admin.py; only
        the names in _OPS, _CLOCK_OPS and _ADMIN_OPS are reachable."""
        name = op.replace(".", "_")
        if op in _CLOCK_OPS or op in _ADMIN_OPS:
            gc.collect()  # the module's code then lands in the freed runs (firmware-memory.md)
            ops = __import__("clockset" if op in _CLOCK_OPS else "admin")
            return getattr(ops, name)(self, args)
        if op not in _OPS:
            raise Refused("unknown_op", "unknown op: " + op[:32])
        return getattr(self, "_" + name)(args)

    # --- operations -------------------------------------------------------------------------

    def _info(self, args):
        only(args, ())
        store = self.store
        return {
            "firmware": _FIRMWARE,
            "protocol": VERSION,
            "board": self.hw.name,
            "serial": hexlify(self.hw.unique_id()).decode(),
            "state": store.state(),
            "clock_trusted": self.clock.trusted(),
            "time_ms": self.clock.now_ms(),
            "uptime_ms": time.ticks_diff(time.ticks_ms(), self.started),
            "slots": SLOTS,
            "free_slots": store.free_slots(),
            "profiles": store.profiles(),
            "store": "corrupt" if store.corrupt() else "ok",
            "encrypted": store.encrypted,
            "max_line": MAX_LINE,
            "pin": store.pin is not None,
            "pin_tries_left": PIN_TRIES - store.pin["f"] if store.pin else None,
            "sleep_s": self.sleep_s(),
        }

    def _time_get(self, args):
        only(args, ())
        return self.clock.describe()

    def _time_nonce(self, args):
        import os

        only(args, ())
        self.nonce = (os.urandom(_NONCE), time.ticks_ms())
        return {"nonce": hexlify(self.nonce[0]).decode()}

    def _profile_label(self, args):
        import labels

        result = labels.write(self.store, self._slot(args), args)
        self.changed = True
        return result

    def _profile_prove(self, args):
        only(args, ("slot", "challenge"))
        slot = self._slot(args)
        challenge = hexbytes(args, "challenge", _CHALLENGE_MIN, _CHALLENGE_MAX)
        store = self.store
        usable(store.status(slot), slot)
        self._needs_pin()
        mac = store.prove(slot, challenge)
        usable(store.status(slot), slot)  # None: its file failed its check just now
        return {"mac": hexlify(mac).decode()}

    def wiped(self):
        """After the store was wiped (here, or by the last wrong PIN): the rest forgets too."""
        self.clock.drift_ppb = 0
        self.clock.synced_ms = None
        self.nonce = None
        self.changed = True
        self.flash = "wiped"
        return {"state": "empty"}

    def sleep_s(self):
        """Seconds without a press or a request before the display turns off (0: never): the
        one sleep.set stored, else the board's own."""
        sleep_s = self.store.sleep_s
        return getattr(self.hw, "sleep_s", 0) if sleep_s is None else sleep_s

    def opened(self, hold_s):
        """A right PIN (or a new one): the secrets stay open for hold_s."""
        self.hold_until = time.ticks_add(time.ticks_ms(), hold_s * 1000)
        self.changed = True

    # --- helpers ----------------------------------------------------------------------------

    def _needs_pin(self):
        if not self.store.unlocked():
            raise Refused("pin_required", "enter the PIN on the token first")

    def _slot(self, args):
        return integer(args, "slot", 0, SLOTS - 1)
