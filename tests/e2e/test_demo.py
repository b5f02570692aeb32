"""The demo (`make demo`) works end to end: tests/demo.py --no-wait."""

import os
import re

import procs

DEMO = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))), "demo.py")


def test_demo_no_wait(ctx):
    log = os.path.join(ctx.tmpdir, "demo.log")
    proc = procs.spawn(["/usr/bin/python3", DEMO, "--bin", ctx.bin,
                        "--no-wait", "--port", "0"], log)
    try:
        proc.wait(timeout=100)
    finally:
        procs.stop(proc, grace=30)    # SIGTERM: the demo stops its Swift
    with open(log) as f:
        out = f.read()
    assert proc.returncode == 0, "demo exited %s:\n%s" % (proc.returncode,
                                                          out[-4000:])
    assert "all good" in out, out[-4000:]
    # The write side: stored through the gateway with curl, read back whole.
    assert re.search(r"^ok   PUT [0-9a-f-]{36}: 201 ", out, re.M), out[-4000:]
    assert "ok   GET it back: byte-identical, X-Cache: HIT" in out, out[-4000:]
