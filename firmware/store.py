# The token's flash store: one file per slot plus one settings file (lock, admin key, drift).
# RAM holds one state byte per slot and the last profile read, never all of them: 32 profiles
# cost the heap what one does (docs/firmware-memory.md); a profile is read from flash, checked
# and decrypted again when the screen or a request moves to another slot.
#
# Each file is written whole to "<name>.new" and renamed over the old one, so a power cut
# leaves the old or the new file (littlefs renames atomically; POSIX too; FAT cannot rename
# over a file and is not supported). Each file carries an HMAC-SHA256 tag, so a damaged or
# edited file is detected and reported, never crashed on.
# Where the port has cryptolib the body is AES-256-CBC encrypted (encrypt-then-MAC). Both keys
# come from the board's public unique id: this hides secrets from a casual flash dump and
# nothing more (docs/threat-model.md). Secrets never leave this module: it computes codes and
# proofs itself, and no method returns a key.
# A profile whose label line is not ASCII has a second file, its label bitmap (labels.py, which
# reads and writes it with _save's atomic rule); it is removed before its profile is replaced.
import hashlib
import json
import os
from binascii import unhexlify

from micropython import const

import otp

SLOTS = const(32)
PIN_TRIES = const(10)  # wrong PINs in a row that wipe the token (pin.py)
_MAGIC = const(b"BLS1")
_PLAIN = const(0)  # file flag: body stored as is
_AES = const(1)  # file flag: body AES-256-CBC encrypted
_IV = const(16)
_TAG = const(32)
_HEAD = const(6)  # magic, flag byte, slot byte (binds a file to its slot)
_MODE_CBC = const(2)  # cryptolib.aes mode
_MAX_FILE = const(512)  # a profile file is about 320 bytes
_SETTINGS = const(-1)  # slot number of the settings file
_ENOENT = const(2)  # errno: no such file
LABEL = ".lbl"  # file name ending of a slot's label bitmap (labels.py)

_FREE = const(0)  # slot state bytes
_OK = const(1)
_BAD = const(2)  # the slot's file failed its check
_WIDE = const(4)  # flag: the slot's label line needs a bitmap (needs_label)
_SPACE = const(32)  # printable ASCII, the font's characters: " " to "~"
_TILDE = const(126)

_CORRUPT = const("corrupt")  # _read's answer for a file that failed its check


class StoreError(Exception):
    """Writing the store failed (flash full or failing); the old state is kept."""


