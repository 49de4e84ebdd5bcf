# Board description: the simulator. The same firmware runs on the MicroPython unix port with
# its working folder as the device filesystem; the host launcher (host_tools/simulator.py)
# drives the "hardware" through small files in .sim/ (docs/simulator.md):
#   .sim/button       exists while the button is held
#   .sim/button_seen  how many reads saw it held (1, 2, then no more writes), "0" once two
#                     reads saw it released (the debounce): the host times presses by what the
#                     firmware saw
#   .sim/buttons      "2" at start: the board has a second button, .sim/button2 and
#                     .sim/button2_seen as above; absent: one button
#   .sim/clock.json   {"offset_ms", "drift_ppm", "advanced_ms", "battery", "usb"}: host's knobs
#                     ("usb": false runs the board off USB power, where doze() light-sleeps)
#   .sim/sleeps.json  {"sleeps": n, "slept_ms": ms} of this boot's light sleeps (doze)
#   .sim/clock_base.json  the running clock's last setting, [device_ms, host_ms, offset_ms];
#                     rewritten by the host at power-up
#   .sim/rtc.json     the battery-backed RTC, [device_ms, host_ms] (erased by the host at
#                     power-up without battery)
#   .sim/unique_id    8 random bytes, made once: the board's serial number
#   .sim/screen.pbm   the frame buffer after each show() (MONO_HLSB rows are PBM P4 data)
#   .sim/screen.json  the last published screen description
#   .sim/heap_probe   if present at start: sample the live heap (gc.mem_alloc() after
#                     gc.collect()) at every clock read and screen update; the highest
#                     sample goes to .sim/heap.json {"peak": bytes, "samples": n so far}
# Files are replaced with write-then-rename, so the other side never reads half a file.
#
# Clock: device_ms = base_device_ms + (host_ms + advanced_ms - base_host_ms) * (1 + ppm/1e6)
#                    + (offset_ms - base_offset_ms)
# so turning the offset knob moves the clock by the change, and set_now_ms() rebases.

import gc
import json
import os
import time

import framebuf
from micropython import const

_WIDTH = const(128)
_HEIGHT = const(64)
_BUF_BYTES = const(1024)  # _WIDTH * _HEIGHT // 8
_CHUNK = const(64)  # blank rows are written in chunks of this many bytes
_HEAP_EVERY = const(50)  # heap.json is rewritten when the peak rises and every so many samples

_DIR = const(".sim")
_BUTTON = const(".sim/button")
_BUTTONS = const(".sim/buttons")
_BUTTON2 = const(".sim/button2")
_SLEEPS = const(".sim/sleeps.json")
_DOZE_STEP_MS = const(20)  # how often a light sleep looks for a press
_SEEN_REPORTS = const(2)  # reads reported while held: enough for a debounced press
_CLOCK = const(".sim/clock.json")
_BASE = const(".sim/clock_base.json")
_RTC = const(".sim/rtc.json")
_UID = const(".sim/unique_id")
_PBM = const(".sim/screen.pbm")
_DESC = const(".sim/screen.json")
_PROBE = const(".sim/heap_probe")
_HEAP = const(".sim/heap.json")
_HEAP_JSON = const('{"peak": %d, "samples": %d}')
_SLEEPS_JSON = const('{"sleeps": %d, "slept_ms": %d}')
_PBM_HEADER = const(b"P4\n128 64\n")


def _replace(path, data, end=None):
    # Write a new file (data, then end if given), then rename it over the old one (atomic on
    # POSIX). ".new" as the store's: one interned name less.
    tmp = path + ".new"
    with open(tmp, "wb") as f:
        f.write(data)
        if end is not None:
            f.write(end)
    os.rename(tmp, path)


def _load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _host_ms(knobs):
    return time.time_ns() // 1000000 + knobs.get("advanced_ms", 0)


def _scaled(ms, knobs):
    return ms + int(ms * knobs.get("drift_ppm", 0) / 1000000)


def _knobs():
    return _load(_CLOCK) or {}


# The heap probe's [peak, samples] while .sim/heap_probe exists at start, else None. Plain
# module state and JSON written from a format: every name the sim board adds is a qstr that
# stays in the token's heap (docs/firmware-memory.md).
_probe = None


