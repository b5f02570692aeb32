"""Child processes for the test harness: start, stop by pid, never leak.

Every process started through `spawn()` is remembered until `stop()` has
reaped it.  An atexit hook (and, when installed from the main thread, a
SIGTERM/SIGHUP handler that turns the signal into SystemExit so that
`finally` blocks and atexit run) stops whatever is still alive, so a
crashed or interrupted test run leaves no Swift, memcached or swiftgate
behind.
"""

import atexit
import os
import signal
import subprocess
import threading
import time

_live = set()
_lock = threading.Lock()
_hooks_installed = False


def _exit_on_signal(signum, _frame):
    raise SystemExit(128 + signum)


def _install_hooks():
    """Register the atexit hook once; add signal handlers if we can."""
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True
    atexit.register(stop_all)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(sig) == signal.SIG_DFL:
                signal.signal(sig, _exit_on_signal)


def spawn(argv, log_path, env=None, stdout_path=None):
    """Start argv with stderr (and stdout, unless stdout_path) to log_path."""
    _install_hooks()
    with open(log_path, "ab") as err:
        out = open(stdout_path, "ab") if stdout_path else err
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=err, env=env, close_fds=True)
        finally:
            if stdout_path:
                out.close()
    with _lock:
        _live.add(proc)
    return proc


def stop_many(proc_list, grace=10.0, sig=signal.SIGTERM):
    """Send sig to each, wait up to grace seconds in all, then SIGKILL the
    rest; always reap.  Returns the exit statuses as Popen reports them
    (negative = killed by that signal)."""
    for proc in proc_list:
        if proc.poll() is None:
            try:
                os.kill(proc.pid, sig)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + grace
    for proc in proc_list:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        with _lock:
            _live.discard(proc)
    return [proc.returncode for proc in proc_list]


def stop(proc, grace=10.0, sig=signal.SIGTERM):
    """stop_many() for one process; returns its exit status."""
    return stop_many([proc], grace, sig)[0]


def stop_all():
    """Stop every process still alive (atexit hook)."""
    with _lock:
        procs = list(_live)
    stop_many(procs, grace=5.0)

