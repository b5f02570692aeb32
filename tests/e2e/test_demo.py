"""The demo (`make demo`) works end to end: tests/demo.py --no-wait."""

import os

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
