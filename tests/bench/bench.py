#!/usr/bin/python3
"""`make bench`: swiftgate side by side with nginx proxy_cache and Varnish.

    /usr/bin/python3 tests/bench/bench.py --bin ./swiftgate
    BENCH_QUICK=1     2 s runs, 1 pass, fewer samples (a smoke run)
    BENCH_DURATION=10s  length of each wrk run (default 10s; quick: 2s)
    BENCH_PASSES=3    passes over the hit cases (default 3; quick: 1)
    BENCH_KEEP=1      keep the temp dir (configs, logs) for inspection
    BENCH_PHASES=...  run only these phases, comma-separated, of
                      hits,syscalls,warm,pinned,swift,slo,distance,slow
                      (default: all); the same as --phases
    BENCH_SLO_ROUNDS=N  rounds of the cold 64 MiB SLO (default 5; quick:
                      2); the same as --slo-rounds
    --slo-parallelism N   [swift] segment_parallelism for that scenario
                      (default: the gateway's own)
    --slo-swift-workers N  Swift's workers for it (default 0: one process
                      per Swift server, as everywhere else in the bench)
    BENCH_DISTANCE_ROUNDS=N  rounds of the same SLO with the object
                      server 2 ms away (default 5; quick: 2); the same as
                      --distance-rounds
    BENCH_DISTANCE_HOLD=answer|request  what the relay holds 2 ms: the
                      first bytes of each answer (default) or of each
                      request; the same as --distance-hold
    BENCH_RESULTS=DIR where to write the results (default
                      tests/bench/results, or tests/bench/results/partial
                      when only some phases run, so that a partial run
                      does not replace the full report); --results

Only the cold 64 MiB SLO, against a freshly built gateway:

    /usr/bin/python3 tests/bench/bench.py --bin ./swiftgate --phases slo

The same with Swift's object server 2 ms away:

    /usr/bin/python3 tests/bench/bench.py --bin ./swiftgate --phases distance

Phases (all on 127.0.0.1, every server our own process on a free port):

 1. hits, unpinned then pinned (server on CPU 0, wrk on CPU 1): an nginx
    static origin shaped like Swift; swiftgate, nginx proxy_cache and
    Varnish in front of it, warmed; wrk -c64 -t2 --latency for each case,
    the servers taking turns; the origin itself as the "no proxy" row.
 2. memory: swiftgate (and the peers) with 1,000 and 5,000 slow readers
    of 16 MiB objects.
    syscalls (syscalls.py): for each hit case and each of swiftgate, nginx
    and Varnish, a 2 s wrk run of its own with `strace -c -f` attached to
    every process and thread of the server: syscalls per request.  Done
    on the servers of the unpinned hit phase when that runs too (after
    its timed runs, so their figures stay clean), else on servers of its
    own.
 3. `swiftgate warm` throughput at -j 1, 8, 32, if the command exists.
 4. misses and SLO against the real test Swift (tests/lib/saio.py).
 5. cold 64 MiB SLO (slo_cold.py): one GET of a never-read SLO of 64 x
    1 MiB segments, swiftgate reassembling it from an empty cache against
    Swift's own reassembly; a fresh object every round.
 6. distance (distance.py): the same, with the object server reached
    through a relay (relay.py) that holds each of its answers 2 ms, as a
    disk seek and a network hop would; the relay's delay checked first.
 7. 50 clients on one cold object behind an origin that takes 7 s
    (tests/lib/faultorigin.py with delay=7).

Results: tests/bench/results/latest.md (+ a timestamped copy),
latest.json and latest.png.  See report.py.
"""

import argparse
import hashlib
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
sys.path.insert(0, HERE)

import httputil  # noqa: E402
import load  # noqa: E402
import procs  # noqa: E402
import report  # noqa: E402
import saio  # noqa: E402
import servers  # noqa: E402
import distance  # noqa: E402
import slo_cold  # noqa: E402
import syscalls  # noqa: E402

MiB = 1 << 20
KiB = 1 << 10

HIT_CASES = [
    ("hot4k", "4 KiB hot"),
    ("hot100k", "100 KiB hot"),
    ("hot1m", "1 MiB hot"),
    ("hot16m", "16 MiB hot"),
    ("many100k", "1,000 x 100 KiB random"),
]
SIZES = {"hot4k": 4 * KiB, "hot100k": 100 * KiB, "hot1m": MiB,
         "hot16m": 16 * MiB}
SERVER_ORDER = ["swiftgate", "nginx", "varnish", "origin"]
PHASES = ("hits", "syscalls", "warm", "pinned", "swift", "slo", "distance",
          "slow")
PINNED_SERVER_CPU = {0}
PINNED_WRK_CPU = {1}
SYSCALL_RUN_S = 2.0         # each wrk run under strace
SYSCALL_SERVERS = ("swiftgate", "nginx", "varnish")


def log(msg):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def parse_duration(text):
    text = str(text).strip().lower()
    if text.endswith("ms"):
        return float(text[:-2]) / 1000
    if text.endswith("s"):
        return float(text[:-1])
    if text.endswith("m"):
        return float(text[:-1]) * 60
    return float(text)


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


