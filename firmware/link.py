# The serial link: bytes from MicroPython's stdin are cut into bounded lines, answers go to
# stdout. USB CDC on boards, a pseudo-terminal on the sim board. Reading polls stdin,
# then reads one byte at a time (a plain read() can block even after poll says ready).
import sys
import time

from micropython import const

from protocol import MAX_LINE

_LF = const(0x0A)
_CR = const(0x0D)
_CTRL_C = const(0x03)
_MARKER = const(0x40)  # '@' starts a protocol line
_HUNG_UP = const(0x18)  # select.POLLHUP | select.POLLERR, the same on every port
_BURST = const(64)  # bytes read per call before main's loop samples the button again

TOO_LONG = const(1)  # feed() result when a protocol line went past MAX_LINE
_GENERATOR = type(i for i in ())


class Lines:
    """Cut a byte stream into lines of at most MAX_LINE bytes, in one buffer made at start-up
    (one byte more: a line's carriage return, which does not count)."""

    def __init__(self):
        self.buf = bytearray(MAX_LINE + 1)
        self._view = memoryview(self.buf)
        self.n = 0
        self._overflow = False
        self.interrupt = True  # 0x03 raises KeyboardInterrupt (before the production lock)

    def feed(self, byte):
        """Take one byte; return None, TOO_LONG, or a whole protocol line without its '@'."""
        if byte == _CTRL_C:
            if not self.interrupt:
                return None  # after lock Ctrl-C is dropped wherever it comes
            self.n = 0
            self._overflow = False
            raise KeyboardInterrupt
        if byte != _LF:
            if self.n <= MAX_LINE:
                self.buf[self.n] = byte
                self.n += 1
            else:
                self._overflow = True
            return None
        n = self.n
        overflow = self._overflow
        self.n = 0
        self._overflow = False
        if n and self.buf[n - 1] == _CR and not overflow:
            n -= 1
        if n == 0 or self.buf[0] != _MARKER:
            return None
        if overflow or n > MAX_LINE:
            return TOO_LONG
        return bytes(self._view[1:n])


class Port:
    """stdin/stdout of MicroPython, polled so a read never blocks the button or the screen."""

    def __init__(self):
        import select

        self.poll = select.poll()
        self.poll.register(sys.stdin, select.POLLIN)
        self._read = sys.stdin.buffer.read
        self.out = sys.stdout
        # Start on a fresh line: an answer cut short by a power cut or a reset ends here,
        # instead of running into the first answer of this boot ("@@{...").
        self.out.write("\n")

    def poll_line(self, lines):
        """Feed waiting bytes (at most _BURST) into lines; return the first result or None."""
        for _ in range(_BURST):
            if not self.poll.poll(0):
                return None
            data = self._read(1)
            if not data:
                return None
            result = lines.feed(data[0])
            if result is not None:
                return result
        return None

    def wait(self, ms):
        """Sleep until a byte arrives or ms pass. A hung-up link (host gone) makes poll()
        return at once, readable but with nothing to read: sleep then too, or the loop spins."""
        ready = self.poll.poll(ms)
        if ready and ready[0][1] & _HUNG_UP:
            time.sleep_ms(ms)

    def send(self, message):
        """Send one answer line: '@', the message as JSON, newline. It is written piece by
        piece, so a large answer is never built as one string in the heap."""
        out = self.out
        out.write("@")
        _dump(out, message)
        out.write("\n")
        if hasattr(out, "flush"):
            out.flush()


def _dump(out, value):
    """json.dump, but a generator is written as a list, one item at a time, as it yields them
    (info's 32 profiles: never all in the heap at once)."""
    import json

    if type(value) is dict:
        sep = "{"
        for key in value:
            out.write(sep)
            json.dump(key, out)
            out.write(": ")
            _dump(out, value[key])
            sep = ", "
        if sep == "{":  # an empty dict: nothing written yet
            out.write(sep)
        out.write("}")
    elif type(value) is _GENERATOR:
        sep = "["
        for item in value:
            out.write(sep)
            json.dump(item, out)
            sep = ", "
        if sep == "[":  # nothing yielded
            out.write(sep)
        out.write("]")
    else:
        json.dump(value, out)
