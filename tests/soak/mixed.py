"""The mixed soak: client connections asking for hits, cold misses, ranges,
large objects, HEADs, conditionals and missing objects, clients that leave
mid-body, purges on the admin listener, fresh objects uploaded as it runs,
and a gateway restart (SIGTERM, then a new process on the same cache and
ports) half way.  A table row every minute; at the end the RSS slope
(judged once each process is warm) and the verdict.

Error accounting.  Client side, an outcome the load asked for is counted
by name (left_mid_body, purge_404, not_found); a failed request while the
gateway restarts (from the SIGTERM until a second after the new process is
ready) is `restart`; anything else (a wrong status, byte or header, a
connection closed or timed out) is unexpected and fails the soak.  Gateway
side, /metrics' errors by kind: client_abort is expected up to the number
of clients that left on purpose plus the requests cut by the restart;
every other kind fails the soak.
"""

import asyncio
import collections
import random
import threading
import time

import actions
import aclient
import figures

CLIENTS = 16
PURGES_PER_S = 2.0
# A gateway process is warm this long after it started: the RSS slope is
# judged on what comes after (see Soak.verdict).
WARM_S = 180
# Outcomes the load asks for; "ok" and "miss" (a fresh object's first
# GET) are right answers too.
EXPECTED = ("left_mid_body", "purge_404", "not_found", "purged", "restart")
HEADER = ["min", "requests", "cold misses", "gw responses",
          "asked for (client)", "unexpected (client)", "gw errors",
          "p50 ms", "p99 ms", "hit p99 ms", "RSS MiB", "anon MiB"]


class Minute:
    def __init__(self):
        self.requests = 0
        self.kinds = collections.Counter()
        self.latency = []
        self.hit_latency = []


