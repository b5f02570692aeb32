#!/usr/bin/python3
"""The soak of swiftgate (`make soak`; not part of `make test`).

    /usr/bin/python3 tests/soak/run.py --bin build/default/swiftgate
        [--minutes 10] [--phases keepalive,slowloris,mixed,crash]
        [--conns 5000] [--slowloris 1000] [--slowloris-seconds 75]
        [--crash-pattern crash] [--crash-rounds 20] [--sanitize]
        [--report FILE]

Against one real Swift (tests/lib/saio.py), each phase with a gateway of
its own on loopback:

  keepalive  --conns keep-alive connections open at once (the driver
             raises its RLIMIT_NOFILE to the hard limit, the gateway raises
             its own), each sending GETs in rounds; every body checked.
  slowloris  --slowloris connections sending one header byte a second for
             --slowloris-seconds (each replaced when the gateway cuts it
             with 408 at header_timeout) while normal clients are served.
  mixed      --minutes of mixed load (see mixed.py) with a restart half
             way; a table row a minute, the RSS slope after warm-up.
  crash      tests/e2e/run.py -k PATTERN with SWIFTGATE_CRASH_ROUNDS set
             (the crash loops of the end-to-end suite, run longer).

Every gateway must exit 0 on SIGTERM with no sanitizer report in its
stderr.  Exit status 0 only if every phase passed; the report (Markdown,
with the command line) goes to stdout and to --report.
"""

import argparse
import os
import random
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
sys.path.insert(0, HERE)

import catalogue  # noqa: E402
import crowd  # noqa: E402
import figures  # noqa: E402
import gateway  # noqa: E402
import httputil  # noqa: E402
import mixed  # noqa: E402
import saio  # noqa: E402

PYTHON = "/usr/bin/python3"
# RSS may rise by at most this much a minute once a gateway process is warm
# (mixed.WARM_S after it started).  At the mixed soak's rate (about 60,000
# requests a minute) it is 8 bytes a request: a leak of any allocation per
# request (a malloc chunk is 32 bytes or more) shows four times over.
# What grows before WARM_S is bounded and is not judged: glibc's arenas
# grow to the peak of concurrent work (fills in flight) and the resident
# size follows them as their free space is touched, while the cache fills
# to its cap and with it the idle blob descriptors (up to 1,024), the
# decoded plans and the index's pages (its file is under 1 MiB here).
# Measured without a restart: RssAnon rose about 1.5 MiB in the first
# three minutes, then some 27 KiB/min over the next six.
MAX_SLOPE_KIB = 512


def log(line=""):
    print(line, flush=True)


