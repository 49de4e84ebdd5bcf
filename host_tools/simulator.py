"""The simulator launcher: the real firmware under the MicroPython unix port, on a pseudo-terminal.

The state folder is the device's filesystem (first start "flashes" it). The firmware runs as
`micropython -i main.py` on a pty whose slave is raw, and one relay thread copies bytes between
that pty and a second pty whose slave (`sim.port`) the host tools open, as they would a USB
serial port. The thread also reboots the firmware when it exits, as a board reboots after
mpremote's soft reset (docs/simulator.md), and keeps the
screen's PNG up to date when asked to (a second thread, so drawing never delays bytes).
Buttons and clock go through the files of host_tools.sim_control.
"""

import contextlib
import ctypes
import errno
import fcntl
import functools
import importlib.util
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import threading
import time
import tty
from pathlib import Path
from types import TracebackType
from typing import Any

from baoling.host_tools import sim_control
from baoling.host_tools.micropython import find_micropython
from baoling.provisioning.errors import FlashError
from baoling.provisioning.flash import compile_module, firmware_modules


def _firmware_dir() -> Path:
    """The firmware's folder: package data of `baoling.firmware`, whether `baoling` is installed
    from a wheel or editable from a checkout (docs/architecture.md)."""
    spec = importlib.util.find_spec("baoling.firmware")
    locations = spec.submodule_search_locations if spec else None
    for location in locations or ():
        if Path(location, "main.py").is_file():
            return Path(location)
    raise RuntimeError("the baoling package has no firmware: reinstall it")


FIRMWARE_DIR = _firmware_dir()
RAW_REPL_BANNER = b"raw REPL; CTRL-B to exit\r\n"
FRIENDLY_BANNER = b'Type "help()" for more information.\r\n'
PROMPT = b">>> "
SOFT_REBOOT = b"MPY: soft reboot\r\n"
CTRL_A = b"\x01"
HOST_BACKLOG_MAX = 256 * 1024  # device output kept for a port nobody reads; oldest dropped
BOOT_LOOP_S = 1.0  # a boot that ends this soon without reaching a REPL waits this long
PNG_EVERY_S = 0.1
HEAP_SIZE = re.compile(r"[1-9][0-9]*[kKmM]?")  # what `micropython -X heapsize=` accepts
COMMAND_TIMEOUT_S = 10.0
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
# Looked up once, here: between fork and exec the child should run as little as possible.
_prctl = ctypes.CDLL(None, use_errno=True).prctl


class SimulatorError(RuntimeError):
    """The launcher itself failed (not the firmware): its relay thread stopped or hung."""


def _die_with(launcher_pid: int) -> None:
    """In the firmware child, before exec: ask Linux to SIGKILL it when the launcher dies.

    Otherwise a launcher killed with SIGKILL (a test's clean-up, an OOM kill) leaves the
    firmware running its loop forever with no one at the other end of its pty. Linux sends
    the signal when the *thread* that forked the child ends, so only the relay thread, which
    lives as long as the simulator, starts firmware.
    """
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != launcher_pid:  # the launcher was gone before prctl took effect
        os._exit(1)


def flash(state_dir: Path, firmware_dir: Path = FIRMWARE_DIR, *, compiled: bool = False) -> bool:
    """Make state_dir a freshly flashed sim device unless it already is one; True if flashed.

    Copies the firmware's modules to the device root and firmware_dir/boards/sim.py as
    board.py.
    compiled=True deploys every module but main.py as .mpy from mpy-cross instead, as
    `baoling token flash` does for boards: no compiler run, so far less heap at import.
    """
    state_dir = Path(state_dir)
    sim = sim_control.control_dir(state_dir)
    if sim.is_dir():
        return False
    state_dir.mkdir(parents=True, exist_ok=True)
    modules = {source.stem: source for source in firmware_modules(Path(firmware_dir))}
    modules["board"] = Path(firmware_dir) / "boards" / "sim.py"
    for name, source in modules.items():
        if compiled and name != "main":
            try:
                compile_module(source, state_dir / f"{name}.mpy")
            except FlashError as exc:
                raise SimulatorError(str(exc)) from None
        else:
            shutil.copyfile(source, state_dir / f"{name}.py")
    sim.mkdir()
    return True