class Store:
    """Profiles and settings in flash, with the secrets kept inside."""

    def __init__(self, folder, unique_id, encrypt=None):
        self.folder = "" if folder in ("", ".") else folder.rstrip("/") + "/"
        seed = b"\x00" + bytes(unique_id)
        self._enc_key = hashlib.sha256(b"baoling-store-enc-v1" + seed).digest()
        self._mac_key = hashlib.sha256(b"baoling-store-mac-v1" + seed).digest()
        if encrypt is None:  # encrypt where the port can
            try:
                import cryptolib  # noqa: F401

                encrypt = True
            except ImportError:
                encrypt = False
        self.encrypted = encrypt
        self._state = bytearray(SLOTS)
        # Slots that can show a code, in order; rebuilt when a state changes (do not change it)
        self.usable = []
        self._cached = -1  # the slot whose profile tuple is in _record
        self._record = None
        self._admin = None
        self.locked = False
        self.drift_ppb = 0
        self.synced_ms = None
        self.pin = None  # the device PIN's record (pin.py), None when the token has none
        self.sleep_s = None  # display idle time set by sleep.set; None: the board's own
        self._dk = None  # the data key that seals the secrets, in RAM only while unlocked
        self.settings_corrupt = False

    # --- reading ---------------------------------------------------------------------------

    def load(self):
        """Check every file; a file that fails its check is marked corrupt, never raised."""
        for slot in range(SLOTS):
            _forget(self._path(slot) + ".new")  # a write cut before its rename: the old stands
            self.record(slot)
        _forget(self._path(_SETTINGS) + ".new")
        record = self._read(_SETTINGS)
        if record is not None and record is not _CORRUPT:
            try:
                self.locked = record["lock"] is not False
                admin = record["adm"]
                self._admin = None if admin is None else unhexlify(admin)
                self.drift_ppb = int(record["ppb"])
                self.synced_ms = record["sync"]
                self.pin = record.get("pin")
                self.sleep_s = record.get("sl")
            except (KeyError, TypeError, ValueError):
                record = _CORRUPT
        if record is _CORRUPT:
            # Fail closed: a lost lock flag must not unlock the token; only wipe recovers.
            self.locked = True
            self._admin = None
        self.settings_corrupt = record is _CORRUPT
        if self.pin is not None and self.pin["f"] >= PIN_TRIES:
            self.wipe()  # a power cut during the wipe of pin.py: finish it before anything else

    def record(self, slot):
        """The slot's profile tuple (secret, algorithm, digits, period, label, issuer), or
        None when it is free or its file fails its check (the slot is then marked corrupt)."""
        if slot == self._cached:
            return self._record
        record = self._read(slot)
        if record is not None and record is not _CORRUPT:
            try:
                record = self._profile(record)
            except (KeyError, TypeError, ValueError):
                record = _CORRUPT
        if record is _CORRUPT:
            self._set(slot, _BAD, None)
            return None
        self._set(slot, _FREE if record is None else _OK, record)
        return record

    def _set(self, slot, state, record):
        """Note a slot's new state (and cache its record): the one place that changes them."""
        if record is not None and needs_label(record):
            state |= _WIDE
        self._state[slot] = state
        self._cached = slot
        self._record = record
        self.usable = [s for s in range(SLOTS) if self._state[s] & 3 == _OK]

    def corrupt(self):
        """Whether any file failed its check."""
        for state in self._state:
            if state & _BAD:
                return True
        return self.settings_corrupt

    def state(self):
        """empty, provisioned or locked (docs/protocol.md)."""
        if self.locked:
            return "locked"
        return "provisioned" if any(self._state) else "empty"

    def status(self, slot):
        """None (free), _CORRUPT, or "ok"."""
        state = self._state[slot] & 3
        return "ok" if state == _OK else None if state == _FREE else _CORRUPT

    def describe(self, slot):
        """The public part of a profile: everything but the secret."""
        entry = self.record(slot)
        if entry is None:
            return {"slot": slot, "corrupt": True}
        return {
            "slot": slot,
            "label": entry[4],
            "issuer": entry[5],
            "algorithm": entry[1],
            "digits": entry[2],
            "period": entry[3],
        }

    def profiles(self):
        """Public descriptions of the occupied slots, in slot order, one at a time: link.py
        writes each as it comes, so 32 of them are never in the heap at once."""
        for slot in range(SLOTS):
            if self._state[slot]:
                yield self.describe(slot)

    def free_slots(self):
        return [s for s in range(SLOTS) if not self._state[s]]

    def _profile(self, record):
        """Slot tuple: (secret, algorithm, digits, period, label, issuer); the secret is None
        while it is sealed under the PIN's data key and the token is not unlocked."""
        secret = unhexlify(record["k"])
        if record.get("e"):
            secret = self._dk and unseal(self._dk, secret)
        return (secret, record["a"], record["d"], record["p"], record["l"], record["i"])

    # --- using the secrets, inside ----------------------------------------------------------

    def code(self, slot, unix_s):
        """The TOTP code of a slot at unix_s (None when its file no longer checks)."""
        entry = self.record(slot)
        return entry and otp.totp(entry[0], unix_s, entry[3], entry[2], entry[1])

    def prove(self, slot, challenge):
        """HMAC under the slot's secret over the domain-separated challenge (never a counter);
        None when its file no longer checks."""
        entry = self.record(slot)
        return entry and otp.hmac_digest(entry[1], entry[0], b"baoling-prove-v1\x00" + challenge)

    def label(self, slot):
        """How display.py draws the slot's label line: None with the font, else its bitmap
        (rows, width, height) from labels.read, or () when it has no valid one."""
        if not self._state[slot] & _WIDE:
            return None
        import labels

        return labels.read(self, slot) or ()

    def admin_mac_ok(self, message, mac):
        """Whether mac is HMAC-SHA256(admin key, message); constant time in the mac's bytes."""
        if self._admin is None or len(mac) != _TAG:
            return False
        return same(otp.hmac_digest("sha256", self._admin, message), mac)

    # --- writing ----------------------------------------------------------------------------

    def write(self, slot, secret, algorithm, digits, period, label, issuer):
        """Store a profile atomically."""
        from binascii import hexlify

        self._drop_label(slot)  # first: a cut after it leaves no stale bitmap
        record = {
            "k": hexlify(secret).decode(),
            "a": algorithm,
            "d": digits,
            "p": period,
            "l": label,
            "i": issuer,
        }
        if self.pin is not None:  # sealed under the data key: unreadable without the PIN
            record["k"] = hexlify(_seal(self._dk, secret)).decode()
            record["e"] = 1
        self._write(slot, record)
        self._set(slot, _OK, (bytes(secret), algorithm, digits, period, label, issuer))

    def erase(self, slot):
        self._drop_label(slot)
        self._remove(self._path(slot))
        self._set(slot, _FREE, None)

    def set_lock(self, admin_key):
        self._save_settings(True, admin_key, self.drift_ppb, self.synced_ms, self.pin)
        self.locked = True
        self._admin = bytes(admin_key)

    def set_clock(self, drift_ppb, synced_ms):
        """Keep the drift correction and the last sync point across restarts."""
        self._save_settings(self.locked, self._admin, drift_ppb, synced_ms, self.pin)
        self.drift_ppb = drift_ppb
        self.synced_ms = synced_ms

    def set_pin(self, pin):
        """Store the device PIN's record (pin.py: salt, wrapped data key, check, length,
        failures, hold time) in the settings file, atomically with the rest of it."""
        self._save_settings(self.locked, self._admin, self.drift_ppb, self.synced_ms, pin)
        self.pin = pin

    def set_sleep(self, sleep_s):
        """Keep the display's idle time (seconds, 0: never off) across restarts."""
        old = self.sleep_s
        self.sleep_s = sleep_s
        try:
            self._save_settings(self.locked, self._admin, self.drift_ppb, self.synced_ms, self.pin)
        except StoreError:
            self.sleep_s = old
            raise

    def unlock(self, data_key):
        """A right PIN: the secrets can be read until lock_secrets()."""
        self._dk = data_key
        self._cached = -1

    def lock_secrets(self):
        """Forget the data key and the cached profile (the PIN's time is over)."""
        self._dk = None
        self._cached = -1
        self._record = None

    def unlocked(self):
        """Whether the secrets can be read: no PIN, or a right one entered."""
        return self.pin is None or self._dk is not None

    def wipe(self):
        """Erase every profile, the admin key, the lock and the drift correction."""
        for slot in range(SLOTS):
            if self._state[slot]:
                self.erase(slot)
        self._remove(self._path(_SETTINGS))
        self.locked = False
        self._admin = None
        self.drift_ppb = 0
        self.synced_ms = None
        self.pin = None
        self._dk = None
        self.sleep_s = None
        self.settings_corrupt = False

    def _save_settings(self, locked, admin, drift_ppb, synced_ms, pin):
        from binascii import hexlify

        record = {
            "lock": locked,
            "adm": None if admin is None else hexlify(admin).decode(),
            "ppb": drift_ppb,
            "sync": synced_ms,
            "pin": pin,
            "sl": self.sleep_s,
        }
        self._write(_SETTINGS, record)
        self.settings_corrupt = False

    # --- files ------------------------------------------------------------------------------

    def _path(self, slot, end=".dat"):
        return self.folder + ("blset" if slot == _SETTINGS else "bl%d" % slot) + end

    def _write(self, slot, record):
        """The file of a record, built in one buffer and encrypted in place: no copies of it."""
        body = json.dumps(record).encode()
        size = len(body)
        end = _HEAD + _IV + size
        if self.encrypted:
            end += 16 - size % 16
        data = bytearray(end)
        data[:4] = _MAGIC
        data[4] = _AES if self.encrypted else _PLAIN
        data[5] = slot & 0xFF
        data[_HEAD : _HEAD + _IV] = os.urandom(_IV)
        data[_HEAD + _IV : _HEAD + _IV + size] = body
        if self.encrypted:
            import cryptolib

            view = memoryview(data)
            for i in range(_HEAD + _IV + size, end):
                data[i] = end - _HEAD - _IV - size  # PKCS#7 padding
            aes = cryptolib.aes(self._enc_key, _MODE_CBC, view[_HEAD : _HEAD + _IV])
            aes.encrypt(view[_HEAD + _IV :], view[_HEAD + _IV :])
        self._save(self._path(slot), data)

    def _save(self, path, data):
        """Write data and its tag to path + ".new", then rename it over path: old or new after
        a cut. The tag is written after data, not appended to it: no copy of the file in RAM."""
        tag = otp.hmac_digest("sha256", self._mac_key, data)
        new = path + ".new"
        try:
            with open(new, "wb") as f:
                f.write(data)
                f.write(tag)
            os.rename(new, path)  # replaces the old file atomically (littlefs, POSIX)
        except OSError:
            _forget(new)
            raise StoreError("could not write the store")

    def _drop_label(self, slot):
        """Remove the slot's label bitmap file. Only a slot whose line is not ASCII (or that is
        corrupt) can have one: others are skipped, sparing a failed remove's heap on writes."""
        if self._state[slot] & (_WIDE | _BAD):
            self._remove(self._path(slot, LABEL))

    def _remove(self, path):
        _forget(path + ".new")
        try:
            os.remove(path)
        except OSError as exc:
            if exc.errno != _ENOENT:
                raise StoreError("could not erase the store")

    def _read(self, slot):
        """The record of a file, None when absent, _CORRUPT when it fails a check. The file is
        read into one buffer and looked at through memoryviews, which copy nothing."""
        buf = bytearray(_MAX_FILE)
        try:
            with open(self._path(slot), "rb") as f:
                n = f.readinto(buf)
        except OSError as exc:
            return None if exc.errno == _ENOENT else _CORRUPT
        data = memoryview(buf)[:n]
        if n == _MAX_FILE or n < _HEAD + _IV + _TAG or data[:4] != _MAGIC:
            return _CORRUPT
        if data[5] != slot & 0xFF:
            return _CORRUPT  # a valid file copied to another slot's name
        if not same(otp.hmac_digest("sha256", self._mac_key, data[:-_TAG]), data[-_TAG:]):
            return _CORRUPT
        flag = data[4]
        body = data[_HEAD + _IV : -_TAG]
        if flag == _AES:
            if len(body) % 16:
                return _CORRUPT
            try:
                import cryptolib
            except ImportError:  # a port without it cannot read an encrypted file
                return _CORRUPT

            iv = data[_HEAD : _HEAD + _IV]
            body = cryptolib.aes(self._enc_key, _MODE_CBC, iv).decrypt(body)
            pad = body[-1]
            if not 1 <= pad <= 16:
                return _CORRUPT
            body = body[:-pad]
        elif flag != _PLAIN:
            return _CORRUPT
        try:
            record = json.loads(body)
        except ValueError:
            return _CORRUPT
        # the tag proves this firmware wrote the record; the type check guards a future format
        return record if type(record) is dict else _CORRUPT


