"""`baoling verifier ... serve` as a child process: the harness that tests, benchmarks and the
demo use to run a real verifier. Not part of the CLI itself."""

import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import IO


class ServerProcess:
    """`baoling verifier ... serve` as a child process, for tests, benchmarks and the demo.

    Starts it with `--http-port 0` (a free port), waits for the line naming its address, and
    keeps collecting its stderr (the request log) in the background.
    """

    def __init__(
        self,
        group_args: Sequence[str],
        serve_args: Sequence[str] = (),
        *,
        env: dict[str, str] | None = None,
        timeout_s: float = 30.0,
        wrapper: Sequence[str] = (),
    ) -> None:
        """`wrapper`: a command that execs the server's command line, given as its arguments
        (such as `unshare -m` with a mount first), so the server keeps the child's pid."""
        command = [
            *wrapper,
            sys.executable,
            "-m",
            "baoling.host_tools",
            "verifier",
            *group_args,
            "serve",
            "--http-port",
            "0",
            *serve_args,
        ]
        self.process = subprocess.Popen(
            command, stderr=subprocess.PIPE, text=True, env=dict(os.environ, **(env or {}))
        )
        assert self.process.stderr is not None  # stderr=PIPE
        self._stderr: IO[str] = self.process.stderr
        self.lines: list[str] = []
        self.url = ""
        self.radius_port: int | None = None
        deadline = time.monotonic() + timeout_s
        try:
            while not self.url:
                line = self._stderr.readline()
                if not line or time.monotonic() > deadline:
                    raise RuntimeError("the verifier did not start:\n" + "".join(self.lines) + line)
                self.lines.append(line)
                if line.startswith("RADIUS on udp "):
                    self.radius_port = int(line.rsplit(":", 1)[1])
                elif line.startswith("HTTP on "):
                    self.url = line.split()[-1]
        except BaseException:  # also a stop signal while waiting: the child goes too
            self.kill()
            raise
        self._reader = threading.Thread(target=self._collect, daemon=True)
        self._reader.start()

    def _collect(self) -> None:
        for line in self._stderr:
            self.lines.append(line)

    def log(self) -> str:
        """Everything the server wrote to stderr so far."""
        return "".join(self.lines)

    def kill(self) -> None:
        """SIGKILL, as a crash or a power cut would stop it."""
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        """Ask it to finish (SIGTERM), then wait; kill it if it does not within 10 s."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self._reader.join(timeout=5)

    def __enter__(self) -> "ServerProcess":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
