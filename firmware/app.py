# The running token (main.py starts it): boot (board, store, clock), then one loop forever that
# answers the serial link (docs/protocol.md), samples the button every 20 ms and redraws the
# display at period boundaries and once a second for the countdown. It sleeps in select.poll()
# between samples: no busy wait, and no asyncio (its tasks cost heap a 64 KB port lacks).
# Before the production lock Ctrl-C ends main so `micropython -i` and mpremote reach the
# REPL; after lock main never exits.
import sys
import time

import micropython
from micropython import const

from buttons import LONG, SHORT, Button
from clock import Clock
from device import Confirm, Device
from link import TOO_LONG, Lines, Port
from protocol import Refused, answer, parse, refusal
from store import Store, StoreError

_BUTTON_MS = const(20)  # button sample interval, and the longest sleep of the loop
_FRAME_MS = const(100)  # longest wait between display checks
_FLASH_MS = const(2000)  # how long "locked"/"wiped" stays on screen
_RESTART_MS = const(1000)  # pause before the loop restarts after an unexpected fault
_CTRL_C = const(3)
_TAKE = const(3)  # a short press of the second button: what a long press does, but no confirm
_NO_INTR = const(-1)
# Modules loaded for one request or one code and dropped after it (their RAM is free between
# uses, docs/firmware-memory.md): the provisioning operations, the PIN, the menu's drawing,
# the hash fallbacks.
_TRANSIENT = const(("admin", "clockset", "pin", "menu", "sha1", "sha256", "sha512", "mdhash"))