class Soak:
    def __init__(self, saio, gw_factory, cat, minutes, seed, log):
        self.saio = saio
        self.gw_factory = gw_factory    # () -> started Gateway
        self.cat = cat
        self.duration = minutes * 60.0
        self.seed = seed
        self.log = log
        self.gw = None
        self.host = self.port = self.admin_port = None
        self.t0 = None
        self.stop = False
        self.minutes = collections.defaultdict(Minute)
        self.restart_window = None      # (start, end) monotonic
        self.restart_at = self.duration / 2
        self.failures = []              # first unexpected errors, in detail
        self.rss = []                   # (t, pid, (VmRSS, RssAnon, RssFile))
        self.gw_base = {}               # counters of gateways that have gone
        self.final = {}                 # counters at the last row
        self.rows = []
        self.upload_errors = []

    # -- accounting ------------------------------------------------------

    def now(self):
        return time.monotonic() - self.t0

    def count(self, kind, latency=None, is_hit=False):
        m = self.minutes[int(self.now() // 60) + 1]
        m.requests += 1
        m.kinds[kind] += 1
        if latency is not None:
            m.latency.append(latency)
            if is_hit:
                m.hit_latency.append(latency)

    def in_restart(self):
        w = self.restart_window
        return w is not None and w[0] <= time.monotonic() <= (
            w[1] if w[1] is not None else float("inf"))

    def failed(self, kind, detail):
        if self.in_restart() and kind in ("connect", "eof", "short",
                                          "timeout"):
            self.count("restart")
            return
        self.count(kind)
        if len(self.failures) < 20:
            self.failures.append("%.1fs %s: %s" % (self.now(), kind, detail))

    # -- the load ----------------------------------------------------------

    async def client(self, i):
        rnd = random.Random(self.seed * 1000 + i)
        weights = [w for w, _ in actions.MIX]
        funcs = [f for _, f in actions.MIX]
        conn = None
        while not self.stop:
            func = rnd.choices(funcs, weights)[0]
            try:
                if conn is None or conn.closed:
                    conn = await aclient.Conn.open(self.host, self.port)
                t = time.monotonic()
                outcome = await func(conn, rnd, self.cat)
                self.count(outcome, time.monotonic() - t,
                           func is actions.hit)
            except aclient.ClientError as e:
                self.failed(e.kind, e.detail)
                conn = None
                await asyncio.sleep(0.05)
            except actions.Wrong as e:
                self.failed(e.kind, str(e))
                if conn:
                    conn.abort()
                conn = None
            except Exception as e:      # a fault of the driver: fail, go on
                self.failed("driver_error", repr(e))
                conn = None
                await asyncio.sleep(0.05)
        if conn:
            conn.close()

    async def purger(self):
        rnd = random.Random(self.seed * 1000 + 999)
        conn = None
        while not self.stop:
            await asyncio.sleep(1.0 / PURGES_PER_S)
            try:
                if conn is None or conn.closed:
                    conn = await aclient.Conn.open(self.host,
                                                   self.admin_port)
                self.count(await actions.purge(conn, rnd, self.cat))
            except aclient.ClientError as e:
                self.failed(e.kind, "admin: " + e.detail)
                conn = None
            except actions.Wrong as e:
                self.failed(e.kind, str(e))
                conn = None
        if conn:
            conn.close()

    async def sampler(self):
        while not self.stop:
            gw = self.gw
            if gw is not None and gw.proc is not None:
                kib = figures.rss_kib(gw.proc.pid)
                if kib is not None:
                    self.rss.append((self.now(), gw.proc.pid, kib))
            await asyncio.sleep(5.0)

    # -- the gateway ------------------------------------------------------

    def counters(self):
        """Cumulative gateway counters over every process so far."""
        m = self.gw.metrics()
        now = dict(figures.gateway_errors(m))
        now["responses"] = figures.responses(m)
        return {k: self.gw_base.get(k, 0) + now.get(k, 0)
                for k in set(now) | set(self.gw_base)}

    def restart(self):
        """SIGTERM the gateway (it must exit 0), start a new one on the
        same cache and ports; runs in a thread."""
        last = self.counters()
        self.restart_window = (time.monotonic(), None)
        old = self.gw
        old.stop(expect_clean=True)
        self.gw_base = last
        new = self.gw_factory()
        self.gw = new
        self.restart_window = (self.restart_window[0], time.monotonic() + 1.0)
        self.log("  restart: pid %d -> %d in %.1f s" % (
            old.proc.pid, new.proc.pid,
            self.restart_window[1] - 1.0 - self.restart_window[0]))

    async def reporter(self):
        loop = asyncio.get_running_loop()
        prev = await loop.run_in_executor(None, self.counters)
        restarted = False
        for minute in range(1, int(round(self.duration / 60)) + 1):
            end = minute * 60.0
            while self.now() < end:
                if not restarted and self.now() >= self.restart_at:
                    restarted = True
                    await loop.run_in_executor(None, self.restart)
                    continue
                await asyncio.sleep(min(1.0, max(0.0, end - self.now())))
            cur = await loop.run_in_executor(None, self.counters)
            self.row(minute, figures.diff(cur, prev))
            prev = self.final = cur
        self.stop = True

    def row(self, minute, gwdiff):
        m = self.minutes[minute]
        asked = {k: v for k, v in m.kinds.items() if k in EXPECTED}
        wrong = {k: v for k, v in m.kinds.items()
                 if k not in EXPECTED and k not in ("ok", "miss")}
        gw_err = {k: v for k, v in gwdiff.items() if k != "responses"}
        rss = [kib for t, _, kib in self.rss if t <= minute * 60]
        r = [minute, m.requests, m.kinds["miss"],
             gwdiff.get("responses", 0), figures.kinds_text(asked),
             figures.kinds_text(wrong), figures.kinds_text(gw_err),
             figures.ms(figures.percentile(m.latency, 50)),
             figures.ms(figures.percentile(m.latency, 99)),
             figures.ms(figures.percentile(m.hit_latency, 99)),
             "%.1f" % (rss[-1][0] / 1024.0) if rss else "-",
             "%.1f" % (rss[-1][1] / 1024.0) if rss else "-"]
        self.rows.append(r)
        self.log("  " + " | ".join(str(c) for c in r))

    async def main(self):
        self.t0 = time.monotonic()
        tasks = [asyncio.create_task(self.client(i)) for i in range(CLIENTS)]
        tasks += [asyncio.create_task(self.purger()),
                  asyncio.create_task(self.sampler())]
        try:
            await self.reporter()
        finally:
            self.stop = True
            await asyncio.wait(tasks, timeout=90)
        for t in tasks:
            if t.done() and t.exception() is not None:
                raise t.exception()

    def run(self, gw):
        self.gw = gw
        self.host, self.port = gw.url[len("http://"):].rsplit(":", 1)
        self.port = int(self.port)
        self.admin_port = int(gw.admin_url.rsplit(":", 1)[1])
        stop = threading.Event()
        up = threading.Thread(target=self.cat.uploader, args=(
            self.saio, stop), kwargs={"errors": self.upload_errors},
            daemon=True)
        up.start()
        try:
            asyncio.run(self.main())
        finally:
            stop.set()
            up.join(60)
        return self.gw

    # -- the verdict -------------------------------------------------------

    def rss_groups(self, field, warm_s):
        """Samples of one RSS field (0 VmRSS, 1 RssAnon, 2 RssFile), one
        list per gateway process, leaving out each process's first warm_s
        seconds (and the soak's first minute)."""
        first = {}
        for t, pid, _ in self.rss:
            first.setdefault(pid, t)
        groups = collections.OrderedDict()
        for t, pid, kib in self.rss:
            if t >= max(60.0, first[pid] + warm_s):
                groups.setdefault(pid, []).append((t / 60.0, kib[field]))
        return list(groups.values())

    def slopes(self, warm_s):
        """(VmRSS, RssAnon, RssFile) slopes in KiB/min after warm_s; None
        for each when there are too few samples."""
        return [figures.pooled_slope(self.rss_groups(i, warm_s))
                for i in range(3)]

    def verdict(self, max_slope):
        """(ok, lines): the totals, the errors judged, the RSS slope.
        max_slope: KiB/min, or None not to judge flatness."""
        lines = []
        ok = True
        total = collections.Counter()
        for m in self.minutes.values():
            total.update(m.kinds)
        lines.append("requests %d: %s" % (sum(total.values()),
                                          figures.kinds_text(total)))
        bad = {k: v for k, v in total.items()
               if k not in ("ok", "miss") and k not in EXPECTED}
        if bad:
            ok = False
            lines.append("FAIL unexpected client-side errors: %s"
                         % figures.kinds_text(bad))
        gw = dict(self.final)
        gw.pop("responses", None)
        gw = {k: v for k, v in gw.items() if v}
        aborts = gw.pop("client_abort", 0)
        allowed = total["left_mid_body"] + total["restart"]
        lines.append("gateway errors: client_abort=%d (at most %d: clients "
                     "that left, requests cut by the restart) %s"
                     % (aborts, allowed, figures.kinds_text(gw)))
        if aborts > allowed or gw:
            ok = False
            lines.append("FAIL gateway errors the load did not ask for")
        if self.upload_errors:
            ok = False
            lines.append("FAIL uploads: %s" % self.upload_errors[:3])
        # Judged once each process is warm (WARM_S): before that its heap
        # still grows to the peak of the load (fills in flight) and its
        # bounded tables fill (cache entries, blob descriptors, plans).
        # The slope from the first minute on is shown too.
        slope, anon, files = self.slopes(WARM_S)
        early = self.slopes(60.0)
        if slope is None:
            lines.append("RSS slope: not judged, too few samples after "
                         "each process's first %d s (a run of %d minutes "
                         "or more has them)" % (WARM_S, 2 * WARM_S // 60 + 2))
        else:
            flat = max_slope is None or slope <= max_slope
            lines.append("RSS slope after warm-up (each process's first "
                         "%d s left out): %+.1f KiB/min (RssAnon %+.1f, "
                         "RssFile %+.1f; %s)" % (
                             WARM_S, slope, anon, files,
                             "not judged" if max_slope is None else
                             "flat: at most %d KiB/min" % max_slope if flat
                             else "FAIL: over %d KiB/min" % max_slope))
            ok = ok and flat
        if early[0] is not None:
            lines.append("RSS slope from each process's first minute on "
                         "(warm-up included, not judged): %+.1f KiB/min "
                         "(RssAnon %+.1f, RssFile %+.1f)" % tuple(early))
        for f in self.failures:
            lines.append("  " + f)
        return ok, lines