class Bench:
    def __init__(self, args):
        self.bin = os.path.abspath(args.bin)
        self.quick = os.environ.get("BENCH_QUICK", "") not in ("", "0", "no")
        self.duration = parse_duration(
            os.environ.get("BENCH_DURATION") or ("2s" if self.quick
                                                 else "10s"))
        self.passes = int(os.environ.get("BENCH_PASSES")
                          or (1 if self.quick else 3))
        self.keep = os.environ.get("BENCH_KEEP", "") not in ("", "0", "no")
        self.samples = 1 if self.quick else 3
        self.hold_s = 2.0 if self.quick else 3.0
        self.tmp = tempfile.mkdtemp(prefix="swiftgate-bench-")
        os.chmod(self.tmp, 0o755)
        self.results = {
            "meta": {}, "hits": {}, "memory": {}, "warm": {},
            "miss_single": {}, "coalesce": {}, "slo": {}, "slo_cold": {},
            "distance": {}, "syscalls": {}, "problems": [],
        }
        self.objects = {}       # key -> [uuid, ...]
        self.noisy = []         # runs other processes disturbed
        self.quiet_budget_total = 15.0 if self.quick else 90.0
        self.quiet_budget = self.quiet_budget_total
        self.etags = {}         # uuid -> md5
        self.t_start = time.monotonic()
        self.only = chosen_phases(args)
        self.slo_rounds = int(args.slo_rounds or
                              os.environ.get("BENCH_SLO_ROUNDS") or
                              (2 if self.quick else 5))
        self.distance_rounds = int(args.distance_rounds or
                                   os.environ.get("BENCH_DISTANCE_ROUNDS") or
                                   (2 if self.quick else 5))
        self.distance_hold = (args.distance_hold
                              or os.environ.get("BENCH_DISTANCE_HOLD")
                              or "answer")
        if self.distance_hold not in distance.HOLDS:
            raise SystemExit("BENCH_DISTANCE_HOLD=%s: one of %s"
                             % (self.distance_hold, ", ".join(distance.HOLDS)))
        self.slo_parallelism = args.slo_parallelism
        self.slo_swift_workers = args.slo_swift_workers
        partial = bool(self.only) and set(self.only) != set(PHASES)
        self.results_dir = (args.results or os.environ.get("BENCH_RESULTS")
                            or (os.path.join(HERE, "results", "partial")
                                if partial else os.path.join(HERE,
                                                             "results")))

    # ---- bookkeeping -----------------------------------------------------

    def problem(self, text):
        log("PROBLEM: " + text)
        self.results["problems"].append(text)

    def meta(self):
        def ver(argv):
            try:
                r = subprocess.run(argv, capture_output=True, text=True,
                                   timeout=10)
                return (r.stdout + r.stderr).strip().splitlines()[0]
            except (OSError, IndexError, subprocess.SubprocessError):
                return "?"
        try:
            rev = subprocess.run(["git", "-C", ROOT, "describe", "--always",
                                  "--dirty"], capture_output=True, text=True,
                                 timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            rev = "?"
        with open("/proc/cpuinfo") as f:
            model = next((l.split(":", 1)[1].strip() for l in f
                          if l.startswith("model name")), "?")
        self.results["meta"] = {
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "stamp": time.strftime("%Y%m%d-%H%M%S"),
            "git": rev, "quick": self.quick, "duration_s": self.duration,
            "passes": self.passes, "cpus": os.cpu_count(), "cpu": model,
            "memory_hold_s": self.hold_s,
            "kernel": os.uname().release,
            "swiftgate": ver([self.bin, "--version"]),
            "nginx": ver(["nginx", "-v"]),
            "varnish": ver(["varnishd", "-V"]),
            "wrk": ver(["wrk", "-v"]),
        }

    # ---- objects -----------------------------------------------------------

    def make_objects(self):
        """Random bodies under www/v1/AUTH_test/fractals/<uuid>."""
        self.www = os.path.join(self.tmp, "www")
        d = os.path.join(self.www, "v1", "AUTH_test", "fractals")
        os.makedirs(d)
        rnd = random.Random(20240601)
        plan = [("hot4k", 1, 4 * KiB), ("hot100k", 1, 100 * KiB),
                ("hot1m", 1, MiB), ("hot16m", 1, 16 * MiB),
                ("many100k", 1000, 100 * KiB), ("mem16m", 3, 16 * MiB)]
        for key, n, size in plan:
            names = []
            for _ in range(n):
                name = str(uuid.UUID(int=rnd.getrandbits(128), version=4))
                data = rnd.randbytes(size)
                with open(os.path.join(d, name), "wb") as f:
                    f.write(data)
                self.etags[name] = hashlib.md5(data).hexdigest()
                names.append(name)
            self.objects[key] = names
        os.system("chmod -R a+rX %s" % self.www)
        # Path lists for wrk.lua, one per URL shape.
        self.paths_files = {}
        for shape, prefix in (("fractal", "/fractal/"),
                              ("origin", "/v1/AUTH_test/fractals/")):
            p = os.path.join(self.tmp, "many100k.%s.paths" % shape)
            with open(p, "w") as f:
                f.write("".join(prefix + n + "\n"
                                for n in self.objects["many100k"]))
            self.paths_files[shape] = p

    # ---- hit phase ---------------------------------------------------------

    def start_hit_servers(self, variant):
        cpus = PINNED_SERVER_CPU if variant == "pinned" else None
        workers = 1 if variant == "pinned" else os.cpu_count()
        base = os.path.join(self.tmp, variant)
        origin = servers.NginxOrigin(os.path.join(base, "origin"), self.www)
        origin.start(self.etags, workers=workers, cpus=cpus)
        self.live = [origin]
        ng = servers.NginxProxy(os.path.join(base, "nginx"))
        ng.start(origin.port, origin.prefix, origin.token, workers=workers,
                 cpus=cpus)
        self.live.append(ng)
        va = servers.Varnish(os.path.join(base, "varnish"))
        va.start(origin.port, origin.prefix, origin.token, cpus=cpus)
        self.live.append(va)
        sg = servers.Swiftgate(os.path.join(base, "swiftgate"), self.bin)
        sg.start({"auth_version": "static",
                  "storage_url": origin.storage_url, "token": origin.token,
                  "auth_url": None, "user": None, "key": None,
                  "container": "fractals"},
                 workers=1 if variant == "pinned" else "auto", cpus=cpus)
        self.live.append(sg)
        return {"origin": origin, "nginx": ng, "varnish": va,
                "swiftgate": sg}

    def stop_servers(self, what):
        for s in self.live:
            rc = s.stop()
            if isinstance(s, servers.Swiftgate):
                bad = s.exit_problem()
                if bad:
                    self.problem("%s: swiftgate did not exit cleanly: %s"
                                 % (what, bad.splitlines()[0]))
            elif rc not in (0, None, -15):
                self.problem("%s: %s exited %s" % (what, s.name, rc))
        self.live = []

    def all_names(self):
        out = []
        for key in ("hot4k", "hot100k", "hot1m", "hot16m", "many100k",
                    "mem16m"):
            out.extend(self.objects[key])
        return out

    def warm_up(self, srv, what):
        """GET every object twice through srv; the second time must be a
        hit.  Returns the number of misses on the second pass."""
        names = self.all_names()
        host = "127.0.0.1:%d" % srv.port
        import http.client
        misses = bad = 0
        for round_ in (1, 2):
            conn = http.client.HTTPConnection(host, timeout=60)
            for name in names:
                conn.request("GET", srv.path(name))
                r = conn.getresponse()
                body = r.read()
                if r.status != 200 or len(body) != self._size(name):
                    bad += 1
                    if bad <= 3:
                        self.problem("%s warm-up: %s %s -> %d, %d bytes"
                                     % (what, srv.name, name, r.status,
                                        len(body)))
                elif round_ == 2 and srv.name != "origin":
                    res = srv.cache_result(r.headers) or ""
                    if res.upper() != "HIT":
                        misses += 1
                if r.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = http.client.HTTPConnection(host, timeout=60)
            conn.close()
            if round_ == 1 and srv.name == "swiftgate":
                time.sleep(0.5)     # index commits are batched
        if misses:
            self.problem("%s warm-up: %s: %d of %d objects not a HIT on the "
                         "second GET" % (what, srv.name, misses, len(names)))
        return misses

    def _size(self, name):
        for key, names in self.objects.items():
            if name in names:
                return {"many100k": 100 * KiB,
                        "mem16m": 16 * MiB}.get(key, SIZES.get(key))
        return None

    def wrk_target(self, srv, case):
        """(url, paths_file) for wrk."""
        shape = "origin" if srv.name == "origin" else "fractal"
        if case == "many100k":
            return srv.url + "/", self.paths_files[shape]
        return srv.url + srv.path(self.objects[case][0]), None

    def one_run(self, variant, srv, case, duration):
        url, paths = self.wrk_target(srv, case)
        srv.refresh()
        mem = {}

        def sample():
            for k, v in srv.memory().items():
                mem[k] = max(mem.get(k, 0), v)

        before_m = srv.metrics() if srv.name == "swiftgate" else None
        waited = self.wait_quiet(srv)
        mine = set(servers.process_tree(srv.proc.pid)) | {os.getpid()}
        snap0 = servers.user_process_ticks()
        cpu0 = srv.cpu()
        res = load.run_wrk(url, duration, paths_file=paths,
                           cpus=PINNED_WRK_CPU if variant == "pinned"
                           else None, sample=sample,
                           on_start=lambda pid: mine.add(pid))
        cpu1 = srv.cpu()
        foreign = servers.foreign_cpu_seconds(
            snap0, servers.user_process_ticks(), mine)
        sample()
        dur = res["duration_us"] / 1e6
        gb = res["bytes"] / 1e9
        run = {
            "rps": res["requests"] / dur if dur else 0.0,
            "mbps": res["bytes"] / 1e6 / dur if dur else 0.0,
            "p50_ms": res["p50_us"] / 1000, "p99_ms": res["p99_us"] / 1000,
            "max_ms": res["max_us"] / 1000,
            "requests": res["requests"], "bytes": res["bytes"],
            "cpu_s": cpu1 - cpu0,
            "cpu_s_per_gb": (cpu1 - cpu0) / gb if gb else None,
            "rss_kib": mem.get("rss"), "pss_kib": mem.get("pss"),
            "anon_kib": mem.get("anon"), "file_kib": mem.get("file"),
            "errors": {k[4:]: res[k] for k in res if k.startswith("err_")
                       and res[k]},
            "wrk_cpu_s": res["wrk_cpu_s"], "foreign_cpu_s": foreign,
            "waited_quiet_s": waited,
        }
        tag = "%s %s %s" % (variant, case, srv.name)
        if foreign > 0.05 * dur * (os.cpu_count() or 1):
            self.noisy.append("%s: %.1f CPU-s" % (tag, foreign))
        if run["errors"]:
            self.problem("%s: wrk counted errors %s of %d requests"
                         % (tag, run["errors"], res["requests"]))
        if before_m is not None:
            notes = servers.metrics_delta(before_m, srv.metrics(),
                                          aborts_ok=64)
            if notes:
                self.problem("%s: swiftgate metrics: %s"
                             % (tag, "; ".join(notes)))
        if not srv.alive():
            self.problem("%s: %s died (exit %s)" % (tag, srv.name,
                                                    srv.proc.returncode))
        log("%-8s %-9s %-9s %9.0f req/s %8.0f MB/s p50 %7.2f ms p99 %7.2f "
            "ms cpu %5.2f s (%s s/GB) wrk %.2f s, others %.2f s; rss %d "
            "KiB pss %d KiB%s"
            % (variant, case, srv.name, run["rps"], run["mbps"],
               run["p50_ms"], run["p99_ms"], run["cpu_s"],
               "%.2f" % run["cpu_s_per_gb"] if run["cpu_s_per_gb"] else "-",
               run["wrk_cpu_s"], foreign, run["rss_kib"], run["pss_kib"],
               " errors %s" % run["errors"] if run["errors"] else ""))
        return run

    def wait_quiet(self, srv):
        """Before a timed run: while other processes on the machine use
        more than 10% of a core, wait (1 s steps, at most 10 s per run and
        QUIET_BUDGET_S in all).  Returns the seconds waited."""
        waited = 0.0
        mine = set(servers.process_tree(srv.proc.pid)) | {os.getpid()}
        while True:
            a = servers.user_process_ticks()
            time.sleep(0.3)
            busy = servers.foreign_cpu_seconds(
                a, servers.user_process_ticks(), mine) / 0.3
            if busy <= 0.10 or waited >= 10 or self.quiet_budget <= 0:
                return waited
            time.sleep(1.0)
            waited += 1.5
            self.quiet_budget -= 1.5

    def hit_phase(self, variant, passes, cases):
        """cases: the HIT_CASES keys to run.  Every server runs every case
        once per pass; the servers' order rotates from pass to pass."""
        log("hits, %s: starting servers" % variant)
        srvs = self.start_hit_servers(variant)
        order = list(SERVER_ORDER)
        try:
            for name in order:
                self.warm_up(srvs[name], variant)
            # Let the cache writes of the warm-up reach the disk before
            # anything is timed.
            os.sync()
            time.sleep(1.0)
            if not self.quick:
                # A short wrk warm-up of every server on the 100 KiB object.
                for name in order:
                    load.run_wrk(self.wrk_target(srvs[name], "hot100k")[0],
                                 2, cpus=PINNED_WRK_CPU
                                 if variant == "pinned" else None)
            out = self.results["hits"].setdefault(variant, {})
            for p in range(passes):
                rot = order[p % len(order):] + order[:p % len(order)]
                for case, _ in HIT_CASES:
                    if case not in cases:
                        continue
                    for name in rot:
                        run = self.one_run(variant, srvs[name], case,
                                           self.duration)
                        out.setdefault(case, {}).setdefault(name, []) \
                            .append(run)
            if variant == "unpinned" and self.wanted("syscalls"):
                self.syscall_runs(srvs, cases)
            if variant == "unpinned":
                self.memory_phase(srvs)
        finally:
            self.stop_servers("hits %s" % variant)

    # ---- syscalls per request ------------------------------------------------

    def wanted(self, phase):
        return not self.only or phase in self.only

    def syscall_runs(self, srvs, cases):
        """A wrk run of SYSCALL_RUN_S per case and server with strace
        attached; results["syscalls"]["cases"][case][server]."""
        out = self.results["syscalls"]
        out.update({"duration_s": SYSCALL_RUN_S, "strace": syscalls.version(),
                    "cases": out.get("cases") or {}})
        work = os.path.join(self.tmp, "strace")
        os.makedirs(work, exist_ok=True)
        for case, _ in HIT_CASES:
            if case not in cases:
                continue
            for name in SYSCALL_SERVERS:
                srv = srvs[name]
                url, paths = self.wrk_target(srv, case)
                srv.refresh()
                try:
                    row = syscalls.measure(srv.pids(), url, paths,
                                           SYSCALL_RUN_S, work,
                                           "%s-%s" % (case, name))
                except (syscalls.StraceError, load.LoadError, OSError) as e:
                    row = {"error": str(e)[:300]}
                    self.problem("syscalls %s %s: %s" % (case, name,
                                                         row["error"]))
                out["cases"].setdefault(case, {})[name] = row
                if "error" not in row:
                    log("syscalls %-9s %-9s %7.1f per request (%d in %d "
                        "requests, %d of %d threads attached); top: %s"
                        % (case, name, row["per_request"] or -1,
                           row["syscalls"], row["requests"],
                           row["attached"], row["threads"],
                           ", ".join("%s %.2f" % (n, per or 0)
                                     for n, _, per in row["top"][:5])))
                    if row["wrk_errors"]:
                        self.problem("syscalls %s %s: wrk counted errors %s "
                                     "of %d requests" % (
                                         case, name, row["wrk_errors"],
                                         row["requests"]))
                if not srv.alive():
                    self.problem("syscalls %s: %s died (exit %s)"
                                 % (case, name, srv.proc.returncode))
                    return

    def syscall_phase(self):
        """The syscalls phase on servers of its own, unless the hit phase
        has already measured it on its servers."""
        if self.results["syscalls"].get("cases"):
            log("syscalls: measured in the hit phase")
            return
        log("syscalls: starting servers")
        srvs = self.start_hit_servers("syscalls")
        try:
            for name in SYSCALL_SERVERS:
                self.warm_up(srvs[name], "syscalls")
            os.sync()
            time.sleep(1.0)
            self.syscall_runs(srvs, [c for c, _ in HIT_CASES])
        finally:
            self.stop_servers("syscalls")

    # ---- memory ------------------------------------------------------------

    def memory_phase(self, srvs):
        paths16 = [self.objects["hot16m"][0]] + self.objects["mem16m"]
        out = self.results["memory"]
        peers = () if self.quick else ("nginx", "varnish")
        plan = [(1000, ("swiftgate",) + peers),
                (5000, ("swiftgate",) + peers)]
        for n, names in plan:
            for name in names:
                srv = srvs[name]
                srv.refresh()
                idle = srv.memory()

                def sample(srv=srv):
                    return srv.memory()
                before_m = srv.metrics() if name == "swiftgate" else None
                st = load.slow_readers(srv.port,
                                       [srv.path(x) for x in paths16], n,
                                       hold_s=self.hold_s,
                                       connect_budget_s=15.0 if n <= 1000
                                       else 30.0, sample=sample)
                m = st["sample"] or {}
                row = {"idle_rss_kib": idle["rss"],
                       "idle_anon_kib": idle["anon"],
                       "rss_kib": m.get("rss"), "pss_kib": m.get("pss"),
                       "anon_kib": m.get("anon"), "file_kib": m.get("file"),
                       "pss_anon_kib": m.get("pss_anon"),
                       "opened": st["opened"], "answered": st["answered"],
                       "reading": st["reading"], "status": st["status"],
                       "errors": st["errors"],
                       "elapsed_s": round(st["elapsed_s"], 1)}
                out.setdefault(str(n), {})[name] = row
                log("memory %d slow readers %-9s rss %s anon %s file %s pss "
                    "%s KiB (idle rss %d anon %d) opened %d answered %d "
                    "reading %d status %s errors %d in %.1f s"
                    % (n, name, m.get("rss"), m.get("anon"), m.get("file"),
                       m.get("pss"), idle["rss"], idle["anon"],
                       st["opened"], st["answered"], st["reading"],
                       st["status"], st["errors"], st["elapsed_s"]))
                if st["reading"] < n:
                    self.problem("memory %d: %s: only %d of %d readers got "
                                 "their first 64 KiB (statuses %s, %d socket "
                                 "errors)" % (n, name, st["reading"], n,
                                              st["status"], st["errors"]))
                if before_m is not None:
                    time.sleep(0.5)
                    notes = [x for x in servers.metrics_delta(
                        before_m, srv.metrics(), aborts_ok=n)
                        if "origin" not in x]
                    if notes:
                        self.problem("memory %d: swiftgate metrics: %s"
                                     % (n, "; ".join(notes)))
                if not srv.alive():
                    self.problem("memory %d: %s died (exit %s)"
                                 % (n, name, srv.proc.returncode))
                    return
                time.sleep(0.5)

    # ---- warm --------------------------------------------------------------

    def warm_phase(self):
        out = self.results["warm"]
        try:
            r = subprocess.run([self.bin, "warm", "--help"],
                               capture_output=True, text=True, timeout=10)
            ok = r.returncode == 0
        except (OSError, subprocess.SubprocessError):
            ok = False
        if not ok:
            out["status"] = "not available yet (`swiftgate warm --help` " \
                            "fails)"
            log("warm: " + out["status"])
            return
        out["status"] = "ok"
        base = os.path.join(self.tmp, "warm")
        origin = servers.NginxOrigin(os.path.join(base, "origin"), self.www)
        origin.start(self.etags, workers=os.cpu_count())
        self.live = [origin]
        listfile = os.path.join(base, "uuids.txt")
        with open(listfile, "w") as f:
            f.write("".join(n + "\n" for n in self.objects["many100k"]))
        try:
            for j in (1, 8, 32):
                sg = servers.Swiftgate(os.path.join(base, "sg%d" % j),
                                       self.bin)
                sg.start({"auth_version": "static",
                          "storage_url": origin.storage_url,
                          "token": origin.token, "auth_url": None,
                          "user": None, "key": None})
                self.live.append(sg)
                t0 = time.monotonic()
                try:
                    r = subprocess.run([self.bin, "warm", "-g", sg.url,
                                        "-j", str(j), listfile,
                                        "--summary-json"],
                                       capture_output=True, text=True,
                                       timeout=120)
                    wall = time.monotonic() - t0
                    summary = None
                    for line in reversed(r.stdout.splitlines()):
                        line = line.strip()
                        if line.startswith("{"):
                            try:
                                summary = json.loads(line)
                                break
                            except ValueError:
                                pass
                    secs = (summary or {}).get("seconds") or wall
                    warmed = (summary or {}).get("warmed", 0)
                    # Were they really cached?  50 of them, GET: X-Cache.
                    probe = random.Random(j).sample(
                        self.objects["many100k"], 50)
                    hits = sum(1 for n in probe if (load.timed_get(
                        sg.port, sg.path(n))["headers"].get("x-cache")
                        == "HIT"))
                    row = {"rc": r.returncode, "wall_s": wall,
                           "seconds": secs, "summary": summary,
                           "probe_hits": "%d/50" % hits,
                           "objects_per_s": warmed / secs,
                           "mbps": warmed * 100 * KiB / 1e6 / secs}
                    if hits < 50:
                        self.problem("warm -j %d: only %d of 50 warmed "
                                     "objects probed were a HIT afterwards"
                                     % (j, hits))
                    if r.returncode != 0 or summary is None:
                        row["error"] = (r.stderr or r.stdout)[-500:]
                        self.problem("warm -j %d: exit %d, summary %s: %s"
                                     % (j, r.returncode, summary,
                                        row["error"].strip()[-200:]))
                except subprocess.TimeoutExpired:
                    row = {"error": "timed out after 120 s"}
                    self.problem("warm -j %d timed out" % j)
                out[str(j)] = row
                log("warm -j %d: %s" % (j, {k: v for k, v in row.items()
                                            if k != "summary"}))
                sg.stop()
                self.live.remove(sg)
        finally:
            self.stop_servers("warm")

    # ---- Swift phase: misses and SLO ---------------------------------------

    def swift_phase(self):
        log("swift: starting the test Swift")
        sw = saio.Saio(base_dir=self.tmp)
        try:
            sw.start()
            sw.wait_ready()
            for c in ("fractals", "fractals_segments"):
                sw.put_container(c)
            storage_url, token = sw.auth()
            rnd = random.Random(77)
            small = str(uuid.uuid4())
            sw.put_object("fractals", small, rnd.randbytes(4 * KiB),
                          "image/png")
            cold = []
            for _ in range(self.samples):
                name = str(uuid.uuid4())
                sw.put_object("fractals", name, rnd.randbytes(16 * MiB),
                              "image/png")
                cold.append(name)
            herd = str(uuid.uuid4())
            sw.put_object("fractals", herd, rnd.randbytes(16 * MiB),
                          "image/png")
            slos = [self.put_slo(sw, rnd) for _ in range(self.samples)]
            log("swift: objects uploaded")

            prefix = urllib.parse.urlparse(storage_url).path + "/fractals"
            base = os.path.join(self.tmp, "swift-peers")
            ng = servers.NginxProxy(os.path.join(base, "nginx"))
            ng.start(sw.ports["proxy"], prefix, token,
                     workers=os.cpu_count())
            self.live = [ng]
            va = servers.Varnish(os.path.join(base, "varnish"))
            va.start(sw.ports["proxy"], prefix, token)
            self.live.append(va)
            sg = servers.Swiftgate(os.path.join(base, "swiftgate"), self.bin)
            sg.start({"auth_version": "1", "auth_url": sw.auth_url,
                      "user": saio.USER, "key": saio.KEY,
                      "container": "fractals"}, workers="auto")
            self.live.append(sg)
            srvs = {"swiftgate": sg, "nginx": ng, "varnish": va}
            for s in srvs.values():     # connections and token in place
                r = load.timed_get(s.port, s.path(small))
                if r["status"] != 200:
                    self.problem("swift warm-up: %s answered %d"
                                 % (s.name, r["status"]))
            direct_hdr = {"X-Auth-Token": token}
            direct_port = sw.ports["proxy"]

            # Single cold 16 MiB object.
            out = self.results["miss_single"]
            for i, name in enumerate(cold):
                order = ["direct"] + list(srvs)
                order = order[i % 4:] + order[:i % 4]
                for sname in order:
                    if sname == "direct":
                        r = load.timed_get(direct_port, "%s/%s"
                                           % (prefix, name), direct_hdr)
                        self._check_get("cold 16 MiB direct", r, 16 * MiB)
                        out.setdefault("direct", []).append(self._timing(r))
                        continue
                    s = srvs[sname]
                    r = load.timed_get(s.port, s.path(name))
                    self._check_get("cold 16 MiB %s" % sname, r, 16 * MiB)
                    out.setdefault(sname, []).append(self._timing(r, s))
                    r2 = load.timed_get(s.port, s.path(name))
                    out.setdefault(sname + " (hit after)", []).append(
                        self._timing(r2, s))
            log("miss single: %s" % json.dumps(
                {k: [(x["ttfb_ms"], x["total_ms"]) for x in v]
                 for k, v in out.items()}))

            # 50 clients on one cold object, fast origin (Swift).
            path_re = "%s/%s\\S*" % (prefix, herd)
            co = self.results["coalesce"].setdefault("fast", {})
            for sname in ("swiftgate", "nginx", "varnish"):
                s = srvs[sname]
                before = sw.proxy_log_count("GET|HEAD", path_re)
                rs = load.concurrent_gets(s.port, s.path(herd), 50,
                                          timeout=120)
                after = sw.proxy_log_count("GET|HEAD", path_re)
                co[sname] = self._herd_row(rs, after - before, "fast",
                                           sname, 16 * MiB)
            # The same with a one-worker swiftgate (a cold cache of its
            # own): do readers on a second worker thread lag?
            sg1 = servers.Swiftgate(os.path.join(base, "swiftgate-w1"),
                                    self.bin)
            sg1.start({"auth_version": "1", "auth_url": sw.auth_url,
                       "user": saio.USER, "key": saio.KEY,
                       "container": "fractals"}, workers=1)
            self.live.append(sg1)
            load.timed_get(sg1.port, sg1.path(small))
            before = sw.proxy_log_count("GET|HEAD", path_re)
            rs = load.concurrent_gets(sg1.port, sg1.path(herd), 50,
                                      timeout=120)
            after = sw.proxy_log_count("GET|HEAD", path_re)
            co["swiftgate-w1"] = self._herd_row(rs, after - before, "fast",
                                                "swiftgate-w1", 16 * MiB)
            # SLO: cold and warm through each, Swift's own reassembly.
            so = self.results["slo"]
            for i, (name, size) in enumerate(slos):
                order = ["direct"] + list(srvs)
                order = order[i % 4:] + order[:i % 4]
                for sname in order:
                    if sname == "direct":
                        r = load.timed_get(direct_port, "%s/%s"
                                           % (prefix, name), direct_hdr)
                        self._check_get("SLO direct", r, size)
                        so.setdefault("direct", []).append(self._timing(r))
                        continue
                    s = srvs[sname]
                    r = load.timed_get(s.port, s.path(name))
                    self._check_get("SLO cold %s" % sname, r, size)
                    so.setdefault(sname + " cold", []).append(
                        self._timing(r, s))
                    r = load.timed_get(s.port, s.path(name))
                    self._check_get("SLO warm %s" % sname, r, size)
                    so.setdefault(sname + " warm", []).append(
                        self._timing(r, s))
            log("slo: %s" % json.dumps(
                {k: [(x["ttfb_ms"], x["total_ms"], x.get("cache"))
                     for x in v] for k, v in so.items()}))
        finally:
            self.stop_servers("swift phase")
            sw.cleanup()

    def put_slo(self, sw, rnd):
        """64 x 1 MiB segments and an SLO manifest; (name, size)."""
        name = str(uuid.uuid4())
        manifest = []
        for i in range(64):
            seg = rnd.randbytes(MiB)
            sname = "%s/%03d" % (name, i)
            etag = sw.put_object("fractals_segments", sname, seg)
            manifest.append({"path": "/fractals_segments/" + sname,
                             "etag": etag, "size_bytes": MiB})
        url = sw.object_url("fractals", name) + "?multipart-manifest=put"
        r = sw.request("PUT", url, {"Content-Type": "image/png"},
                       json.dumps(manifest).encode())
        if r.status != 201:
            raise RuntimeError("SLO manifest PUT: HTTP %d %r"
                               % (r.status, r.body[:200]))
        return name, 64 * MiB

    def _timing(self, r, srv=None):
        row = {"status": r["status"],
               "ttfb_ms": round(r["ttfb_s"] * 1000, 2)
               if r["ttfb_s"] is not None else None,
               "total_ms": round(r["total_s"] * 1000, 2),
               "bytes": r["bytes"]}
        if srv is not None:
            h = r["headers"]
            row["cache"] = h.get("x-cache") or h.get("x-cache-status")
        return row

    def _check_get(self, what, r, size):
        if r["status"] != 200 or not r["complete"] or r["bytes"] != size:
            self.problem("%s: status %d, %d of %d bytes%s"
                         % (what, r["status"], r["bytes"], size,
                            "" if r["complete"] else " (cut short)"))

    def _herd_row(self, rs, origin_requests, kind, sname, size):
        ok = [r for r in rs if r and r["status"] == 200 and r["complete"]
              and r["bytes"] == size]
        firsts = sorted(r["ttfb_s"] for r in rs
                        if r and r["ttfb_s"] is not None)
        totals = sorted(r["total_s"] for r in rs
                        if r and r["total_s"] is not None)
        row = {"origin_requests": origin_requests, "ok": len(ok),
               "clients": len(rs),
               "ttfb_min_ms": firsts[0] * 1000 if firsts else None,
               "ttfb_p50_ms": statistics.median(firsts) * 1000
               if firsts else None,
               "ttfb_max_ms": firsts[-1] * 1000 if firsts else None,
               "ttfb_spread_ms": (firsts[-1] - firsts[0]) * 1000
               if firsts else None,
               "sent_spread_ms": (max(r["sent_s"] for r in rs if r.get(
                   "sent_s") is not None) * 1000) if rs else None,
               "total_p50_ms": statistics.median(totals) * 1000
               if totals else None,
               "total_max_ms": totals[-1] * 1000 if totals else None,
               "ttfb_all_ms": [round(x * 1000, 1) for x in firsts]}
        log("50 clients, %s origin, %s: %s" % (kind, sname, json.dumps(
            {k: round(v, 1) if isinstance(v, float) else v
             for k, v in row.items()})))
        if len(ok) != len(rs):
            bad = [(r["status"], r["bytes"], r.get("error"))
                   for r in rs if r not in ok][:5]
            self.problem("50 clients, %s origin, %s: %d of %d complete 200s "
                         "(first bad: %s)" % (kind, sname, len(ok), len(rs),
                                              bad))
        return row

    # ---- slow origin ---------------------------------------------------------

    def slow_origin_phase(self):
        log("slow origin: faultorigin with delay=7")
        fo = subprocess.Popen([sys.executable, os.path.join(HERE,
                                                            "faultserve.py")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)

        def cmd(line):
            fo.stdin.write(line + "\n")
            fo.stdin.flush()
            return fo.stdout.readline().strip()
        try:
            ready = fo.stdout.readline().split()
            if not ready or ready[0] != "ready":
                raise RuntimeError("faultserve did not start: %r" % ready)
            port, token = int(ready[1]), ready[2]
            small = str(uuid.uuid4())
            cmd("put %s 4096 1" % small)
            herd = str(uuid.uuid4())
            cmd("put %s %d 2 delay=7" % (herd, 16 * MiB))
            storage = "http://127.0.0.1:%d/v1/AUTH_test" % port
            prefix = "/v1/AUTH_test/fractals"
            base = os.path.join(self.tmp, "slow-peers")
            ng = servers.NginxProxy(os.path.join(base, "nginx"))
            ng.start(port, prefix, token, workers=os.cpu_count())
            self.live = [ng]
            va = servers.Varnish(os.path.join(base, "varnish"))
            va.start(port, prefix, token)
            self.live.append(va)
            sg = servers.Swiftgate(os.path.join(base, "swiftgate"), self.bin)
            sg.start({"auth_version": "static", "storage_url": storage,
                      "token": token, "auth_url": None, "user": None,
                      "key": None}, workers="auto")
            self.live.append(sg)
            srvs = {"swiftgate": sg, "nginx": ng, "varnish": va}
            for s in srvs.values():
                load.timed_get(s.port, s.path(small))
            co = self.results["coalesce"].setdefault("slow", {})
            for sname in ("swiftgate", "varnish", "nginx"):
                s = srvs[sname]
                before = int(cmd("count GET %s" % herd))
                rs = load.concurrent_gets(s.port, s.path(herd), 50,
                                          timeout=90)
                time.sleep(0.3)
                after = int(cmd("count GET %s" % herd))
                co[sname] = self._herd_row(rs, after - before, "7 s",
                                           sname, 16 * MiB)
            sg1 = servers.Swiftgate(os.path.join(base, "swiftgate-w1"),
                                    self.bin)
            sg1.start({"auth_version": "static", "storage_url": storage,
                       "token": token, "auth_url": None, "user": None,
                       "key": None}, workers=1)
            self.live.append(sg1)
            load.timed_get(sg1.port, sg1.path(small))
            before = int(cmd("count GET %s" % herd))
            rs = load.concurrent_gets(sg1.port, sg1.path(herd), 50,
                                      timeout=90)
            time.sleep(0.3)
            after = int(cmd("count GET %s" % herd))
            co["swiftgate-w1"] = self._herd_row(rs, after - before, "7 s",
                                                "swiftgate-w1", 16 * MiB)
        finally:
            self.stop_servers("slow origin")
            try:
                fo.stdin.write("quit\n")
                fo.stdin.flush()
            except OSError:
                pass
            try:
                fo.wait(15)
            except subprocess.TimeoutExpired:
                fo.kill()
                fo.wait()

    # ---- driver --------------------------------------------------------------

    def run(self):
        self.live = []
        self.meta()
        log("quick=%s duration=%.0fs passes=%d tmp=%s"
            % (self.quick, self.duration, self.passes, self.tmp))
        if not self.only or {"hits", "syscalls", "warm",
                             "pinned"} & set(self.only):
            self.make_objects()     # the nginx static origin's files
        phases = [
            ("hits", lambda: self.hit_phase(
                "unpinned", self.passes, [c for c, _ in HIT_CASES])),
            ("syscalls", self.syscall_phase),
            ("warm", self.warm_phase),
            # Quick mode pins only the two cases the goals weigh most.
            ("pinned", lambda: self.hit_phase(
                "pinned", 1, ["hot100k", "many100k"] if self.quick
                else [c for c, _ in HIT_CASES])),
            ("swift", self.swift_phase),
            ("slo", lambda: slo_cold.run(self, self.slo_rounds,
                                         self.slo_parallelism,
                                         self.slo_swift_workers)),
            ("distance", lambda: distance.run(self, self.distance_rounds,
                                              self.slo_parallelism,
                                              self.distance_hold)),
            ("slow", self.slow_origin_phase),
        ]
        only = self.only
        self.results["meta"]["phases"] = only or [n for n, _ in phases]
        for name, fn in phases:
            if only and name not in only:
                continue
            t0 = time.monotonic()
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - report and go on
                self.problem("phase %s failed: %r\n%s"
                             % (name, e, traceback.format_exc()[-1500:]))
                servers.kill_leftovers(self.live)
                self.live = []
            log("phase %s took %.0f s" % (name, time.monotonic() - t0))
        self.results["meta"]["elapsed_s"] = round(
            time.monotonic() - self.t_start)
        self.results["meta"]["quiet_wait_s"] = round(
            self.quiet_budget_total - self.quiet_budget, 1)
        if self.noisy:
            worst = sorted(self.noisy, key=lambda x: -float(
                x.rsplit(": ", 1)[1].split()[0]))[:5]
            self.problem("%d timed runs shared the machine with other "
                         "processes using more than 5%% of its CPU (the "
                         "numbers of those runs are less trustworthy); the "
                         "worst: %s" % (len(self.noisy), "; ".join(worst)))
        return report.write(self.results, self.results_dir)

    def cleanup(self):
        servers.kill_leftovers(self.live)
        procs.stop_all()
        if self.keep:
            log("kept %s" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def chosen_phases(args):
    """The phases asked for (--phases, else $BENCH_PHASES); [] for all."""
    phases = args.phases if args.phases is not None else \
        os.environ.get("BENCH_PHASES", "")
    only = [x.strip() for x in phases.split(",") if x.strip()]
    unknown = set(only) - set(PHASES)
    if unknown:
        raise SystemExit("unknown phase(s) %s; the phases are %s"
                         % (",".join(sorted(unknown)), ",".join(PHASES)))
    return only


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "swiftgate"))
    ap.add_argument("--phases", default=None,
                    help="comma-separated phases to run, of %s (default: "
                    "$BENCH_PHASES, else all)" % ",".join(PHASES))
    ap.add_argument("--slo-rounds", type=int, default=None,
                    help="rounds of the cold 64 MiB SLO, 1 to %d (default: "
                    "$BENCH_SLO_ROUNDS, else 5; quick: 2)"
                    % slo_cold.MAX_ROUNDS)
    ap.add_argument("--slo-parallelism", type=int, default=None,
                    help="[swift] segment_parallelism for the cold SLO "
                    "(default: the gateway's own default)")
    ap.add_argument("--slo-swift-workers", type=int, default=0,
                    help="Swift's workers for the cold SLO (default 0: one "
                    "process per Swift server, as in the other phases)")
    ap.add_argument("--distance-rounds", type=int, default=None,
                    help="rounds of the cold SLO with the object server "
                    "2 ms away, 1 to %d (default: $BENCH_DISTANCE_ROUNDS, "
                    "else 5; quick: 2)" % slo_cold.MAX_ROUNDS)
    ap.add_argument("--distance-hold", choices=distance.HOLDS, default=None,
                    help="what the relay of the distance phase holds 2 ms: "
                    "the first bytes of each answer, or of each request "
                    "(default: $BENCH_DISTANCE_HOLD, else answer)")
    ap.add_argument("--results", default=None,
                    help="where to write latest.* (default: $BENCH_RESULTS, "
                    "else tests/bench/results, or tests/bench/results/"
                    "partial when only some phases run)")
    args = ap.parse_args()
    chosen_phases(args)         # unknown names: stop before anything runs
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < 12000:
        log("RLIMIT_NOFILE hard limit %d: the 5,000-reader case needs "
            "about 10,000" % hard)
    b = Bench(args)
    try:
        path = b.run()
    finally:
        b.cleanup()
    log("wrote %s" % path)
    with open(path) as f:
        print(f.read())


if __name__ == "__main__":
    main()