class Screen:
    """Decides what the display shows and redraws only when that changes."""

    def __init__(self, hw, dev, store, clock):
        from display import Display

        self.hw = hw
        self.dev = dev
        self.store = store
        self.clock = clock
        self.display = Display(hw.display)
        self._idle_since = time.ticks_ms()
        self.awake = True
        self.slot = 0
        self.menu = -1  # the menu's cursor (an index into store.usable), -1 while closed
        self.entry = ""  # PIN digits entered so far
        self.digit = 0  # the PIN digit being chosen
        self.pending = None  # a Confirm waiting for the button
        self.key = None
        self._left = -1
        self.flash = None  # (kind, ticks_ms shown from): a status shown for _FLASH_MS

    def touch(self):
        """Something happened (press, request): wake the display and restart the idle timer."""
        self._idle_since = time.ticks_ms()
        if not self.awake:
            self.awake = True
            self.hw.display.poweron()
            self.key = None

    def long_press(self):
        """On the code screen a long press opens the menu at the profile shown; in the menu it
        shows the profile under the cursor; on the PIN screen it takes the digit. The PIN screen
        is up while the secrets are closed (also with no profile yet: the PIN opens the token
        for writing them)."""
        if not self.store.unlocked():
            self._take_digit()
            return
        usable = self.store.usable
        if self.menu >= 0:
            if self.menu < len(usable):
                self.slot = usable[self.menu]
            self.menu = -1
        elif self.slot in usable and self.status() is None:
            self.menu = usable.index(self.slot)
        self.key = None

    def short_press(self):
        """Next profile on the code screen, next label in the menu (round), next digit on the
        PIN screen (9 is followed by 0)."""
        usable = self.store.usable
        if not self.store.unlocked():
            self.digit = (self.digit + 1) % 10
        elif self.menu >= 0:
            self.menu = (self.menu + 1) % len(usable) if usable else -1
        elif usable:
            later = [s for s in usable if s > self.slot]
            self.slot = later[0] if later else usable[0]
        self.key = None

    def update(self):
        """Redraw what changed; called often, draws rarely."""
        dev = self.dev
        if dev.flash:
            self.flash = (dev.flash, time.ticks_ms())
            dev.flash = None
        if dev.changed:
            dev.changed = False
            self.key = None
        if self.pending is not None:
            self.touch()
        store = self.store
        if store.pin is not None and store.unlocked():
            if time.ticks_diff(time.ticks_ms(), dev.hold_until) >= 0:
                store.lock_secrets()  # the PIN's time is over: codes hidden until the next
                self.menu = -1
                self.key = None
        if not self.awake:
            return
        sleep_ms = dev.sleep_s() * 1000  # 0: never off
        if sleep_ms and time.ticks_diff(time.ticks_ms(), self._idle_since) > sleep_ms:
            self.awake = False
            self.hw.display.poweroff()
            return
        status = self.status()
        display = self.display
        if status is not None:
            if status != self.key:
                self.key = status
                display.show_status(status[0], status[1])
                self.hw.publish(display.description)
            return
        store = self.store
        usable = store.usable
        if self.slot not in usable:
            self.slot = usable[0]
        if self.menu >= 0:
            self._show_menu(usable)
            return
        slot = self.slot
        now_s = self.clock.now_ms() // 1000
        profile = store.describe(slot)
        period = profile["period"]
        left = period - now_s % period
        key = (slot, now_s // period)
        if key != self.key:
            self.key = key
            self._left = left
            display.show_code(
                store.code(slot, now_s),
                _line(profile),
                left,
                period,
                usable.index(slot),
                len(usable),
                store.label(slot),
            )
            self.hw.publish(display.description)
        elif left != self._left:
            self._left = left
            display.tick(left, period)
            self.hw.publish(display.description)

    def _take_digit(self):
        """Add the digit chosen; with the PIN's length reached, check it (pin.py: slow on
        purpose, about 1.5 s on a Pico; a wrong one counts, the tenth wipes)."""
        store = self.store
        self.entry += str(self.digit)
        self.digit = 0
        self.key = None
        if len(self.entry) < store.pin["n"]:
            return
        import pin

        digits = self.entry
        self.entry = ""
        if pin.check(store, digits, self.hw.unique_id()) is not None:
            self.dev.opened(store.pin["h"])
        elif store.pin is None:  # that was the last try: the store is wiped
            self.dev.wiped()
        else:
            self.dev.flash = "wrong_pin"
            self.dev.changed = True

    def _show_menu(self, usable):
        count = len(usable)
        if self.menu >= count:
            self.menu = count - 1
        key = ("menu", self.menu, count)
        if key == self.key:
            return
        self.key = key
        store = self.store

        def row(n):
            return _line(store.describe(usable[n])), store.label(usable[n])

        import menu

        menu.show(self.display, count, self.menu, row)
        self.hw.publish(self.display.description)

    def status(self):
        """The status screen to show as (kind, detail), or None for the code."""
        pending = self.pending
        if pending is not None:
            return ("wipe_confirm", "") if pending.kind == "wipe" else ("set_time", "PRESS 1S")
        if self.flash is not None:
            if time.ticks_diff(time.ticks_ms(), self.flash[1]) < _FLASH_MS:
                return (self.flash[0], "")
            self.flash = None
        store = self.store
        if store.settings_corrupt:
            return ("store_error", "")
        if not self.clock.trusted():
            return ("set_time", "")
        if not store.unlocked():
            left = store.pin["n"] - len(self.entry)
            # The PIN screen's instructions: one button (short steps, long takes) or two (A, B)
            kind = "pin" if self.hw.button2 is None else "pin_ab"
            return (kind, "*" * len(self.entry) + str(self.digit) + "_" * (left - 1))
        if not store.usable:
            return ("store_error", "") if store.corrupt() else ("no_secret", "")
        return None


class Token:
    """The running token: its parts and its loop."""

    def __init__(self, hw):
        self.hw = hw
        store = Store(hw.storage_dir, hw.unique_id())
        store.load()
        clock = Clock(hw, store.drift_ppb, store.synced_ms)
        clock.restore()
        self.store = store
        self.clock = clock
        self.dev = Device(hw, store, clock)
        self.screen = Screen(hw, self.dev, store, clock)
        self.button = Button(hw.button)
        # A second button (docs/hardware.md) takes the place of the long press: its press
        # takes a PIN digit, opens the menu or picks from it. Confirmations still need a
        # long press of either button.
        self.button2 = None if hw.button2 is None else Button(hw.button2)
        self.lines = Lines()
        self.port = Port()
        self._draw_at = time.ticks_ms()
        self.guard()

    def guard(self):
        """After lock, Ctrl-C must not reach the REPL: neither as an interrupt nor as a byte."""
        locked = self.store.locked
        self.lines.interrupt = not locked
        micropython.kbd_intr(_NO_INTR if locked else _CTRL_C)

    def run(self):
        """The loop: answer waiting requests, else sample the button and redraw when due,
        sleeping in poll() until a byte arrives or the next button sample is due."""
        port = self.port
        lines = self.lines
        while True:
            line = port.poll_line(lines)
            if line is not None:
                self.screen.touch()
                port.send(self.respond(line))
                self.guard()
                _drop_transient()
            self.tick()  # also between requests, so a flood cannot freeze the screen
            if line is None and not self.doze():
                port.wait(_BUTTON_MS)

    def doze(self):
        """With the display off, no press going on and no confirmation waiting, let the board
        light-sleep until the next second or a press (hw.doze: only off USB power, where no
        host link can be lost; docs/hardware.md). The clock keeps counting through it.
        False when the board stayed awake."""
        screen = self.screen
        if screen.awake or screen.pending is not None or not self.button.idle():
            return False
        if self.button2 is not None and not self.button2.idle():
            return False
        return self.hw.doze(1000 - self.clock.now_ms() % 1000)

    def respond(self, line):
        """The answer message for one protocol line."""
        if line == TOO_LONG:
            return refusal(None, "too_long", "line longer than 512 bytes")
        try:
            rid, op, args = parse(line)
        except Refused as exc:
            return refusal(exc.rid, exc.code, exc.message)
        try:
            result = self.dev.handle(op, args)
            if isinstance(result, Confirm):
                result = self.confirm(result)
            return answer(rid, result)
        except Refused as exc:
            return refusal(rid, exc.code, exc.message)
        except StoreError as exc:
            return refusal(rid, "store_error", exc.args[0])
        except Exception:  # noqa: BLE001 - the device must answer and keep running
            return refusal(rid, "internal", "internal error")

    def confirm(self, pending):
        """Show the confirmation screen and wait for a long press; run the operation or refuse.
        Requests arriving meanwhile wait in the serial buffer: the host waits for this answer."""
        screen = self.screen
        screen.pending = pending
        self.dev.changed = True
        deadline = time.ticks_add(pending.started, pending.timeout_s * 1000)
        try:
            while not pending.pressed and time.ticks_diff(deadline, time.ticks_ms()) > 0:
                self.tick()
                time.sleep_ms(_BUTTON_MS)
        finally:
            screen.pending = None
            self.dev.changed = True
        if not pending.pressed:
            raise Refused("button_timeout", "no button press within %d s" % pending.timeout_s)
        return pending.run()

    def tick(self):
        """Sample the button; redraw if a second boundary passed or something changed."""
        screen = self.screen
        event = self.button.poll()
        if self.button2 is not None:
            second = self.button2.poll()
            if second:
                event = second if second == LONG else _TAKE
        if event and screen.awake and screen.pending is None:
            if event != SHORT:
                screen.long_press()
            else:
                screen.short_press()
        elif event == LONG and screen.pending is not None:
            screen.pending.pressed = True
        if event:
            screen.touch()
        now = time.ticks_ms()
        if event or self.dev.changed or time.ticks_diff(now, self._draw_at) >= 0:
            try:
                screen.update()
            except Exception:  # noqa: BLE001 - a drawing fault must not stop the link
                self.dev.changed = True
            _drop_transient()
            to_next_second = 1001 - self.clock.now_ms() % 1000
            self._draw_at = time.ticks_add(now, min(to_next_second, _FRAME_MS))


def _drop_transient():
    for name in _TRANSIENT:
        sys.modules.pop(name, None)


def _line(profile):
    """A profile's label line, as the code screen and the menu show it: issuer:label, or the
    one that is set."""
    label, issuer = profile["label"], profile["issuer"]
    return issuer + ":" + label if issuer and label else label or issuer


def main():
    import board

    token = Token(board.make())
    while True:
        try:
            token.run()
        except KeyboardInterrupt:
            if not token.store.locked:
                micropython.kbd_intr(_CTRL_C)
                return
        except Exception:  # noqa: BLE001 - a token keeps showing codes after any fault
            pass
        time.sleep_ms(_RESTART_MS)
