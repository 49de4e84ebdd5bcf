"""The serial link to one token: open the port, send a request, wait for its answer.

Host rules from docs/protocol.md: DTR asserted, a bare newline first, every line that is not an
answer to the request in flight skipped (banners, prompts, the REPL's echo), one request at a
time. Raw serial failures and the device's error codes become provisioning.errors classes here,
with a sentence that names the port and suggests the fix; nothing above this module sees pyserial.
"""

import errno
import os
import secrets
import stat
import time
from types import TracebackType
from typing import Any

import serial

from baoling.provisioning.errors import (
    BaolingError,
    NoSuchPort,
    NotASerialPort,
    PortBusy,
    PortDenied,
    SlotOccupied,
    TokenError,
    TokenLocked,
    TokenTimeout,
)
from baoling.provisioning.protocol import (
    HANDSHAKE_VERSION,
    MAX_ID,
    Answer,
    decode_answer,
    encode_request,
)

DEFAULT_TIMEOUT_S = 3.0  # the protocol asks hosts to wait at least 2 s
MAX_ANSWER_BYTES = 64 * 1024  # an answer is < 1 KB; a longer line is noise and is dropped
_READ_SLICE_S = 0.05


def open_port(port: str) -> serial.Serial:
    """Open `port` with DTR asserted (boards only send while it is) and exclusively.

    A path that is not a character device is refused before it is opened: pyserial would open
    a file read-write and lock it before finding out that it is no terminal.
    """
    kind = _path_kind(port)
    if kind is not None:
        raise NotASerialPort(f"{port} is {kind}, not a serial port. {_NAME_A_PORT}")
    link = serial.Serial()
    link.port = port
    link.baudrate = 115200  # ignored by USB CDC and by ptys; what USB-serial bridges expect
    link.timeout = _READ_SLICE_S
    link.write_timeout = DEFAULT_TIMEOUT_S
    link.exclusive = True
    link.dtr = True
    try:
        link.open()
    except serial.SerialException as exc:
        raise _open_error(port, exc) from None
    return link


_NAME_A_PORT = (
    "Give the token's port, such as /dev/ttyACM0 (`baoling token list` shows the tokens it finds)."
)


def _path_kind(port: str) -> str | None:
    """What `port` is when it exists and is no character device (None: try to open it)."""
    try:
        mode = os.stat(port).st_mode
    except OSError:
        return None  # missing or not searchable: opening it names the reason
    if stat.S_ISCHR(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISREG(mode):
        return "a file"
    if stat.S_ISBLK(mode):
        return "a disk"
    return "a pipe" if stat.S_ISFIFO(mode) else "a socket"


def _open_error(port: str, exc: serial.SerialException) -> BaolingError:
    # pyserial gives the errno of a failed open(), but wraps a failed terminal set-up (a device
    # that is no terminal: ENOTTY) in a message whose cause holds it.
    code = exc.errno
    if code is None and exc.__context__ is not None and exc.__context__.args:
        code = exc.__context__.args[0]
    if code in (errno.ENOENT, errno.ENODEV, errno.ENXIO):
        return NoSuchPort(
            f"There is no serial port {port}. Is the token plugged in? "
            "`baoling token list` shows the tokens it finds."
        )
    if code == errno.ENOTTY:
        return NotASerialPort(f"{port} is a device, but not a serial port. {_NAME_A_PORT}")
    if code in (errno.EBUSY, errno.EAGAIN):
        return PortBusy(
            f"Serial port {port} is in use by another program (a terminal, mpremote, "
            "another baoling?). Close it and try again."
        )
    if code in (errno.EACCES, errno.EPERM):
        return PortDenied(
            f"No permission to open {port}: add your user to the port's group "
            "(often `dialout`) and log in again."
        )
    reason = os.strerror(code) if isinstance(code, int) else str(exc)
    return TokenError(f"Could not open serial port {port}: {reason}.")


# Device error codes with a sentence of their own; every other code uses the generic one.
_ERRORS: dict[str, tuple[type[TokenError], str]] = {
    "locked": (
        TokenLocked,
        "The token on {port} is locked: only `baoling token wipe`, confirmed on the token's "
        "button, unlocks it.",
    ),
    "slot_occupied": (
        SlotOccupied,
        "The token on {port} is locked and {message}: write to a free slot "
        "(`baoling token info` lists them).",
    ),
    "button_timeout": (
        TokenTimeout,
        "Nobody held the button of the token on {port} ({message}); nothing was changed.",
    ),
    "auth_failed": (
        TokenError,
        "The token on {port} refused the clock change ({message}): is the admin key in the key "
        "file the one this token was locked with?",
    ),
}


class Link:
    """An open link to one token; use as a context manager so the port is always released."""

    def __init__(self, port: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.port = port
        self.timeout_s = timeout_s
        self.version = HANDSHAKE_VERSION  # the protocol version requests carry (Token sets it)
        self._serial = open_port(port)
        self._pending = bytearray()
        self._next_id = secrets.randbelow(MAX_ID // 2)
        self._send(b"\n")  # finish any half-received line on the device

    def __enter__(self) -> "Link":
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._serial.close()

    def call(self, op: str, args: dict[str, Any] | None = None, *, wait_s: float = 0.0) -> dict:
        """Send `op` and return its result; `wait_s` extends the timeout (button waits).

        Device errors raise the TokenError subclass for their code.
        """
        self._next_id = (self._next_id + 1) % MAX_ID
        request_id = self._next_id
        self._serial.reset_input_buffer()
        self._pending.clear()
        self._send(encode_request(request_id, op, args or {}, self.version))
        answer = self._await(request_id, op, self.timeout_s + wait_s)
        if answer.ok:
            return answer.result
        kind, sentence = _ERRORS.get(
            answer.error,
            (TokenError, "The token on {port} refused {op}: {message} ({code})."),
        )
        raise kind(
            sentence.format(port=self.port, op=op, message=answer.message, code=answer.error),
            answer.error,
        )

    def _send(self, data: bytes) -> None:
        try:
            self._serial.write(data)
            self._serial.flush()
        except (serial.SerialException, OSError):
            raise self._lost() from None

    def _await(self, request_id: int, op: str, timeout_s: float) -> Answer:
        deadline = time.monotonic() + timeout_s
        while True:
            line = self._read_line(deadline)
            if line is None:
                raise TokenTimeout(
                    f"The token on {self.port} did not answer {op} within {timeout_s:g} s. Is "
                    "it plugged in and running the Baoling firmware?",
                    "timeout",
                )
            answer = decode_answer(line)
            if answer is not None and answer.id == request_id:
                return answer

    def _read_line(self, deadline: float) -> bytes | None:
        """The next whole line, or None at the deadline; over-long lines are dropped."""
        while True:
            newline = self._pending.find(b"\n")
            if newline >= 0:
                line = bytes(self._pending[: newline + 1])
                del self._pending[: newline + 1]
                return line
            if len(self._pending) > MAX_ANSWER_BYTES:
                self._pending.clear()
            if time.monotonic() >= deadline:
                return None
            try:
                chunk = self._serial.read(max(1, self._serial.in_waiting))
            except (serial.SerialException, OSError):
                raise self._lost() from None
            self._pending += chunk

    def _lost(self) -> TokenError:
        return TokenError(
            f"Lost the connection to the token on {self.port}: was it unplugged?", "lost"
        )
