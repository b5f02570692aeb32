"""The fault matrix: every origin fault the gateway must survive, for a
plain object, an SLO (a bad segment) and a DLO (a bad segment or listing
page), seen by the first client and by a coalesced waiter.

Each cell runs against its own fault origin (tests/lib/faultorigin.py,
TempAuth through the origin's /auth/v1.0, so a 401 can be renewed) and its
own gateway (short timeouts, one segment fetched at a time so that a bad
segment comes after the waiter joined).  The first client's answer starts
slowly (the first 128 KiB at 128 KiB/s): the waiter asks once the first
client has body bytes, or, for a fault that comes before any body, once the
origin holds the faulty request.  A third client GETs a healthy object
meanwhile.  Every cell asserts:

- each client got the whole verified object, or a 200 head cut short of
  its Content-Length with only true bytes, or a 5xx before any byte, as
  the fault allows;
- the waiter coalesced: the faulty request reached the origin once;
- the healthy client got 200 and the exact bytes;
- exactly the right error kind was counted, and no other;
- once the origin heals, the next GET is whole and reaches the origin for
  what failed (nothing unverified was kept), or is a HIT after a 401 that
  was renewed; `swiftgate fsck` is clean after the gateway stopped.

Cells run a few at a time; the matrix is printed as a table at the end.
"""

import concurrent.futures
import http.client
import time
import threading
import urllib.parse
import zlib

import faultorigin
import fixtures
import gateway as gatewaylib
import httputil
from waits import wait_until

CONTAINER = "fractals"
SEGMENTS = "fractals_segments"
SIZE = 512 << 10                # a plain object
SEG = 256 << 10                 # each of a large object's two segments
LEAD = ["trickle=131072", "slow_first=131072"]  # the slow first second
STALL = ["trickle=1024", "stall_after=2048"]    # 1 KiB/s, then nothing
PARALLEL = 6                    # cells at once
JOIN_TIMEOUT = 8.0              # for the first client's first byte
CLIENT_TIMEOUT = 15.0
KINDS = ("plain", "slo", "dlo")

# fault -> (plain object fault, large object's bad piece, expected kind,
#           what the clients get: "cut", "502", "504" or "whole")
# A piece is ("seg", fault[, times]) for the second segment or
# ("list", fault[, times]) for the DLO's second listing page.  A piece's
# fault is held back (PRE before a head, LEAD mid-body) as the plain
# object's is, so that the waiter, which joins after the first client's
# first byte, always finds that piece's fetch still running.
PRE = ["delay=0.8"]             # the waiter joins during this
ROWS = [
    ("refused", "refuse", ("seg", "refuse"), "origin_connect"),
    ("reset before headers", PRE + ["reset_before_headers"],
     ("seg", PRE + ["reset_before_headers"]), "origin_connect"),
    ("reset mid-body", LEAD + ["reset"], ("seg", LEAD + ["reset"]),
     "origin_short_body"),
    ("short body", LEAD + ["short"], ("seg", LEAD + ["short"]), "origin_short_body"),
    ("wrong MD5", LEAD + ["wrong_md5"], ("seg", LEAD + ["corrupt"]),
     "digest_mismatch"),
    ("trickle, then stall", STALL, ("seg", STALL), "origin_timeout"),
    ("hang before headers", "hang_before_headers=6",
     ("seg", "hang_before_headers=6"), "origin_timeout"),
    ("503", PRE + ["status=503"], ("seg", PRE + ["status=503"]), "origin_status"),
    ("401 once, then good", PRE + ["status=401"], ("seg", PRE + ["status=401"], 1),
     None),
    ("malformed header block", PRE + ["malformed_head"],
     ("seg", PRE + ["malformed_head"]), "bad_origin_header"),
]
# The DLO's bad piece is its second listing page for the faults that come
# before a head (so a listing is covered), its second segment otherwise.
DLO_LISTING = {"reset before headers", "hang before headers", "503",
               "401 once, then good", "malformed header block"}


# -- clients ------------------------------------------------------------------