def sample():
    # The highest live heap seen at the board's calls: a lower bound of the true peak, since
    # nothing is sampled inside a request that does not read the clock.
    if _probe is None:
        return
    gc.collect()
    used = gc.mem_alloc()
    _probe[1] += 1
    if used > _probe[0] or _probe[1] % _HEAP_EVERY == 0:
        _probe[0] = max(used, _probe[0])
        _replace(_HEAP, _HEAP_JSON % (_probe[0], _probe[1]))


class Display(framebuf.FrameBuffer):
    # A 128x64 mono frame buffer whose show() writes the picture for the host.

    def __init__(self):
        self.buffer = bytearray(_BUF_BYTES)
        super().__init__(self.buffer, _WIDTH, _HEIGHT, framebuf.MONO_HLSB)
        self.on = True

    def show(self):
        sample()
        if self.on:
            _replace(_PBM, _PBM_HEADER, self.buffer)
            return
        tmp = _PBM + ".new"
        with open(tmp, "wb") as f:
            f.write(_PBM_HEADER)
            blank = bytes(_CHUNK)
            for _ in range(_BUF_BYTES // _CHUNK):
                f.write(blank)
        os.rename(tmp, _PBM)

    def poweroff(self):
        self.on = False
        self.show()

    def poweron(self):
        self.on = True
        self.show()


class Button:
    # Held while the host keeps its file (.sim/button) in place; reports what it saw (above).

    def __init__(self, path=_BUTTON):
        self._path = path
        self._held = 0  # reads that saw it held; -1: one read saw the release

    def value(self):
        try:
            os.stat(self._path)
        except OSError:
            if self._held > 0:
                self._held = -1  # the firmware's debounce needs a second read of the release
            elif self._held:
                self._held = 0
                _replace(self._path + "_seen", b"0")
            return 0
        if self._held < _SEEN_REPORTS:
            self._held = max(self._held, 0) + 1
            _replace(self._path + "_seen", b"%d" % self._held)
        return 1


class RTC:
    # A DS3231 stand-in: runs at the board's drift, forgotten at power-up without battery.

    def read_ms(self):
        saved = _load(_RTC)
        if saved is None:
            return None
        knobs = _knobs()
        return saved[0] + _scaled(_host_ms(knobs) - saved[1], knobs)

    def write_ms(self, ms):
        knobs = _knobs()
        _replace(_RTC, json.dumps([ms, _host_ms(knobs)]))


class Board:
    name = "sim"
    storage_dir = "."

    def __init__(self):
        global _probe
        try:
            os.mkdir(_DIR)
        except OSError:
            pass
        try:
            os.stat(_PROBE)
            _probe = [0, 0]
        except OSError:
            pass
        self.display = Display()
        self.button = Button()
        self.button2 = Button(_BUTTON2) if _load(_BUTTONS) == 2 else None
        self.rtc = RTC()
        self.sleeps = 0
        self.slept_ms = 0
        self._base = _load(_BASE) or [_host_ms({}), _host_ms({}), 0]

    def unique_id(self):
        try:
            with open(_UID, "rb") as f:
                return f.read()
        except OSError:
            uid = os.urandom(8)
            _replace(_UID, uid)
            return uid

    def now_ms(self):
        sample()
        knobs = _knobs()
        device_ms, host_ms, offset_ms = self._base
        elapsed = _scaled(_host_ms(knobs) - host_ms, knobs)
        return device_ms + elapsed + knobs.get("offset_ms", 0) - offset_ms

    def set_now_ms(self, ms):
        knobs = _knobs()
        self._base = [ms, _host_ms(knobs), knobs.get("offset_ms", 0)]
        _replace(_BASE, json.dumps(self._base))

    def publish(self, description):
        sample()
        _replace(_DESC, json.dumps(description))

    def doze(self, ms):
        # machineboard's light sleep, simulated: only off USB power (knob "usb": false), up to
        # ms or until a button is held (a pin interrupt wakes a board); counted for the host.
        # The clock is the host's, so it keeps counting as a board's RTC does.
        if _knobs().get("usb", True):
            return False
        start = time.ticks_ms()
        while time.ticks_diff(time.ticks_ms(), start) < ms and not self._held():
            time.sleep_ms(_DOZE_STEP_MS)
        self.sleeps += 1
        self.slept_ms += time.ticks_diff(time.ticks_ms(), start)
        _replace(_SLEEPS, _SLEEPS_JSON % (self.sleeps, self.slept_ms))
        return True

    def _held(self):
        for path in (_BUTTON, _BUTTON2):
            try:
                os.stat(path)
                return True
            except OSError:
                pass
        return False


def make():
    return Board()