def raise_nofile(need):
    """Soft RLIMIT_NOFILE to the hard limit (children inherit it); the
    hard limit must leave room for `need` descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < need:
        raise SystemExit("soak: RLIMIT_NOFILE hard limit %d < %d needed; "
                         "raise it (ulimit -Hn, docker --ulimit nofile=...)"
                         % (hard, need))
    return hard


class Run:
    def __init__(self, opts, run_dir):
        self.opts = opts
        self.run_dir = run_dir
        self.swift = None
        self.cat = None
        self.report = []
        self.ok = True

    def gateway(self, **sections):
        """A started gateway on fixed free ports (so that a restart keeps
        them); returns (gw, factory) where factory() starts another on the
        same config and cache."""
        server = {"listen": "127.0.0.1:%d" % httputil.free_port(),
                  "admin_listen": "127.0.0.1:%d" % httputil.free_port(),
                  "workers": "2",
                  "header_timeout": "%ds" % self.opts.header_timeout}
        server.update(sections.pop("server", {}))
        gw = gateway.Gateway(self.opts.bin, dict(server=server, **sections),
                             auth_url=self.swift.auth_url,
                             base_dir=self.run_dir)

        def factory():
            return gateway.Gateway(self.opts.bin, gw.conf_text,
                                   base_dir=self.run_dir).start()
        return gw.start(), factory

    def phase(self, name, func):
        log("== %s" % name)
        t = time.monotonic()
        try:
            ok, lines = func()
        except (AssertionError, gateway.GatewayError) as e:
            ok, lines = False, ["FAIL %s: %s" % (name, e)]
        for line in lines:
            log(line)
        log("-- %s %s (%.0f s)" % (name, "passed" if ok else "FAILED",
                                   time.monotonic() - t))
        self.report += ["### %s: %s" % (name, "pass" if ok else "FAIL"),
                        ""] + lines + [""]
        self.ok = self.ok and ok

    def warm(self, gw, objs):
        for obj in objs:
            r = httputil.get(gw.url + obj.path, timeout=60)
            assert r.status == 200 and r.body == obj.data, (obj, r)

    def small_objects(self):
        """The 20 smallest plain objects (4 KiB up): the crowd phases
        measure connections, not how fast Python reads megabytes."""
        return sorted(self.cat.plain, key=lambda o: len(o.data))[:20]

    def keepalive(self):
        gw, _ = self.gateway()
        objs = self.small_objects()
        self.warm(gw, objs)
        ok, lines = crowd.keepalive(gw, objs, self.opts.conns, 3, log)
        gw.stop(expect_clean=True)
        return ok, lines

    def slowloris(self):
        gw, _ = self.gateway()
        objs = self.small_objects()
        self.warm(gw, objs)
        ok, lines = crowd.slowloris(gw, objs, self.opts.slowloris,
                                    self.opts.slowloris_seconds, 8,
                                    self.opts.header_timeout, log)
        gw.stop(expect_clean=True)
        return ok, lines

    def mixed(self):
        # The objects and the fresh ones pass the cap within two minutes,
        # so the cache evicts (and the index churns) for the rest of the
        # soak; the 8 MiB objects stay cacheable.
        gw, factory = self.gateway(cache={"max_size": "64M",
                                          "max_object_size": "16M"})
        soak = mixed.Soak(self.swift, factory, self.cat, self.opts.minutes,
                          self.opts.seed, log)
        header = mixed.HEADER
        log("  " + " | ".join(header))
        last = soak.run(gw)
        last.stop(expect_clean=True)
        ok, lines = soak.verdict(None if self.opts.sanitize
                                 else self.opts.max_slope)
        return ok, [figures.markdown(header, soak.rows), ""] + lines

    def crash(self):
        e2e = os.path.join(ROOT, "tests", "e2e", "run.py")
        pattern = self.opts.crash_pattern
        listed = subprocess.run([PYTHON, e2e, "--list", "-k", pattern],
                                capture_output=True, text=True, timeout=60)
        names = listed.stdout.split()
        if listed.returncode != 0:
            return False, ["FAIL listing e2e tests: %s" % listed.stderr]
        if not names:
            return True, ["no end-to-end test matches -k %r: nothing run"
                          % pattern]
        env = dict(os.environ,
                   SWIFTGATE_CRASH_ROUNDS=str(self.opts.crash_rounds))
        argv = [PYTHON, e2e, "--bin", self.opts.bin, "-k", pattern,
                "--timeout", str(self.opts.crash_timeout)]
        res = subprocess.run(argv, env=env, capture_output=True, text=True,
                             timeout=self.opts.crash_timeout * len(names)
                             + 300)
        out = res.stdout.splitlines()
        lines = ["SWIFTGATE_CRASH_ROUNDS=%d %s" % (
            self.opts.crash_rounds, " ".join(shlex.quote(a) for a in argv))]
        lines += [l for l in out if l.startswith(("PASS", "FAIL"))
                  or " passed, " in l]
        if res.returncode != 0:
            lines += ["    " + l for l in out[-60:]]
        return res.returncode == 0, lines

    def main(self):
        phases = self.opts.phases.split(",")
        t = time.monotonic()
        self.swift = saio.Saio(base_dir=self.run_dir)
        try:
            self.swift.start()
            self.swift.wait_ready()
            for c in ("fractals", "fractals_segments"):
                self.swift.put_container(c)
            self.cat = catalogue.Catalogue(random.Random(self.opts.seed))
            self.cat.fill(self.swift)
            log("swift ready, %d objects uploaded in %.0f s" % (
                len(self.cat.everything()), time.monotonic() - t))
            for name in ("keepalive", "slowloris", "mixed"):
                if name in phases:
                    self.phase(name, getattr(self, name))
        finally:
            self.swift.stop()
        if "crash" in phases:
            self.phase("crash", self.crash)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--phases", default="keepalive,slowloris,mixed,crash")
    ap.add_argument("--minutes", type=int,
                    default=int(os.environ.get("SOAK_MINUTES") or 10))
    ap.add_argument("--conns", type=int, default=5000)
    ap.add_argument("--slowloris", type=int, default=1000)
    ap.add_argument("--slowloris-seconds", type=int, default=75)
    ap.add_argument("--header-timeout", type=int, default=30,
                    help="the gateway's header_timeout, seconds")
    ap.add_argument("--crash-pattern", default="crash")
    ap.add_argument("--crash-rounds", type=int, default=20)
    ap.add_argument("--crash-timeout", type=int, default=1800,
                    help="seconds per crash-loop test")
    ap.add_argument("--max-slope", type=int, default=MAX_SLOPE_KIB,
                    help="KiB/min of RSS growth allowed after warm-up")
    ap.add_argument("--sanitize", action="store_true",
                    help="a sanitizer build: RSS flatness is not judged")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--report", help="write the Markdown report here too")
    opts = ap.parse_args()
    opts.bin = os.path.abspath(opts.bin)
    raise_nofile(opts.conns + 1024 if "keepalive" in opts.phases else 0)
    run_dir = tempfile.mkdtemp(prefix="swiftgate-soak-")
    run = Run(opts, run_dir)
    cmd = " ".join(shlex.quote(a) for a in sys.argv)
    try:
        run.main()
    finally:
        text = "\n".join(["## Soak", "", "`%s` (%s, %d CPUs)" % (
            cmd, time.strftime("%Y-%m-%d %H:%M"), os.cpu_count()), ""]
            + run.report + ["result: %s" % ("pass" if run.ok else "FAIL")])
        if opts.report:
            os.makedirs(os.path.dirname(os.path.abspath(opts.report)),
                        exist_ok=True)
            with open(opts.report, "w") as f:
                f.write(text + "\n")
        if run.ok:
            shutil.rmtree(run_dir, ignore_errors=True)
        else:
            log("run directory kept: %s" % run_dir)
    log("soak: %s" % ("passed" if run.ok else "FAILED"))
    return 0 if run.ok else 1


if __name__ == "__main__":
    sys.exit(main())
