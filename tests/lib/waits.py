"""Waiting for something that happens a moment after the answer: a counter,
a log line, a fill that ends, a process that goes; and clients that start
together.

    wait_until(lambda: gw.error_count("digest_mismatch") >= 1, 3.0,
               "the digest mismatch to be counted")
    n = wait_until(lambda: blob_bytes(d) <= cap, 3.0)   # judged by the caller

The one polling loop of the tests: every test module waits through it.
"""

import threading
import time


def wait_until(pred, timeout, what=None, step=0.05):
    """Call pred() every `step` seconds until it returns something true, for
    `timeout` seconds at most, and return that value.

    pred is called at least once, the last time at or after the deadline.
    If it never returned anything true: with `what` (a string, or a callable
    returning one, called then so that it can show the state at the end),
    raise AssertionError("timed out after T s waiting for WHAT"); without
    `what`, return its last value for the caller to judge.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value or time.monotonic() >= deadline:
            break
        time.sleep(step)
    if not value and what is not None:
        raise AssertionError("timed out after %.1f s waiting for %s" % (
            timeout, what() if callable(what) else what))
    return value


def together(n, fn, start_timeout=10.0, join_timeout=60.0):
    """Call fn(i) for i in range(n), each in a thread of its own, all
    released at once by a barrier (start_timeout s at most for them to
    gather); return [fn(0), ...] once every thread ended or join_timeout
    passed (None for a call that did not return)."""
    out = [None] * n
    barrier = threading.Barrier(n)

    def one(i):
        barrier.wait(start_timeout)
        out[i] = fn(i)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + join_timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    return out
