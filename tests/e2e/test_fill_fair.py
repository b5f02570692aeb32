"""A fill shares its worker: readers keep being answered while a fast
origin pours a cold object in; and a cold SLO's plan comes without
waiting on what it need not wait on.

A fill takes a bounded number of bytes per turn of its worker's loop, then
pauses its transfer and resumes it on the next turn, so the worker's other
requests run in between.  Here one worker serves a client reading a cold
64 MiB object from Swift and, beside it, a client asking for a cached
100 KiB object over and over: the worst gap between the second client's
answers must stay small, and every byte of both must be right.

A cold SLO's HEAD is sent as soon as the object's own answer says it is
an SLO, beside the manifest's body (not after it); a failure of either
stops the other.  The fault origin shows it with a manifest that takes a
second to come, and with a HEAD it holds back.  Its plan goes to the
readers once verified, before its commit to the index; against Swift, the
MANIFEST entry is in the cache all the same once the fill is over.
"""

import hashlib
import http.client
import socket
import threading
import time

import fixtures
import largeobj
from largeobj import manifest_gets, object_requests, put_segments, put_slo, \
    seg_part, segment_gets
from waits import wait_until

BIG = 64 << 20
SMALL = 100 << 10
# The longest a cached object's answer may wait while a fill runs beside
# it on the same worker, generous for a loaded 2-core machine.  On such a
# machine the worst gap was 25 to 420 ms (most often 25 to 75) before
# fills yielded, and 11 to 25 ms since: this bound catches a fill that
# holds its loop for good, not those figures, which the test prints.
MAX_GAP = 0.5
SETTLE = 0.2      # Swift's proxy log settles (see test_large.py)


def _split(gw):
    host, port = gw.url[len("http://"):].rsplit(":", 1)
    return host, int(port)


def _fetch_raw(host, port, path, out):
    """GET path over a raw socket, reading as fast as it can; out gets
    status, md5, byte count and the times of the first and last byte."""
    s = socket.create_connection((host, port), timeout=60)
    try:
        s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                   % path).encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            data = s.recv(65536)
            if not data:
                break
            buf += data
        head, _, body = buf.partition(b"\r\n\r\n")
        out["status"] = int(head.split(b" ", 2)[1]) if head else 0
        out["x_cache"] = None
        length = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v.strip())
            if k.strip().lower() == b"x-cache":
                out["x_cache"] = v.strip().decode()
        md5 = hashlib.md5(body)
        got = len(body)
        out["first"] = time.monotonic()
        while got < length:
            piece = s.recv(1 << 20)
            if not piece:
                break
            md5.update(piece)
            got += len(piece)
        out["md5"] = md5.hexdigest()
        out["got"] = got
        out["last"] = time.monotonic()
    finally:
        s.close()


def _hits(host, port, path, etag, stop, times, bad):
    """Ask for path over one keep-alive connection until stop is set; the
    time of each whole, correct answer goes to times, anything else to
    bad."""
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        while not stop.is_set():
            conn.request("GET", path)
            resp = conn.getresponse()
            body = resp.read()
            now = time.monotonic()
            if resp.status != 200 or hashlib.md5(body).hexdigest() != etag \
                    or resp.getheader("X-Cache") != "HIT":
                bad.append((resp.status, resp.getheader("X-Cache"),
                            len(body)))
                return
            times.append(now)
    except Exception as e:  # noqa: BLE001 - reported by the test
        bad.append(repr(e))
    finally:
        conn.close()


