"""Waiting for a state to be reached (never for a time to pass)."""

import subprocess
import time


def wait_for(condition, limit: float = 60.0, process: subprocess.Popen | None = None) -> float:
    """Poll until ``condition()`` holds and return how long that took.

    ``limit`` only bounds a hang: a loaded CI machine may take many seconds to start a process.
    With ``process``, its exit ends the wait at once, naming its exit code.
    """
    started = time.monotonic()
    while not condition():
        if process is not None:
            assert process.poll() is None, f"the process exited ({process.returncode}) first"
        assert time.monotonic() - started < limit, f"condition never held in {limit} s"
        time.sleep(0.01)
    return time.monotonic() - started
