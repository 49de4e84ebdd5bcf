"""For tests that stop a child process with a signal.

A process started with SIGINT ignored (a background job of a script, nohup) passes that on to
its children, and Python then installs no KeyboardInterrupt handler in them: a test that sends
SIGINT resets the child's dispositions itself, so the suite passes under such a runner too.
"""

import signal


def default_stop_signals() -> None:
    """In the child before exec (preexec_fn): SIGINT and SIGTERM do what they do by default."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