def needs_label(entry):
    """Whether a profile's label line needs a bitmap: its label or issuer has a character
    besides printable ASCII, all the display's 8x8 font can draw. It looks at bytes: a
    character taken out of a str is interned for good (docs/firmware-memory.md)."""
    for text in (entry[4], entry[5]):
        for c in text.encode():  # any byte of a non-ASCII character is 128 or more
            if not _SPACE <= c <= _TILDE:
                return True
    return False


def _seal(key, data):
    """AES-256-CBC of data under key with a fresh IV and PKCS#7 padding: IV + ciphertext."""
    import cryptolib

    iv = os.urandom(_IV)
    pad = 16 - len(data) % 16
    return iv + cryptolib.aes(key, _MODE_CBC, iv).encrypt(bytes(data) + bytes((pad,)) * pad)


def unseal(key, data):
    """The data _seal sealed, or None when the padding does not check (a wrong key)."""
    import cryptolib

    if len(data) < 2 * _IV or len(data) % 16:
        return None
    data = cryptolib.aes(key, _MODE_CBC, data[:_IV]).decrypt(data[_IV:])
    pad = data[-1]
    if not 1 <= pad <= 16 or data[-pad:] != bytes((pad,)) * pad:
        return None
    return data[:-pad]


def same(a, b):
    """Compare two byte strings in time that depends only on their length (labels.py too)."""
    if len(a) != len(b):
        return False
    diff = 0
    for i in range(len(a)):
        diff |= a[i] ^ b[i]
    return diff == 0


def _forget(path):
    try:
        os.remove(path)
    except OSError:
        pass