class Client(threading.Thread):
    """One GET of /fractal/<name>, read to its end; `first_byte` is set
    once body bytes came (or the answer ended)."""

    def __init__(self, gw, name):
        super().__init__(daemon=True)
        self.gw, self.name = gw, name
        self.first_byte = threading.Event()
        self.status = self.headers = self.error = None
        self.body = b""

    def run(self):
        host, port, _ = httputil.split_url(self.gw.url)
        conn = http.client.HTTPConnection(host, port, timeout=CLIENT_TIMEOUT)
        chunks = []
        try:
            conn.request("GET", "/fractal/" + self.name)
            resp = conn.getresponse()
            self.status = resp.status
            self.headers = httputil.Headers(resp.getheaders())
            for _ in range(100000):
                chunk = resp.read1(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                self.first_byte.set()
        except (OSError, http.client.HTTPException) as e:
            self.error = "%s: %s" % (type(e).__name__, e)
        finally:
            conn.close()
            self.body = b"".join(chunks)
            self.first_byte.set()

    def outcome(self, data):
        """"whole", "cut", "5xx" (the status) or what went wrong."""
        if self.status is None:
            return "no answer (%s)" % self.error
        if self.status != 200:
            return str(self.status) if not self.body or self.status >= 500 \
                else "%d with a body" % self.status
        cl = self.headers.get("Content-Length")
        if cl != str(len(data)):
            return "200 Content-Length %s" % cl
        if self.body == data and self.error is None:
            return "whole"
        if len(self.body) < len(data) and data.startswith(self.body):
            return "cut"
        return "200 with wrong bytes (%d)" % len(self.body)


def _seed(name):
    return zlib.crc32(name.encode())


# -- one cell -----------------------------------------------------------------

def _put_segments(origin, name, lead, bad):
    """Two segments under name/; the first starts slowly, the second gets
    the fault `bad` ((fault, times) or None)."""
    fault, times = bad if bad else (None, None)
    segs = []
    for i in range(2):
        data = fixtures.random_bytes(SEG + 991 * i, seed=_seed(name) + i)
        seg = "%s/%08d" % (name, i + 1)
        origin.put(SEGMENTS, seg, data, "application/octet-stream",
                   fault=lead if i == 0 else fault,
                   times=None if i == 0 else times)
        segs.append((seg, data))
    return segs


class Cell:
    """One (fault, object kind) cell: set-up, run, and what was seen."""

    def __init__(self, row, kind, bin, tmpdir):
        self.label, self.plain, self.piece, self.want_kind = row
        self.kind = kind
        self.bin, self.tmpdir = bin, tmpdir
        self.name = fixtures.new_uuid()
        self.result = None      # (first, waiter, healthy, kinds) strings
        self.problems = []

    # what the bad piece is, and what its request looks like at the origin
    def _setup(self, origin):
        refuse = self.label == "refused"
        if self.kind == "plain":
            self.data = fixtures.random_bytes(SIZE, seed=_seed(self.name))
            fault = None if refuse else self.plain
            times = 1 if self.want_kind is None else None
            origin.put(CONTAINER, self.name, self.data, fault=fault,
                       times=times)
            self.bad = lambda: origin.count("GET", self.name, CONTAINER)
            self.heal = lambda: origin.set_fault(CONTAINER, self.name, None)
            return
        where, fault = self.piece[0], self.piece[1]
        times = self.piece[2] if len(self.piece) > 2 else None
        if self.kind == "dlo" and self.label in DLO_LISTING:
            where, fault = "list", PRE + [self.plain[-1] if isinstance(
                self.plain, list) else self.plain]
        lead = LEAD + (["refuse_after"] if refuse else [])
        segs = _put_segments(origin, self.name, lead,
                             (None if refuse else fault, times)
                             if where == "seg" else None)
        self.data = b"".join(d for _, d in segs)
        bad_seg = segs[1][0]
        if where == "list":
            origin.listing_page = 1
            origin.set_listing_fault(SEGMENTS, fault, times, first_page=False)
            marker = "marker=" + segs[0][0]     # the second page
            self.bad = lambda: sum(
                1 for m, p, _ in list(origin.requests)
                if m == "GET" and "/%s?" % SEGMENTS in p and
                marker in urllib.parse.unquote(p))
            self.heal = lambda: origin.set_listing_fault(SEGMENTS, None)
        else:
            self.bad = lambda: origin.count("GET", bad_seg, SEGMENTS)
            self.heal = lambda: [origin.set_fault(SEGMENTS, s, None)
                                 for s, _ in segs]
        if self.kind == "slo":
            origin.put_slo(CONTAINER, self.name,
                           [(SEGMENTS, s) for s, _ in segs])
        else:
            origin.put(CONTAINER, self.name, b"", "image/png", headers={
                "X-Object-Manifest": "%s/%s/" % (SEGMENTS, self.name)})

    def _gateway(self, origin):
        swift = origin.swift_conf(
            auth="v1", connect_timeout="1s", first_byte_timeout="1500ms",
            stall_timeout="1s", segment_parallelism="1")
        return gatewaylib.Gateway(self.bin, {"swift": swift},
                                  base_dir=self.tmpdir)

    def run(self):
        with faultorigin.FaultOrigin() as origin:
            self._setup(origin)
            healthy = fixtures.new_uuid()
            hdata = fixtures.random_bytes(SEG, seed=_seed(healthy))
            origin.put(CONTAINER, healthy, hdata)
            gw = self._gateway(origin).start()
            try:
                self._run(origin, gw, healthy, hdata)
            finally:
                gw.stop(expect_clean=False)
            try:
                gw.check_clean()
            except AssertionError as e:
                self.problems.append("gateway exit: %s" % e)
            self._fsck(gw)
        return self

    def _errors(self, gw):
        return {k[len('swiftgate_errors_total{kind="'):-2]: v
                for k, v in gw.metrics().items()
                if k.startswith("swiftgate_errors_total{")}

    def _run(self, origin, gw, healthy, hdata):
        refuse = self.label == "refused"
        if refuse:      # the healthy object is served from the cache then
            Client(gw, healthy).run()
        before = self._errors(gw)
        auth_before = origin.auth_gets
        if refuse and self.kind == "plain":
            origin.refuse()
        first = Client(gw, self.name)
        first.start()
        self._await_join(first, refuse)
        waiter = Client(gw, self.name)
        waiter.start()
        third = Client(gw, healthy)
        third.start()
        for c in (first, waiter, third):
            c.join(CLIENT_TIMEOUT + 5)
        wait_until(lambda: gw.metrics().get("swiftgate_fills_in_flight") == 0,
                   5.0)
        after = self._errors(gw)
        deltas = {k: after[k] - before.get(k, 0) for k in after
                  if after[k] != before.get(k, 0)}
        seen = self.bad()
        want = "whole" if self.want_kind is None else None
        outs = [first.outcome(self.data), waiter.outcome(self.data)]
        self.result = [outs[0], outs[1], third.outcome(hdata),
                       ", ".join("%s %+d" % (k, v) for k, v in
                                 sorted(deltas.items())) or "-"]
        self._judge(outs, third.outcome(hdata), deltas, seen, want)
        if self.want_kind is None and origin.auth_gets <= auth_before:
            self.problems.append("no new token after the 401")
        if refuse:
            origin.resume()
        self._heal_check(gw, seen)

    def _await_join(self, first, refuse):
        """Wait until the waiter would join mid-body (or, for a fault before
        any body, while the origin holds the request)."""
        if refuse and self.kind == "plain":
            first.join(CLIENT_TIMEOUT + 5)      # nothing to join
            return
        pre_head = self.kind == "plain" or (self.kind == "dlo" and
                                            self.label in DLO_LISTING)
        if pre_head and self.label not in ("reset mid-body", "short body",
                                           "wrong MD5",
                                           "trickle, then stall"):
            if not wait_until(lambda: self.bad() >= 1, JOIN_TIMEOUT):
                self.problems.append("the faulty request never came")
            return
        if not first.first_byte.wait(JOIN_TIMEOUT):
            self.problems.append("no body byte for the first client after "
                                 "%.0f s" % JOIN_TIMEOUT)
        elif not first.is_alive() and first.outcome(self.data) != "whole":
            self.problems.append("the first client was over before the "
                                 "waiter came: %s" % first.outcome(self.data))

    def _expected(self):
        if self.want_kind is None:
            return {"whole"}
        if self.kind == "plain" or (self.kind == "dlo" and
                                    self.label in DLO_LISTING):
            if self.label in ("reset mid-body", "short body", "wrong MD5",
                              "trickle, then stall"):
                return {"cut"}
            return {"504"} if self.want_kind == "origin_timeout" else {"502"}
        return {"cut"}

    def _judge(self, outs, healthy, deltas, seen, want):
        expected = self._expected()
        for who, out in zip(("first client", "waiter"), outs):
            if out not in expected:
                self.problems.append("%s: %s, want %s" % (
                    who, out, "|".join(sorted(expected))))
        if healthy != "whole":
            self.problems.append("healthy client: %s" % healthy)
        n = 2 if (self.label == "refused" and self.kind == "plain") else 1
        want_deltas = {self.want_kind: n} if self.want_kind else {}
        if deltas != want_deltas:
            self.problems.append("errors counted %s, want %s" % (
                deltas, want_deltas))
        want_seen = 0 if self.label == "refused" else (
            2 if self.want_kind is None else 1)
        if seen != want_seen:
            self.problems.append("the faulty piece reached the origin %d "
                                 "times, want %d (one fetch for both "
                                 "clients%s)" % (seen, want_seen, ", and its "
                                                 "retry" if want_seen == 2
                                                 else ""))

    def _heal_check(self, gw, seen):
        """The origin heals: the next GET is whole; it reaches the origin
        for what failed, or is a HIT after a renewed 401."""
        self.heal()
        c = Client(gw, self.name)
        c.run()
        out = c.outcome(self.data)
        if out != "whole":
            self.problems.append("GET after healing: %s" % out)
        again = self.bad()
        if self.want_kind is None:
            if again != seen:
                self.problems.append("GET after a renewed 401 reached the "
                                     "origin: not cached")
        elif again != seen + 1:
            self.problems.append("GET after healing reached the origin %d "
                                 "times for the bad piece, want 1: something "
                                 "unverified was kept" % (again - seen))

    def _fsck(self, gw):
        rc, out, err = gatewaylib.run(self.bin, ["fsck", "-c", gw.conf_path])
        if rc != 0 or " 0 bad, 0 orphan" not in out:
            self.problems.append("fsck: exit %d: %s %s" % (rc, out.strip(),
                                                           err.strip()))


# -- the matrix ---------------------------------------------------------------

def _table(cells):
    """The matrix as text: a row per fault, a column per object kind, each
    cell "first / waiter, kind counted"."""
    by = {(c.label, c.kind): c for c in cells}
    head = ["fault"] + ["%s: first / waiter; counted" % k for k in KINDS]
    rows = []
    for row in ROWS:
        line = [row[0]]
        for kind in KINDS:
            c = by[(row[0], kind)]
            r = c.result or ["?", "?", "?", "?"]
            mark = "" if not c.problems else "  FAIL"
            line.append("%s / %s; %s%s" % (r[0], r[1], r[3], mark))
        rows.append(line)
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
    fmt = " | ".join("%%-%ds" % w for w in widths)
    out = [fmt % tuple(head), "-+-".join("-" * w for w in widths)]
    out += [fmt % tuple(r) for r in rows]
    return "\n".join(out)


def test_fault_matrix(ctx):
    t0 = time.monotonic()
    cells = [Cell(row, kind, ctx.bin, ctx.tmpdir)
             for row in ROWS for kind in KINDS]
    with concurrent.futures.ThreadPoolExecutor(PARALLEL) as pool:
        futures = [pool.submit(c.run) for c in cells]
        for f, c in zip(futures, cells):
            try:
                f.result(timeout=90)
            except Exception as e:      # reported with the cell
                c.problems.append("%s: %s" % (type(e).__name__, e))
    print(_table(cells))
    print("cut: a 200 cut short of its Content-Length, true bytes only; "
          "5xx: before any byte.\nSLO: its 2nd segment is bad.  DLO: its "
          "2nd listing page (%s), else its 2nd segment.\nThe waiter asks "
          "once the first client has body bytes, or while the origin holds\n"
          "the faulty request; after a refusal (plain) there is no fetch to "
          "join, so it makes its own." % ", ".join(
              r[0] for r in ROWS if r[0] in DLO_LISTING))
    healthy = sorted({c.result[2] for c in cells if c.result})
    print("healthy third client: %s; %d cells in %.1f s"
          % (", ".join(healthy), len(cells), time.monotonic() - t0))
    bad = ["%s x %s: %s" % (c.label, c.kind, "; ".join(c.problems))
           for c in cells if c.problems]
    assert not bad, "%d of %d cells failed:\n  %s" % (
        len(bad), len(cells), "\n  ".join(bad))