class Simulator:
    """A simulated token; use as a context manager (docs/simulator.md, "From Python")."""

    def __init__(
        self,
        state_dir: Path,
        *,
        heap: str | None = None,
        firmware_dir: Path = FIRMWARE_DIR,
        micropython: str | None = None,
        probe_heap: bool = False,
        compiled: bool = False,
        png: bool = False,
        buttons: int | None = None,
    ) -> None:
        self.state_dir = Path(state_dir).resolve()
        self.firmware_dir = Path(firmware_dir)
        self.port = ""
        self.png_path = sim_control.control_dir(self.state_dir) / sim_control.SCREEN_PNG
        if heap is not None and not HEAP_SIZE.fullmatch(heap):
            raise ValueError(f"heap must be a size such as 64k or 1M, not {heap!r}")
        self._binary = micropython or find_micropython()
        self._heap_args = ["-X", f"heapsize={heap}"] if heap else []
        self._probe_heap = probe_heap
        self._compiled = compiled
        self._png = png
        self._buttons = buttons
        self._png_thread: threading.Thread | None = None
        self._png_stop = threading.Event()
        self._lock = threading.Lock()
        self._output = bytearray()
        self._commands: list[tuple[str, threading.Event]] = []
        self._failure: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._host_fd: int | None = None
        self._host_slave_fd: int | None = None
        self._wake_r: int | None = None
        self._wake_w: int | None = None
        self._lock_fd: int | None = None
        # Owned by the relay thread once it runs:
        self._proc: subprocess.Popen[bytes] | None = None
        self._dev_fd: int | None = None
        self._to_dev = bytearray()
        self._to_host = bytearray()
        self._powered = False
        self._in_raw_repl = False
        self._reached_repl = False
        self._await_prompt = False
        self._recent = b""
        self._booted_at = 0.0
        self._boot_due: tuple[float, bool] | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> "Simulator":
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def start(self) -> "Simulator":
        """Flash the state folder if new, open the host port, power the board up."""
        try:
            flash(self.state_dir, self.firmware_dir, compiled=self._compiled)
            self._lock_fd = os.open(
                sim_control.control_dir(self.state_dir) / sim_control.LOCK, os.O_RDWR | os.O_CREAT
            )
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise SimulatorError(
                    f"{self.state_dir} is in use by another running simulator"
                ) from None
            self._host_fd, self._host_slave_fd = pty.openpty()
            tty.setraw(self._host_slave_fd)
            os.set_blocking(self._host_fd, False)
            self.port = os.ttyname(self._host_slave_fd)
            link = sim_control.control_dir(self.state_dir) / sim_control.PORT_LINK
            link.unlink(missing_ok=True)
            link.symlink_to(self.port)
            self._wake_r, self._wake_w = os.pipe()
            sim_control.set_heap_probe(self.state_dir, self._probe_heap)
            if self._buttons is not None:
                sim_control.set_buttons(self.state_dir, self._buttons)
            self._thread = threading.Thread(target=self._relay, name="sim-relay", daemon=True)
            self._thread.start()
            self._command("restart")  # power up: the relay thread starts the firmware
            if self._png:
                self._png_thread = threading.Thread(
                    target=self._watch_png, name="sim-png", daemon=True
                )
                self._png_thread.start()
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Stop the firmware and the relay, close every descriptor. Safe to call twice."""
        self._png_stop.set()
        if self._png_thread is not None:
            self._png_thread.join(timeout=COMMAND_TIMEOUT_S)
            self._png_thread = None
        if self._thread is not None and self._thread.is_alive():
            with contextlib.suppress(SimulatorError):
                self._command("stop")
            self._thread.join(timeout=COMMAND_TIMEOUT_S)
        self._thread = None
        self._stop_child()
        for name in ("_host_fd", "_host_slave_fd", "_wake_r", "_wake_w", "_lock_fd"):
            fd = getattr(self, name)
            if fd is not None:
                os.close(fd)
                setattr(self, name, None)
        link = sim_control.control_dir(self.state_dir) / sim_control.PORT_LINK
        if link.is_symlink() and os.readlink(link) == self.port:
            link.unlink()

    def restart(self) -> None:
        """Power cycle: cut power, then boot (the RTC keeps its time if the battery is in)."""
        self._command("restart")

    def kill(self) -> None:
        """Cut the power now (SIGKILL); the board stays off until restart()."""
        self._command("kill")

    # -- what the tests see and do ---------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """Process id of the running firmware (None while the board is off)."""
        proc = self._proc
        return proc.pid if proc is not None else None

    def device_output(self) -> bytes:
        """Every byte the device wrote on its serial link since start, across reboots."""
        with self._lock:
            return bytes(self._output)

    def wait_output(self, expected: bytes, timeout: float = 5, since: int = 0) -> bytes:
        """Wait until the device has written `expected` after offset `since` of its output.

        Returns all output so far; pass len(sim.device_output()) as `since` to wait for
        something new (the banner of the next boot, say).
        """
        deadline = time.monotonic() + timeout
        while expected not in (output := self.device_output())[since:]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"device did not write {expected!r} within {timeout} s")
            time.sleep(0.02)
        return output

    def press(self, seconds: float = 0.1, button: int = 1) -> None:
        """Hold the button (2: the second one, on a board with two) for `seconds`."""
        sim_control.press(self.state_dir, seconds, button)

    def set_clock(
        self,
        offset_s: float | None = None,
        drift_ppm: float | None = None,
        battery: bool | None = None,
    ) -> dict[str, Any]:
        """Turn the clock knobs (see sim_control.set_clock)."""
        return sim_control.set_clock(self.state_dir, offset_s, drift_ppm, battery)

    def age(self, seconds: float) -> None:
        """Let virtual host time pass (see sim_control.age)."""
        sim_control.age(self.state_dir, seconds)

    def set_usb_power(self, on: bool) -> None:
        """On USB power (the default) or off it, as on a battery (see sim_control)."""
        sim_control.set_usb_power(self.state_dir, on)

    def sleeps(self) -> dict[str, Any]:
        """The board's light sleeps since it booted (see sim_control.sleeps)."""
        return sim_control.sleeps(self.state_dir)

    def screen(self) -> dict[str, Any]:
        """The last published screen description."""
        return sim_control.screen(self.state_dir)

    def wait_screen(self, predicate: Any, timeout: float = 5) -> dict[str, Any]:
        """Wait until the published screen satisfies predicate; TimeoutError otherwise."""
        return sim_control.wait_screen(self.state_dir, predicate, timeout)

    def heap_peak(self) -> dict[str, Any]:
        """With probe_heap=True: {"peak": bytes, "samples": n} of the live heap so far."""
        return sim_control.heap_peak(self.state_dir)

    def screenshot(self, png_path: Path) -> None:
        """Save the current frame buffer as a PNG."""
        sim_control.render_png(self.state_dir, png_path)

    # -- the relay thread ------------------------------------------------------------------

    def _command(self, name: str) -> None:
        """Ask the relay thread to do a lifecycle step and wait until it is done."""
        done = threading.Event()
        with self._lock:
            if self._failure is not None:
                raise SimulatorError(f"simulator relay stopped: {self._failure!r}")
            self._commands.append((name, done))
        if self._wake_w is not None:
            os.write(self._wake_w, b"!")
        if not done.wait(COMMAND_TIMEOUT_S):
            raise SimulatorError(f"simulator did not complete {name!r}")
        if self._failure is not None:
            raise SimulatorError(f"simulator relay stopped: {self._failure!r}")

    def _relay(self) -> None:
        try:
            if self._host_fd is None or self._wake_r is None:
                raise SimulatorError("relay started before the ports were open")
            while self._serve_once(self._host_fd, self._wake_r):
                pass
        except BaseException as exc:  # report it to the caller of the next command
            self._failure = exc
        finally:
            self._stop_child()
            with self._lock:
                pending, self._commands = self._commands, []
            for _, done in pending:
                done.set()

    def _serve_once(self, host_fd: int, wake_r: int) -> bool:
        """One round of select: returns False once told to stop."""
        if self._boot_due is not None and time.monotonic() >= self._boot_due[0]:
            raw = self._boot_due[1]
            self._boot_due = None
            self._boot(raw_repl=raw)
        readers = [host_fd, wake_r]
        writers = []
        if self._dev_fd is not None:
            readers.append(self._dev_fd)
            if self._to_dev and not self._await_prompt:
                writers.append(self._dev_fd)
        if self._to_host:
            writers.append(host_fd)
        wait = None if self._boot_due is None else max(0.0, self._boot_due[0] - time.monotonic())
        readable, writable, _ = select.select(readers, writers, [], wait)
        if wake_r in readable:
            os.read(wake_r, 512)
            if not self._run_commands():
                return False
        if host_fd in readable:
            data = self._read(host_fd)
            if data and self._dev_fd is not None:
                self._to_dev += data
        if self._dev_fd is not None and self._dev_fd in readable:
            data = self._read(self._dev_fd)
            if data:
                self._from_device(data)
            elif data is not None:
                self._device_exited()
        if self._dev_fd is not None and self._dev_fd in writable:
            del self._to_dev[: self._write(self._dev_fd, self._to_dev)]
        if host_fd in writable:
            del self._to_host[: self._write(host_fd, self._to_host)]
        return True

    def _run_commands(self) -> bool:
        with self._lock:
            pending, self._commands = self._commands, []
        keep_going = True
        for name, done in pending:
            if name == "stop":
                self._stop_child()
                keep_going = False
            elif name == "kill":
                self._powered = False
                self._stop_child()
                sim_control.power_down(self.state_dir)
            elif name == "restart":
                self._stop_child()
                sim_control.power_up(self.state_dir)
                self._powered = True
                self._boot(raw_repl=False)
            done.set()
        return keep_going

    @staticmethod
    def _read(fd: int) -> bytes | None:
        """Read what is there: None if nothing yet, b"" once the other side is gone (EIO)."""
        try:
            return os.read(fd, 4096)
        except BlockingIOError:
            return None
        except OSError as exc:
            if exc.errno == errno.EIO:
                return b""
            raise

    @staticmethod
    def _write(fd: int, data: bytearray) -> int:
        try:
            return os.write(fd, data)
        except BlockingIOError:
            return 0

    def _from_device(self, data: bytes) -> None:
        with self._lock:
            self._output += data
        self._to_host += data
        if len(self._to_host) > HOST_BACKLOG_MAX:
            del self._to_host[: len(self._to_host) - HOST_BACKLOG_MAX]
        # Which REPL the firmware is in decides how it comes back if it exits now.
        recent = self._recent + data
        raw_at = recent.rfind(RAW_REPL_BANNER)
        friendly_at = recent.rfind(FRIENDLY_BANNER)
        if raw_at != friendly_at:
            self._in_raw_repl = raw_at > friendly_at
            self._reached_repl = True
        if self._await_prompt and PROMPT in recent:
            self._await_prompt = False
            self._to_dev[:0] = CTRL_A
        self._recent = recent[-64:]

    def _device_exited(self) -> None:
        """The firmware ended (soft reset, sys.exit): reboot it as a board would."""
        raw = self._in_raw_repl
        self._stop_child()
        if not self._powered:
            return
        if raw:
            # A board soft-resetting in the raw REPL says so and comes back in the raw REPL.
            self._from_device(SOFT_REBOOT)
        # A main.py that cannot even start would otherwise reboot in a tight loop.
        lived = time.monotonic() - self._booted_at
        delay = BOOT_LOOP_S if not self._reached_repl and lived < BOOT_LOOP_S else 0.0
        self._boot_due = (time.monotonic() + delay, raw)

    def _boot(self, raw_repl: bool) -> None:
        """Start the firmware: main.py, or (after a raw-REPL soft reset) the bare raw REPL."""
        args = [self._binary, *self._heap_args]
        if not raw_repl:
            args += ["-i", "main.py"]
        dev_fd, slave_fd = pty.openpty()
        try:
            tty.setraw(slave_fd)
            os.set_blocking(dev_fd, False)
            # Device root, then the port's frozen modules (asyncio), then lib/ as on boards.
            env = dict(os.environ, MICROPYPATH=":.frozen:lib")
            self._proc = subprocess.Popen(
                args,
                stdin=slave_fd,
                stdout=slave_fd,
                stderr=slave_fd,
                cwd=self.state_dir,
                env=env,
                start_new_session=True,
                preexec_fn=functools.partial(_die_with, os.getpid()),
            )
        except BaseException:
            os.close(dev_fd)
            raise
        finally:
            os.close(slave_fd)
        self._dev_fd = dev_fd
        self._to_dev.clear()
        self._in_raw_repl = False
        self._reached_repl = False
        self._await_prompt = raw_repl
        self._recent = b""
        self._booted_at = time.monotonic()

    def _stop_child(self) -> None:
        """Kill the firmware if it runs, keep what it wrote, close its pty."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
            self._proc = None
        if self._dev_fd is not None:
            while data := self._read(self._dev_fd):
                with self._lock:
                    self._output += data
            os.close(self._dev_fd)
            self._dev_fd = None
        self._to_dev.clear()
        self._await_prompt = False
        self._boot_due = None

    def _watch_png(self) -> None:
        """Re-render the PNG whenever the board wrote a new frame (checked every PNG_EVERY_S)."""
        pbm = sim_control.control_dir(self.state_dir) / sim_control.SCREEN_PBM
        drawn: int | None = -1
        while not self._png_stop.wait(PNG_EVERY_S):
            try:
                stamp: int | None = pbm.stat().st_mtime_ns
            except FileNotFoundError:
                stamp = None
            if stamp != drawn:
                drawn = stamp
                sim_control.render_png(self.state_dir, self.png_path)