def test_readers_answered_during_fast_fill(ctx):
    """One worker: a client reads a cold 64 MiB object from Swift while a
    second asks for a cached 100 KiB one over and over; the second is
    answered all along (worst gap under MAX_GAP) and both get every byte
    right; the big one is in the cache after."""
    big = fixtures.random_bytes(BIG, seed=1401)
    small = fixtures.random_bytes(SMALL, seed=1402)
    big_name, big_etag = fixtures.upload(ctx.saio, big, "image/png")
    small_name, small_etag = fixtures.upload(ctx.saio, small, "image/png")
    del big
    gw = ctx.gateway(server={"workers": "1"})
    host, port = _split(gw)
    small_path = "/fractal/" + small_name
    # The small one cached first.
    warm = {}
    _fetch_raw(host, port, small_path, warm)
    assert warm["status"] == 200 and warm["md5"] == small_etag, warm
    assert wait_until(lambda: gw.metrics()["swiftgate_fills_in_flight"] == 0,
                      10.0)

    stop = threading.Event()
    times, bad = [], []
    hitter = threading.Thread(target=_hits, args=(host, port, small_path,
                                                  small_etag, stop, times,
                                                  bad))
    hitter.start()
    assert wait_until(lambda: len(times) >= 20 or bad, 10.0), (times, bad)
    out = {}
    t0 = time.monotonic()
    try:
        _fetch_raw(host, port, "/fractal/" + big_name, out)
    finally:
        t1 = time.monotonic()
        # A few more answers after the big one, so the last gap is closed.
        n = len(times)
        wait_until(lambda: len(times) >= n + 3 or bad, 5.0)
        stop.set()
        hitter.join(30)
    assert not bad, "the cached object's answers: %r" % bad
    assert out.get("status") == 200 and out.get("x_cache") == "MISS", out
    assert out["got"] == BIG and out["md5"] == big_etag, out
    during = [t for t in times if t0 <= t <= t1]
    before = [t for t in times if t < t0]
    after = [t for t in times if t > t1]
    assert before and after, "no answer before or after the big fetch"
    seq = [before[-1]] + during + [after[0]]
    gaps = [b - a for a, b in zip(seq, seq[1:])]
    worst = max(gaps)
    at = seq[gaps.index(worst)] - t0
    gaps.sort()
    print("cold %d MiB in %.2f s (%.0f MB/s); %d cached answers meanwhile; "
          "gap median %.1f ms, p99 %.1f ms, worst %.1f ms (at %.0f ms)" % (
              BIG >> 20, t1 - t0, BIG / (t1 - t0) / 1e6, len(during),
              gaps[len(gaps) // 2] * 1000,
              gaps[min(len(gaps) - 1, int(len(gaps) * 0.99))] * 1000,
              worst * 1000, at * 1000))
    assert worst < MAX_GAP, "a cached object waited %.0f ms for its answer " \
        "while a fill ran on its worker" % (worst * 1000)
    # The fill finished, verified and committed as before.
    assert wait_until(lambda: gw.metrics()["swiftgate_fills_in_flight"] == 0,
                      10.0)
    again = {}
    _fetch_raw(host, port, "/fractal/" + big_name, again)
    assert again["status"] == 200 and again["x_cache"] == "HIT", again
    assert again["got"] == BIG and again["md5"] == big_etag, again


def test_stop_during_fast_fill(ctx):
    """The gateway is stopped while a fast fill runs (its client gone after
    the first bytes): the fill, paused between two turns or not, is
    dropped and the gateway exits cleanly (0, no sanitizer report), with
    nothing of the object in the cache after a restart."""
    big = fixtures.random_bytes(BIG, seed=1403)
    name, etag = fixtures.upload(ctx.saio, big, "image/png")
    del big
    cache_dir = ctx.tmpdir + "/cache-stop"
    gw = ctx.gateway(cache={"dir": cache_dir})
    host, port = _split(gw)
    s = socket.create_connection((host, port), timeout=30)
    s.sendall(("GET /fractal/%s HTTP/1.1\r\nHost: x\r\n\r\n" % name).encode())
    got = b""
    while len(got) < (1 << 20):
        piece = s.recv(65536)
        assert piece, "the gateway closed after %d bytes" % len(got)
        got += piece
    s.close()
    assert _fills(gw) == 1, "the fill is over already: nothing to stop"
    gw.stop()   # raises unless it exited 0 without a sanitizer report
    gw2 = ctx.gateway(cache={"dir": cache_dir})
    out = {}
    _fetch_raw(*_split(gw2), "/fractal/" + name, out)
    assert out["status"] == 200 and out["x_cache"] == "MISS", out
    assert out["got"] == BIG and out["md5"] == etag, out


# -- a cold SLO ---------------------------------------------------------------

def _fills(gw):
    return gw.metrics()["swiftgate_fills_in_flight"]


def _settle(gw, what):
    assert wait_until(lambda: _fills(gw) == 0, 15.0), \
        "%s: %d fills still running" % (what, _fills(gw))


def _describe(resp):
    h = resp.headers
    return "%d X-Cache=%s ETag=%s Content-Type=%s body=%d bytes%s" % (
        resp.status, h.get("X-Cache"), h.get("ETag"), h.get("Content-Type"),
        len(resp.body), "" if resp.complete else " (cut short)")


def _assert_as_swift(resp, theirs, slo, cache, where):
    where = "%s: %s" % (where, _describe(resp))
    assert resp.status == 200 and resp.complete, where
    assert resp.headers.get("X-Cache") == cache, where
    assert resp.body == slo.data, "body differs from the SLO's; " + where
    assert theirs.status == 200 and theirs.body == slo.data, \
        "Swift's own GET: %s" % _describe(theirs)
    for field in ("ETag", "Content-Type", "Content-Length"):
        assert resp.headers.get(field) == theirs.headers.get(field), \
            "%s: Swift says %s; %s" % (field, theirs.headers.get(field), where)


def test_cold_slo_head_and_manifest(ctx):
    """A cold SLO: its manifest GET and its HEAD both reach Swift, once
    each, with every segment once; the answer is Swift's own, byte for
    byte; once the fill is over the plan is in the index as a MANIFEST
    entry: a second GET (and one after a restart) is a HIT that asks
    Swift for nothing."""
    uid = fixtures.new_uuid()
    segs = put_segments(ctx.saio, uid, [300000, 200000, 123457], seed=1410)
    slo = put_slo(ctx.saio, fixtures.new_uuid(), [seg_part(s) for s in segs])
    theirs = largeobj.swift_fetch(ctx.saio, slo.name)
    cache_dir = ctx.tmpdir + "/cache-slo"
    gw = ctx.gateway(cache={"dir": cache_dir})
    url = gw.url + "/fractal/" + slo.name

    before = ctx.saio.proxy_log_requests(settle=SETTLE)
    first = largeobj.fetch(url)
    reqs = ctx.saio.proxy_log_requests(settle=SETTLE)[len(before):]
    _assert_as_swift(first, theirs, slo, "MISS", "first GET")
    assert manifest_gets(reqs, slo.name) == 1, largeobj.mentioning(
        reqs, slo.name)
    assert object_requests(reqs, "HEAD", slo.name) == 1, \
        largeobj.mentioning(reqs, slo.name)
    assert object_requests(reqs, "GET", slo.name) == 1, \
        "a GET of %s Swift would assemble: %r" % (slo.name, reqs)
    for s in segs:
        assert segment_gets(reqs, s.key) == 1, largeobj.mentioning(reqs, uid)

    _settle(gw, "after the first GET")
    m = gw.metrics()
    assert m["swiftgate_cache_entries"] == len(segs) + 1, \
        "cache entries %s, want %d segments and the manifest" % (
            m["swiftgate_cache_entries"], len(segs))
    before = ctx.saio.proxy_log_requests(settle=SETTLE)
    second = largeobj.fetch(url)
    _assert_as_swift(second, theirs, slo, "HIT", "second GET")
    gw.stop()
    gw2 = ctx.gateway(cache={"dir": cache_dir})
    third = largeobj.fetch(gw2.url + "/fractal/" + slo.name)
    _assert_as_swift(third, theirs, slo, "HIT", "GET after a restart")
    reqs = ctx.saio.proxy_log_requests(settle=SETTLE)[len(before):]
    assert not largeobj.mentioning(reqs, slo.name) and \
        not largeobj.mentioning(reqs, uid), \
        "a HIT reached Swift: %r" % reqs



# -- the HEAD beside the manifest (the fault origin: a slow manifest) ---------

SEGS = "fractals_segments"


def _fault_slo(origin, seed, fault=None):
    """An SLO of three segments on the fault origin; fault is the SLO's."""
    uid = fixtures.new_uuid()
    entries = []
    for i, size in enumerate((70000, 50000, 33333)):
        name = "%s/%08d" % (uid, i)
        origin.put(SEGS, name, fixtures.random_bytes(size, seed=seed + i),
                   "application/octet-stream")
        entries.append((SEGS, name))
    return origin.put_slo("fractals", fixtures.new_uuid(), entries,
                          content_type="image/png", fault=fault)


def _get_in_background(url):
    out = {}

    def run():
        t0 = time.monotonic()
        out["resp"] = largeobj.fetch(url, timeout=30)
        out["took"] = time.monotonic() - t0

    t = threading.Thread(target=run)
    t.start()
    return t, out


def _trickle_for(slo, seconds):
    """A trickle rate that sends slo's manifest in about `seconds`."""
    return "trickle=%d" % max(10, int(len(slo.manifest) / seconds))


def test_slo_head_goes_while_the_manifest_comes(ctx):
    """A manifest that takes about a second to arrive: the HEAD reaches the
    origin long before it is whole (it is sent once the manifest's head
    says SLO), and the answer is whole and right."""
    import faultorigin
    with faultorigin.FaultOrigin() as origin:
        slo = _fault_slo(origin, 1420)
        origin.set_fault("fractals", slo.name, _trickle_for(slo, 1.0))
        gw = ctx.gateway(swift=origin.swift_conf())
        t0 = time.monotonic()
        t, out = _get_in_background(gw.url + "/fractal/" + slo.name)
        seen = wait_until(lambda: origin.count("HEAD", slo.name) == 1, 5.0)
        head_at = time.monotonic() - t0
        t.join(30)
        resp = out["resp"]
        assert resp.status == 200 and resp.complete, _describe(resp)
        assert resp.body == slo.data, _describe(resp)
        assert resp.headers.get("ETag") == '"%s"' % slo.etag, _describe(resp)
        assert resp.headers.get("Content-Type") == "image/png", \
            _describe(resp)
        print("HEAD at the origin %.0f ms after the GET; answer whole after "
              "%.0f ms" % (head_at * 1000, out["took"] * 1000))
        assert seen, "the HEAD never came"
        assert head_at < 0.5 and head_at < out["took"] - 0.3, \
            "the HEAD came %.0f ms after the GET (the answer after %.0f ms):" \
            " it waited for the manifest" % (head_at * 1000,
                                             out["took"] * 1000)
        assert origin.count("GET", slo.name, manifest=True) == 1
        assert origin.count("GET", slo.name, manifest=False) == 0


def test_slo_head_failure_stops_the_manifest(ctx):
    """The HEAD fails (503) while the manifest is still coming: a 502 at
    once, without waiting for the manifest, nothing cached; healed, the
    next GET is whole."""
    import faultorigin
    with faultorigin.FaultOrigin() as origin:
        slo = _fault_slo(origin, 1430)
        origin.set_fault("fractals", slo.name,
                         [_trickle_for(slo, 2.0), "object_status=503"])
        gw = ctx.gateway(swift=origin.swift_conf())
        url = gw.url + "/fractal/" + slo.name
        t0 = time.monotonic()
        resp = largeobj.fetch(url, timeout=30)
        took = time.monotonic() - t0
        assert resp.status == 502, _describe(resp)
        assert took < 1.5, "the 502 took %.0f ms: it waited for the " \
            "manifest" % (took * 1000)
        _settle(gw, "after the failed GET")
        origin.set_fault("fractals", slo.name, None)
        resp = largeobj.fetch(url, timeout=30)
        assert resp.status == 200 and resp.complete, _describe(resp)
        assert resp.headers.get("X-Cache") == "MISS", _describe(resp)
        assert resp.body == slo.data, _describe(resp)
        assert origin.count("GET", slo.name, manifest=True) == 2
        assert origin.count("HEAD", slo.name) == 2


def test_slo_manifest_failure_stops_the_head(ctx):
    """The manifest is bad (its Etag is not its MD5) while the HEAD is
    still on its way (the origin holds it back for 2 s): a 502 at once,
    without waiting for the HEAD; healed, the next GET is whole."""
    import faultorigin
    with faultorigin.FaultOrigin() as origin:
        slo = _fault_slo(origin, 1440)
        origin.set_fault("fractals", slo.name, ["wrong_md5", "object_delay=2"])
        gw = ctx.gateway(swift=origin.swift_conf())
        url = gw.url + "/fractal/" + slo.name
        t0 = time.monotonic()
        resp = largeobj.fetch(url, timeout=30)
        took = time.monotonic() - t0
        assert resp.status == 502, _describe(resp)
        assert took < 1.5, "the 502 took %.0f ms: it waited for the HEAD" % (
            took * 1000)
        # Stopped before it reached the origin, or there on its way.
        assert origin.count("HEAD", slo.name) <= 1
        _settle(gw, "after the failed GET")
        origin.set_fault("fractals", slo.name, None)
        resp = largeobj.fetch(url, timeout=30)
        assert resp.status == 200 and resp.complete, _describe(resp)
        assert resp.body == slo.data, _describe(resp)
        assert origin.count("GET", slo.name, manifest=True) == 2
