#!/usr/bin/python3
"""End-to-end test runner for swiftgate against a real Swift on loopback.

    /usr/bin/python3 tests/e2e/run.py --bin ./swiftgate [-k PATTERN] [--list]

Starts one Swift (tests/lib/saio.py) for the whole run with containers
`fractals` and `fractals_segments`, imports every tests/e2e/test_*.py and
runs each `test_*` function in file order.  A test takes one argument,
`ctx` (see Ctx).  Each test has a time limit (SIGALRM); gateways started
through ctx.gateway() are stopped after the test, and must exit 0 with no
sanitizer report.  The last line printed is `N passed, N failed`; the exit
status is 1 if anything failed.
"""

import argparse
import importlib
import inspect
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))

import gateway  # noqa: E402
import saio  # noqa: E402

CONTAINERS = ("fractals", "fractals_segments")


class TestTimeout(BaseException):
    """Raised in a test that runs past its time limit.

    A BaseException, so that a test's `except Exception` does not eat it.
    """


class Ctx:
    """What a test gets: the Swift, the binary, a temp dir, gateways."""

    def __init__(self, swift, bin, tmpdir):
        self.saio = swift
        self.bin = bin
        self.tmpdir = tmpdir
        self._gateways = []

    def gateway(self, text=None, env=None, args=None, start=True,
                **sections):
        """A Gateway in front of this Swift, stopped after the test.

        sections override the defaults, e.g. swift={"key": "wrong"}
        (None removes a key); text replaces the whole config file.
        """
        gw = gateway.Gateway(self.bin, text if text is not None else sections,
                             env=env, args=args, auth_url=self.saio.auth_url,
                             base_dir=self.tmpdir)
        self._gateways.append(gw)
        if start:
            gw.start()
        return gw

    def close(self):
        """Stop every gateway (clean exit required); raise the first error."""
        first = None
        for gw in self._gateways:
            try:
                gw.stop(expect_clean=True)
            except AssertionError as e:
                first = first or e
        if first:
            raise first


def discover(pattern):
    """[(name, function)] of every test, in file then definition order."""
    tests = []
    for fname in sorted(os.listdir(HERE)):
        if not (fname.startswith("test_") and fname.endswith(".py")):
            continue
        module = importlib.import_module(fname[:-3])
        funcs = [f for n, f in vars(module).items()
                 if n.startswith("test_") and inspect.isfunction(f)
                 and f.__module__ == module.__name__]
        funcs.sort(key=lambda f: f.__code__.co_firstlineno)
        for f in funcs:
            name = "%s.%s" % (module.__name__, f.__name__)
            if pattern is None or re.search(pattern, name):
                tests.append((name, f))
    return tests


def _on_alarm(_signum, _frame):
    raise TestTimeout("test timed out")


def run_one(func, ctx, timeout):
    """Run func(ctx) with a time limit, then ctx.close(); returns the
    formatted error or None."""
    error = None
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        func(ctx) if inspect.signature(func).parameters else func()
    except TestTimeout:
        error = "timed out after %.0f s\n%s" % (timeout,
                                                traceback.format_exc())
    except Exception:
        error = traceback.format_exc()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    try:
        ctx.close()
    except Exception:
        error = (error or "") + "on gateway stop:\n" + traceback.format_exc()
    return error


def start_swift(base_dir):
    """A ready Saio with the test containers; raises SaioError."""
    swift = saio.Saio(base_dir=base_dir)
    try:
        swift.start()
        swift.wait_ready()
        for c in CONTAINERS:
            swift.put_container(c)
    except BaseException:
        swift.stop()
        raise
    return swift


def run_all(tests, bin, timeout, run_dir):
    """Run the tests against one Swift; returns (passed, [failed names])."""
    t0 = time.monotonic()
    try:
        swift = start_swift(run_dir)
    except Exception as e:
        print("FAIL swift did not start: %s" % e)
        return 0, ["swift did not start"]
    print("swift ready in %.1f s at %s (logs: %s)"
          % (time.monotonic() - t0, swift.proxy_url, swift.log_dir))
    passed, failed = 0, []
    try:
        for name, func in tests:
            tmpdir = tempfile.mkdtemp(prefix=name.replace(".", "-") + "-",
                                      dir=run_dir)
            t = time.monotonic()
            error = run_one(func, Ctx(swift, bin, tmpdir), timeout)
            dt = time.monotonic() - t
            try:
                revived = swift.revive()
            except saio.SaioError as e:
                error = (error or "") + "swift could not be restarted: %s" % e
                revived = None
            if error:
                failed.append(name)
                print("FAIL %s (%.1fs)\n%s" % (name, dt, error.rstrip()))
            else:
                passed += 1
                print("PASS %s (%.1fs)" % (name, dt))
            sys.stdout.flush()
            if revived is None:
                break
            if revived:
                print("     (restarted swift %s)" % ", ".join(revived))
    finally:
        t = time.monotonic()
        swift.stop()
        print("swift stopped in %.1f s" % (time.monotonic() - t))
    return passed, failed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", help="the swiftgate binary")
    ap.add_argument("-k", dest="pattern",
                    help="run only tests whose module.name matches this regex")
    ap.add_argument("--list", action="store_true", help="list tests and exit")
    ap.add_argument("--timeout", type=float, default=120.0,
                    help="seconds per test (default 120)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the run directory even if everything passed")
    opts = ap.parse_args()
    sys.path.insert(0, HERE)
    tests = discover(opts.pattern)
    if opts.list:
        for name, _ in tests:
            print(name)
        return 0
    if not opts.bin:
        ap.error("--bin is required")
    bin = os.path.abspath(opts.bin)
    run_dir = tempfile.mkdtemp(prefix="swiftgate-e2e-")
    passed, failed = run_all(tests, bin, opts.timeout, run_dir)
    if failed or opts.keep:
        print("run directory kept: %s" % run_dir)
    else:
        shutil.rmtree(run_dir, ignore_errors=True)
    for name in failed:    # again here, where a log's tail will show them
        print("failed: %s" % name)
    print("%d passed, %d failed" % (passed, len(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
