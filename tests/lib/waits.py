"""Waiting for something that happens a moment after the answer: a counter,
a log line, a fill that ends, a process that goes.

    wait_until(lambda: gw.error_count("digest_mismatch") >= 1, 3.0,
               "the digest mismatch to be counted")
    n = wait_until(lambda: blob_bytes(d) <= cap, 3.0)   # judged by the caller

The one polling loop of the tests: every test module waits through it.
"""

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
