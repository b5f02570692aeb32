"""Static large objects against an origin that misbehaves
(tests/lib/faultorigin.py, put_slo): a bad segment or manifest never yields
a whole 200 and nothing unverified is cached.

For /fractal/<name> naming an SLO the gateway reads the manifest (GET
?multipart-manifest=get), the SLO's HEAD, then each segment with a plain
GET that must match the manifest (size, ETag, body MD5).  A failure known
before the head went out is a 502; after it, the connection is cut short of
Content-Length, and a segment's last byte never goes out unverified.  Every
test then heals the origin and checks the object comes whole, byte for byte,
and that a second GET is a HIT that reaches the origin for nothing.

X-Cache of a large object is decided when its head goes out: MISS when a
segment of the first window (segment_parallelism, 4) had to be fetched,
else HIT, even if a segment further on is fetched afterwards.  A segment is
readable as soon as it is verified, before its commit to the index is over,
so the tests wait for the fills to end (swiftgate_fills_in_flight) before
they expect a HIT.

The gateway runs in static auth mode against the fault origin.
"""

import base64
import socket
import struct
import threading
import time

import answers
import faultorigin
import fixtures
import httputil
from waits import wait_until

CONTAINER = "fractals"
SEGMENTS = "fractals_segments"
SEG = 256 << 10         # about the size of each segment
WINDOW = 4              # [swift] segment_parallelism, the default
TRICKLE = "trickle=1000000"     # a segment's body takes ~0.25 s: the head
                                # is out long before its end


# -- setting up ---------------------------------------------------------------

def _gateway(ctx, origin, swift=None, **sections):
    return ctx.gateway(swift=origin.swift_conf(**(swift or {})), **sections)


def _put_slo(origin, nsegs, seed, faults=None, size=SEG, manifest_fault=None,
             manifest_times=None):
    """An SLO in `fractals` of nsegs segments in `fractals_segments`, each a
    few bytes apart in size (so offsets are not multiples of anything).
    faults: {index: fault} or {index: (fault, times)} for the segments."""
    name = fixtures.new_uuid()
    entries = []
    for i in range(nsegs):
        data = fixtures.random_bytes(size + 997 * i, seed=seed * 100 + i)
        fault, times = (faults or {}).get(i), None
        if isinstance(fault, tuple):
            fault, times = fault
        seg = "%s/%08d" % (name, i + 1)
        origin.put(SEGMENTS, seg, data, "application/octet-stream",
                   fault=fault, times=times)
        entries.append((SEGMENTS, seg))
    return origin.put_slo(CONTAINER, name, entries, "image/png",
                          fault=manifest_fault, times=manifest_times)


def _entry_len(entry):
    """How many bytes of the object a manifest entry gives."""
    if "data" in entry:
        return len(base64.b64decode(entry["data"]))
    if "range" in entry:
        first, last = entry["range"].split("-")
        return int(last) - int(first) + 1
    return entry["bytes"]


def _bounds(slo, index):
    """(first byte, one past the last) of manifest entry `index` in the
    whole object."""
    start = sum(_entry_len(e) for e in slo.entries[:index])
    return start, start + _entry_len(slo.entries[index])


def _seg_count(origin, slo, index):
    container, obj = slo.segments[index]
    return origin.count("GET", obj, container)


def _manifest_gets(origin, slo):
    return origin.count("GET", slo.name, CONTAINER, manifest=True)


# -- reading ------------------------------------------------------------------

class _Result:
    """A GET as the client saw it; error is None for a body that ended
    where its framing said, else what happened."""

    def __init__(self, status, headers, body, error):
        self.status = status
        self.headers = headers
        self.body = body
        self.error = error


def _fetch(gw, name, timeout=20.0, headers=None):
    """GET over http.client, keeping what arrives if the body is cut."""
    return _Result(*answers.fetch(gw, name, timeout, headers))


def _describe(res):
    h = res.headers
    return ("%s X-Cache=%s ETag=%s Content-Length=%s body=%d bytes md5=%s "
            "error=%s%s" % (res.status, h.get("X-Cache"), h.get("ETag"),
                            h.get("Content-Length"), len(res.body),
                            fixtures.md5_hex(res.body), res.error,
                            " text=%r" % res.body[:80]
                            if res.status != 200 else ""))


def _stderr(gw, lines=15):
    text = gw.stderr_text().splitlines()
    return "\n    gateway stderr:\n    " + "\n    ".join(text[-lines:])


def _first_diff(a, b):
    for i in range(min(len(a), len(b))):
        if a[i] != b[i]:
            return i
    return min(len(a), len(b))


# -- checks -------------------------------------------------------------------

_WANT = {"refuse": "a 502", "cut": "a 200 head cut short of its body",
         "either": "a 502 or a 200 head cut short of its body"}


def _check_failed(gw, slo, span, res, label, mode, why=None, limit=None,
                  true_bytes=True):
    """res is the answer to a GET of slo while the segment giving bytes
    span = (start, end) of it is broken.

    mode: "refuse" (a 502 before any byte), "cut" (a 200 head, then fewer
    bytes than Content-Length) or "either".  why: text the 502 must carry.
    limit: the most body bytes allowed (default: all but the bad segment's
    last byte, which may never go out unverified).  true_bytes: every byte
    sent must be the object's (else only those before the bad segment)."""
    start, end = span
    where = "%s: %s%s" % (label, _describe(res), _stderr(gw))
    if res.status == 502:
        assert mode != "cut", "want %s, got a 502; %s" % (_WANT[mode], where)
        if why is not None:
            assert why.encode() in res.body, "want %r in the 502; %s" % (
                why, where)
        return "502"
    assert res.status == 200 and mode != "refuse", "want %s; %s" % (
        _WANT[mode], where)
    h = res.headers
    assert h.get("Content-Length") == str(len(slo.data)), \
        "Content-Length: want %d; %s" % (len(slo.data), where)
    assert h.get("ETag") == '"%s"' % slo.etag, "want ETag \"%s\"; %s" % (
        slo.etag, where)
    assert len(res.body) < len(slo.data) and res.error is not None, (
        "the client got the whole body although the segment of bytes "
        "%d-%d was bad: bad data passed off as whole; %s" % (start, end - 1,
                                                             where))
    limit = end - 1 if limit is None else limit
    assert len(res.body) <= limit, (
        "%d bytes sent, want at most %d (the bad segment is bytes %d-%d; a "
        "byte went out that was never verified); %s" % (
            len(res.body), limit, start, end - 1, where))
    n = len(res.body) if true_bytes else min(len(res.body), start)
    assert res.body[:n] == slo.data[:n], (
        "the bytes sent differ from the object's at offset %d; %s" % (
            _first_diff(res.body[:n], slo.data[:n]), where))
    return "cut after %d bytes" % len(res.body)


def _fills(gw):
    return gw.metrics()["swiftgate_fills_in_flight"]


def _settle(gw, what, timeout=15.0):
    """Wait until no fill runs: every verified segment is in the index."""
    assert wait_until(lambda: _fills(gw) == 0, timeout), \
        "%s: %s fills still running after %.0f s%s" % (
            what, _fills(gw), timeout, _stderr(gw))


def _want_cache(origin, slo, broken=None):
    """The X-Cache a GET of slo should answer now (after _settle): HIT when
    every segment is cached, MISS when one of the first window is not,
    else either.  A segment is cached when it was fetched and is not the
    broken one."""
    cached = [_seg_count(origin, slo, i) > 0 and i != broken
              for i in range(len(slo.segments))]
    if all(cached):
        return ("HIT",)
    if not all(cached[:WINDOW]):
        return ("MISS",)
    return ("HIT", "MISS")


def _assert_whole(gw, slo, label, cache, origin=None):
    """A GET of slo is a 200 with every byte; cache: the X-Cache wanted
    (a word or a tuple).  With origin, failure messages list the requests
    it saw meanwhile."""
    n = len(origin.requests) if origin is not None else 0
    res = _fetch(gw, slo.name)
    where = "%s: %s%s" % (label, _describe(res), _stderr(gw))
    if origin is not None:
        where += "\n    origin requests: %s" % [
            (m, p) for m, p, _ in origin.requests[n:]]
    want = (cache,) if isinstance(cache, str) else cache
    assert res.status == 200 and res.error is None, where
    assert res.headers.get("X-Cache") in want, "want X-Cache %s; %s" % (
        "|".join(want), where)
    assert res.headers.get("Content-Length") == str(len(slo.data)), where
    assert res.headers.get("ETag") == '"%s"' % slo.etag, where
    assert res.body == slo.data, "body differs from the object's at offset " \
        "%d; %s" % (_first_diff(res.body, slo.data), where)
    return res


def _wait_error(gw, kind, want, what):
    got = wait_until(lambda: gw.error_count(kind) >= want, 3.0)
    assert got, "after %s, swiftgate_errors_total{kind=\"%s\"} is %s, want " \
        ">= %s; errors: %s" % (what, kind, gw.error_count(kind), want, {
            k: v for k, v in gw.metrics().items() if "errors" in k})


def _fault_cycle(gw, origin, slo, bad, label, mode, metric, fails=1,
                 why=None, limit=None, true_bytes=True, heal=None):
    """`fails` GETs of slo while segment `bad` is broken (by a fault with
    times=fails, or until heal() is called): each fails as `mode` says and
    reaches the origin for that segment again (nothing of it was cached),
    and the error metric grows.  Then the object comes whole (fetching only
    that segment and those not fetched yet), then as a HIT that reaches the
    origin for nothing; every good segment and the manifest were fetched
    once."""
    c0, o0 = slo.segments[bad]
    before = gw.error_count(metric)
    outcomes = []
    for i in range(fails):
        res = _fetch(gw, slo.name)
        outcomes.append(_check_failed(
            gw, slo, _bounds(slo, bad), res, "%s, GET %d" % (label, i + 1),
            mode, why, limit, true_bytes))
        got = origin.count("GET", o0, c0)
        assert got == i + 1, (
            "%s, GET %d: the bad segment was asked of the origin %d times, "
            "want %d%s" % (label, i + 1, got, i + 1,
                           " (a bad segment was cached)" if got <= i else ""))
    _wait_error(gw, metric, before + fails, "%s (%d bad GETs)" % (label,
                                                                  fails))
    if heal is not None:
        heal()
    _settle(gw, label)
    _assert_whole(gw, slo, "%s, healed" % label,
                  _want_cache(origin, slo, bad), origin)
    got = origin.count("GET", o0, c0)
    assert got == fails + 1, "%s: the healed segment was asked %d times in " \
        "all, want %d" % (label, got, fails + 1)
    _settle(gw, label)
    n = len(origin.requests)
    _assert_whole(gw, slo, "%s, again" % label, "HIT", origin)
    assert len(origin.requests) == n, "%s: a HIT reached the origin: %s" % (
        label, [(m, p) for m, p, _ in origin.requests[n:]])
    counts = [_seg_count(origin, slo, i) for i in range(len(slo.segments))]
    assert all(c == 1 for i, c in enumerate(counts) if i != bad), (
        "%s: good segments fetched %s times (want once each): a verified "
        "segment was not kept" % (label, counts))
    assert _manifest_gets(origin, slo) == 1, "%s: %d manifest GETs" % (
        label, _manifest_gets(origin, slo))
    print("%s: %s" % (label, ", ".join(outcomes)))


# -- a segment that fails its checks ------------------------------------------

def test_segment_wrong_etag(ctx):
    """The 2nd of 5 segments answers an Etag that is not the manifest's
    hash (wrong_md5, once): a 502 or a cut before any of its bytes; the next
    GET fetches it again and is whole."""
    with faultorigin.FaultOrigin() as origin:
        gw = _gateway(ctx, origin)
        slo = _put_slo(origin, 5, 301, {1: ("wrong_md5", 1)})
        _fault_cycle(gw, origin, slo, 1, "2nd segment wrong_md5", "either",
                     "segment", limit=_bounds(slo, 1)[0])
        # The first segment: known before the head, so always a 502.
        slo = _put_slo(origin, 3, 302, {0: ("wrong_md5", 2)})
        _fault_cycle(gw, origin, slo, 0, "1st segment wrong_md5", "refuse",
                     "segment", fails=2)


def test_segment_corrupt_body(ctx):
    """A segment with the right Content-Length and Etag but other bytes:
    known only at its end.  The first one (trickled, so the head is out):
    a cut with only true bytes, its last (altered) byte never sent.  A later
    one altered in the middle: a 502 or a cut before its end."""
    with faultorigin.FaultOrigin() as origin:
        gw = _gateway(ctx, origin)
        slo = _put_slo(origin, 4, 311, {0: (["corrupt", TRICKLE], 2)})
        _fault_cycle(gw, origin, slo, 0, "1st segment, last byte altered",
                     "cut", "digest_mismatch", fails=2)
        slo = _put_slo(origin, 5, 312, {2: ("corrupt=1000", 2)})
        _fault_cycle(gw, origin, slo, 2, "3rd segment, byte 1000 altered",
                     "either", "digest_mismatch", fails=2, true_bytes=False)


def test_segment_short_and_reset(ctx):
    """A segment cut short (FIN) or reset (RST) half way: the client's body
    is incomplete, with true bytes only, and nothing of it is cached."""
    with faultorigin.FaultOrigin() as origin:
        gw = _gateway(ctx, origin)
        for fault in ("short", "reset"):
            slo = _put_slo(origin, 4, 321, {0: ([fault, TRICKLE], 2)})
            start, end = _bounds(slo, 0)
            _fault_cycle(gw, origin, slo, 0, "1st segment %s" % fault, "cut",
                         "origin_short_body", fails=2,
                         limit=start + (end - start) // 2)
            slo = _put_slo(origin, 5, 322, {3: (fault, 2)})
            start, end = _bounds(slo, 3)
            _fault_cycle(gw, origin, slo, 3, "4th segment %s" % fault,
                         "either", "origin_short_body", fails=2,
                         limit=start + (end - start) // 2)


# -- a segment Swift does not serve -------------------------------------------

def test_segment_missing(ctx):
    """A segment deleted from the origin (404): the first one is a 502
    "segment missing" before any byte; a later one a 502 or a cut before
    its bytes.  The 404 is not remembered: once the segment is back, the
    object comes whole."""
    with faultorigin.FaultOrigin() as origin:
        gw = _gateway(ctx, origin)
        for bad, nsegs, mode in ((0, 3, "refuse"), (3, 5, "either")):
            slo = _put_slo(origin, nsegs, 331 + bad)
            container, obj = slo.segments[bad]
            start, end = _bounds(slo, bad)
            data = slo.data[start:end]
            origin.delete(container, obj)
            _fault_cycle(
                gw, origin, slo, bad, "segment %d deleted" % (bad + 1), mode,
                "segment", fails=2, why="segment missing", limit=start,
                heal=lambda c=container, o=obj, d=data: origin.put(
                    c, o, d, "application/octet-stream"))


def test_segment_503(ctx):
    """A segment answered 503: the first one is a 502 before any byte, a
    later one a 502 or a cut before its bytes; not remembered."""
    with faultorigin.FaultOrigin() as origin:
        gw = _gateway(ctx, origin)
        slo = _put_slo(origin, 3, 341, {0: ("status=503", 2)})
        _fault_cycle(gw, origin, slo, 0, "1st segment 503", "refuse",
                     "origin_status", fails=2, limit=0)
        slo = _put_slo(origin, 6, 342, {4: ("status=503", 2)})
        _fault_cycle(gw, origin, slo, 4, "5th segment 503", "either",
                     "origin_status", fails=2, limit=_bounds(slo, 4)[0])


# -- the manifest and the HEAD ------------------------------------------------

def _manifest_cycle(gw, origin, slo, label, metric, fails, head=False):
    """`fails` GETs while the manifest (or, with head, the HEAD) is bad:
    each a 502 that asked for the manifest again and for no segment; then
    whole, then a HIT that reaches the origin for nothing."""
    before = gw.error_count(metric)
    for i in range(fails):
        res = _fetch(gw, slo.name)
        where = "%s, GET %d: %s%s" % (label, i + 1, _describe(res),
                                      _stderr(gw))
        assert res.status == 502, "want a 502; " + where
        assert _manifest_gets(origin, slo) == i + 1, (
            "%s: %d manifest GETs, want %d (a bad manifest was kept)" % (
                where, _manifest_gets(origin, slo), i + 1))
        if head:
            heads = origin.count("HEAD", slo.name, CONTAINER)
            assert heads == i + 1, "%s: %d HEADs, want %d" % (where, heads,
                                                              i + 1)
        segs = [_seg_count(origin, slo, k) for k in range(len(slo.segments))]
        assert not any(segs), "%s: segments fetched %s for a plan that " \
            "failed" % (where, segs)
    _wait_error(gw, metric, before + fails, label)
    _assert_whole(gw, slo, "%s, healed" % label, "MISS", origin)
    assert _manifest_gets(origin, slo) == fails + 1, (
        "%s: %d manifest GETs once healed, want %d" % (
            label, _manifest_gets(origin, slo), fails + 1))
    _settle(gw, label)
    n = len(origin.requests)
    _assert_whole(gw, slo, "%s, again" % label, "HIT", origin)
    assert len(origin.requests) == n, "%s: a HIT reached the origin: %s" % (
        label, [(m, p) for m, p, _ in origin.requests[n:]])
    segs = [_seg_count(origin, slo, k) for k in range(len(slo.segments))]
    assert all(c == 1 for c in segs), "%s: segment GETs %s" % (label, segs)


def test_manifest_etag_mismatch(ctx):
    """A manifest whose body does not match its Etag (twice), then one that
    is not JSON: 502s, nothing cached (the next GET asks for the manifest
    again), then whole."""
    with faultorigin.FaultOrigin() as origin:
        gw = _gateway(ctx, origin)
        slo = _put_slo(origin, 3, 351, manifest_fault="wrong_md5",
                       manifest_times=2)
        _manifest_cycle(gw, origin, slo, "manifest wrong_md5",
                        "digest_mismatch", 2)
        slo = _put_slo(origin, 3, 352, manifest_fault="bad_manifest",
                       manifest_times=1)
        _manifest_cycle(gw, origin, slo, "manifest not JSON", "manifest", 1)


def test_head_etag_mismatch(ctx):
    """The SLO's HEAD answers another ETag than the manifest's (replaced
    between the two requests): a 502, nothing cached; then whole."""
    with faultorigin.FaultOrigin() as origin:
        gw = _gateway(ctx, origin)
        slo = _put_slo(origin, 4, 361, manifest_fault="slo_etag_mismatch",
                       manifest_times=2)
        _manifest_cycle(gw, origin, slo, "HEAD ETag mismatch", "manifest", 2,
                        head=True)
        assert origin.count("HEAD", slo.name, CONTAINER) == 3, \
            origin.count("HEAD", slo.name, CONTAINER)


# -- ranges, inline data, a sub-SLO -------------------------------------------

def _mixed_slo(origin, seed, faults):
    """An SLO of: segment a whole, bytes 1000-200000 of segment b, inline
    data, and a sub-SLO of segments c and d.  faults: {"b": fault, ...},
    each for one request.  Returns (slo, sub-SLO, {letter: segment
    name})."""
    name = fixtures.new_uuid()
    segs = {}
    for i, key in enumerate("abcd"):
        segs[key] = "%s/%s" % (name, key)
        origin.put(SEGMENTS, segs[key],
                   fixtures.random_bytes(SEG + 991 * i, seed=seed * 100 + i),
                   "application/octet-stream", fault=faults.get(key),
                   times=1 if key in faults else None)
    sub = origin.put_slo(SEGMENTS, name + "/sub", [
        (SEGMENTS, segs["c"]), (SEGMENTS, segs["d"])],
        "application/octet-stream")
    slo = origin.put_slo(CONTAINER, name, [
        (SEGMENTS, segs["a"]), (SEGMENTS, segs["b"], "1000-200000"),
        b"inline bytes " * 50, (SEGMENTS, sub.name)], "image/png")
    return slo, sub, segs


def test_ranged_inline_and_nested_entries(ctx):
    """An SLO of a whole segment, a range of one, inline data and a sub-SLO
    comes whole and byte-correct, then as a HIT.  Segment b altered outside
    the range the SLO uses (every byte the client could get is true, but
    the segment's MD5 is not the manifest's), and a segment of the sub-SLO
    answering 503: never a whole 200, not cached, whole once healed."""
    with faultorigin.FaultOrigin() as origin:
        gw = _gateway(ctx, origin)
        slo, _, _ = _mixed_slo(origin, 391, {})
        _assert_whole(gw, slo, "healthy, GET 1", "MISS", origin)
        _settle(gw, "healthy")
        n = len(origin.requests)
        _assert_whole(gw, slo, "healthy, GET 2", "HIT", origin)
        assert len(origin.requests) == n, "a HIT reached the origin"

        cases = (("b", "corrupt", "digest_mismatch"),
                 ("d", "status=503", "origin_status"))
        for k, (key, fault, metric) in enumerate(cases):
            slo, sub, segs = _mixed_slo(origin, 392 + k, {key: fault})
            if key == "b":
                # Bytes the range gives may all go out, but not its last.
                span, limit = _bounds(slo, 1), None
            else:
                # d's bytes come after c's: none of them may go out.
                d_start = _bounds(slo, 3)[0] + sub.entries[0]["bytes"]
                span, limit = (d_start, len(slo.data)), d_start
            label = "segment %s %s" % (key, fault)
            before = gw.error_count(metric)
            res = _fetch(gw, slo.name)
            outcome = _check_failed(gw, slo, span, res, label, "either",
                                    limit=limit)
            assert origin.count("GET", segs[key], SEGMENTS) == 1
            _wait_error(gw, metric, before + 1, label)
            _settle(gw, label)
            _assert_whole(gw, slo, "%s, healed" % label, ("MISS", "HIT"),
                          origin)
            got = origin.count("GET", segs[key], SEGMENTS)
            assert got == 2, "%s: asked %d times, want 2 (once bad, once " \
                "healed): something of it was cached" % (label, got)
            _settle(gw, label)
            n = len(origin.requests)
            _assert_whole(gw, slo, "%s, again" % label, "HIT", origin)
            assert len(origin.requests) == n, "%s: a HIT reached the " \
                "origin" % label
            counts = {x: origin.count("GET", segs[x], SEGMENTS)
                      for x in "abcd" if x != key}
            assert set(counts.values()) == {1}, "%s: %s" % (label, counts)
            print("%s: %s" % (label, outcome))


# -- a ranged entry far into its segment ----------------------------------------
#
# With range_passthrough, a client's Range whose piece starts that far into a
# segment that is not cached is asked of Swift as a Range of the segment.  A
# whole object never is: its every byte must be verified, so a manifest entry
# using bytes far into a segment is read from the segment's start.

FAR = {"range_passthrough": "64K"}      # [cache]: far pieces of a Range go as Ranges
FAR_RANGE = "100000-199999"


def _far_slo(origin, seed, fault):
    """An SLO of segment a whole, then bytes 100000-199999 of segment b
    (with `fault` on b, for every request).  Returns (slo, b's name)."""
    name = fixtures.new_uuid()
    for i, key in enumerate("ab"):
        origin.put(SEGMENTS, "%s/%s" % (name, key),
                   fixtures.random_bytes(SEG, seed=seed * 100 + i),
                   "application/octet-stream",
                   fault=fault if key == "b" else None)
    slo = origin.put_slo(CONTAINER, name, [
        (SEGMENTS, name + "/a"), (SEGMENTS, name + "/b", FAR_RANGE)])
    return slo, name + "/b"


def _range_gets(origin, obj):
    """The Range headers of the GETs for segment obj (None: whole)."""
    return [h.get("Range") for m, _, h in origin.requests_for(obj)
            if m == "GET"]


def _errors(gw):
    return sum(v for k, v in gw.metrics().items()
               if k.startswith("swiftgate_errors_total{"))


def test_far_ranged_entry_faults(ctx):
    """With range_passthrough = 64K, an entry using bytes 100000-199999 of
    a segment: a whole GET reads the segment whole (no Range: every byte
    verified); a client's Range inside that entry asks Swift for just those
    bytes of the segment.  That segment answering another ETag, cut short,
    or 503: never a whole 200, nothing cached (asked again by the next GET),
    an error counted; healed, whole, then a HIT."""
    with faultorigin.FaultOrigin() as origin:
        gw = _gateway(ctx, origin, cache=FAR)
        for k, fault in enumerate(("wrong_md5", "short", "status=503")):
            slo, b = _far_slo(origin, 401 + k, fault)
            start, end = _bounds(slo, 1)
            limit = start + (end - start) // 2 if fault == "short" else start
            label = "far range, segment %s" % fault
            outcomes = []
            for i in range(2):
                before, asked = _errors(gw), len(_range_gets(origin, b))
                res = _fetch(gw, slo.name)
                outcomes.append(_check_failed(
                    gw, slo, (start, end), res, "%s, GET %d" % (label, i + 1),
                    "either", limit=limit))
                assert set(_range_gets(origin, b)) == {None}, (
                    "%s: a whole GET asked Swift for part of a segment, "
                    "whose bytes no MD5 can check: %s" % (
                        label, _range_gets(origin, b)))
                assert len(_range_gets(origin, b)) > asked, (
                    "%s, GET %d: segment b not asked again: %s" % (
                        label, i + 1, _range_gets(origin, b)))
                assert wait_until(lambda: _errors(gw) > before, 3.0), \
                    "%s, GET %d: no error counted" % (label, i + 1)
                _settle(gw, label)
            # A client's Range inside the entry: the Range path.
            want = "bytes=%d-%d" % (start + 1000, start + 1999)
            res = _fetch(gw, slo.name, headers={"Range": want})
            # 502 before the head, or a 206 cut short after it.
            assert res.status == 502 or (
                res.status == 206 and res.error is not None), \
                "%s, Range %s: %s" % (label, want, _describe(res))
            assert "bytes=%d-%d" % (100000 + 1000, 100000 + 1999) in \
                _range_gets(origin, b), "%s: no Range asked of Swift: %s" % (
                    label, _range_gets(origin, b))
            origin.set_fault(SEGMENTS, b, None)
            _settle(gw, label)
            res = _fetch(gw, slo.name, headers={"Range": want})
            assert res.status == 206 and res.error is None and \
                res.body == slo.data[start + 1000:start + 2000], \
                "%s, healed, Range %s: %s" % (label, want, _describe(res))
            _settle(gw, label)
            _assert_whole(gw, slo, "%s, healed" % label, ("MISS", "HIT"),
                          origin)
            _settle(gw, label)
            n = len(origin.requests)
            _assert_whole(gw, slo, "%s, again" % label, "HIT", origin)
            assert len(origin.requests) == n, "%s: a HIT reached the " \
                "origin" % label
            print("%s: %s; b asked %s" % (label, ", ".join(outcomes),
                                           _range_gets(origin, b)))


def test_far_ranged_entry_corrupt(ctx):
    """As above, segment b with the right ETag but byte 150000 altered
    (inside the range used): a whole GET of the SLO reads b whole and its
    MD5 catches it: never a whole 200, nothing cached, digest_mismatch
    counted."""
    with faultorigin.FaultOrigin() as origin:
        gw = _gateway(ctx, origin, cache=FAR)
        slo, b = _far_slo(origin, 411, "corrupt=150000")
        span = _bounds(slo, 1)
        label = "far range, segment corrupt inside the range"
        before = gw.error_count("digest_mismatch")
        got = []
        for i in range(2):
            got.append(_fetch(gw, slo.name))
            _settle(gw, label)
            asked = _range_gets(origin, b)
            assert set(asked) == {None}, (
                "%s: want only whole GETs of b, got %s" % (label, asked))
            assert len(asked) >= i + 1, (
                "%s, GET %d: b asked %s: the bad segment was cached" % (
                    label, i + 1, asked))
        _wait_error(gw, "digest_mismatch", before + 2, label)
        origin.set_fault(SEGMENTS, b, None)
        _assert_whole(gw, slo, "%s, healed" % label, ("MISS", "HIT"), origin)
        _settle(gw, label)
        n = len(origin.requests)
        _assert_whole(gw, slo, "%s, again" % label, "HIT", origin)
        assert len(origin.requests) == n, "%s: a HIT reached the origin" % (
            label)
        for i, res in enumerate(got):
            _check_failed(gw, slo, span, res, "%s, GET %d" % (label, i + 1),
                          "either", true_bytes=False)


# -- many clients, and a client that leaves -----------------------------------

def _many(gw, slo, n, stagger):
    """n GETs of slo from threads: together (a barrier) or `stagger` s
    apart.  Returns their _Results in start order."""
    out = [None] * n
    barrier = threading.Barrier(n)

    def one(i):
        try:
            if stagger:
                time.sleep(i * stagger)
            else:
                barrier.wait(10)
            out[i] = _fetch(gw, slo.name, timeout=30)
        except Exception as e:      # reported below as a missing answer
            out[i] = _Result(None, httputil.Headers([]), b"", repr(e))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def test_many_clients_one_cold_slo(ctx):
    """10 clients at once on a cold SLO (the manifest slowed down so all
    join its fill, segments trickled so they overlap), and 10 more on
    another one arriving 40 ms apart while its segments fill: everyone gets
    the whole object, each segment, the manifest and the HEAD reach the
    origin once.  Two workers, so the fills are shared across them."""
    with faultorigin.FaultOrigin() as origin:
        gw = _gateway(ctx, origin, server={"workers": "2"})
        cases = (("together", 0), ("40 ms apart", 0.04))
        for k, (label, stagger) in enumerate(cases):
            slo = _put_slo(origin, 8, 371 + k,
                           {i: "trickle=2000000" for i in range(8)},
                           manifest_fault="delay=0.3", manifest_times=1)
            results = _many(gw, slo, 10, stagger)
            for i, res in enumerate(results):
                where = "%s, client %d: %s%s" % (label, i, _describe(res),
                                                 _stderr(gw))
                assert res.status == 200 and res.error is None, where
                assert res.body == slo.data, "body differs at offset %d; " \
                    "%s" % (_first_diff(res.body, slo.data), where)
                assert res.headers.get("ETag") == '"%s"' % slo.etag, where
            counts = [_seg_count(origin, slo, i) for i in range(8)]
            assert counts == [1] * 8, "%s: segment GETs %s, want one each" % (
                label, counts)
            m = _manifest_gets(origin, slo)
            h = origin.count("HEAD", slo.name, CONTAINER)
            assert (m, h) == (1, 1), "%s: %d manifest GETs, %d HEADs, want " \
                "one each" % (label, m, h)
            print("%s: X-Cache %s" % (label, sorted(
                r.headers.get("X-Cache") for r in results)))


def _raw_get(gw, name):
    host, port, _ = httputil.split_url(gw.url)
    s = socket.create_connection((host, port), timeout=10)
    s.sendall(("GET /fractal/%s HTTP/1.1\r\nHost: %s:%d\r\n\r\n"
               % (name, host, port)).encode())
    return s


def _abort(s):
    """Close with an RST: the client is gone, not done."""
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                     struct.pack("ii", 1, 0))
    except OSError:
        pass
    s.close()


def test_client_leaves_mid_slo(ctx):
    """Clients that go away from a 16-segment SLO (segments trickled):
    mid-body, before the head (the first segment's answer is late, the
    next three are coming), and while the manifest is still coming.  The
    gateway keeps running, the fills it had started finish into the cache
    (a later GET fetches no segment, manifest or HEAD a second time) and
    it stops cleanly (the harness checks exit 0 and no sanitizer report)."""
    with faultorigin.FaultOrigin() as origin:
        gw = _gateway(ctx, origin)
        trickled = {i: TRICKLE for i in range(16)}
        late = dict(trickled)
        late[0] = ["delay=0.5", TRICKLE]
        cases = (
            ("mid-body", _put_slo(origin, 16, 381, trickled), 300 << 10),
            ("before the head", _put_slo(origin, 16, 382, late), 0),
            ("during the manifest", _put_slo(
                origin, 16, 383, trickled, manifest_fault="delay=0.5",
                manifest_times=1), None),
        )
        for label, slo, read in cases:
            s = _raw_get(gw, slo.name)
            got = b""
            if read is None:
                time.sleep(0.2)         # the manifest is on its way
            elif read == 0:
                time.sleep(0.2)         # the first segments are on theirs
            else:
                while len(got) < read:
                    chunk = s.recv(65536)
                    assert chunk, "%s: the gateway closed after %d bytes%s" \
                        % (label, len(got), _stderr(gw))
                    got += chunk
                head, _, body = got.partition(b"\r\n\r\n")
                assert head.startswith(b"HTTP/1.1 200"), (label, head[:200])
            _abort(s)
            started = [_seg_count(origin, slo, i) for i in range(16)]
            running = _fills(gw)
            if read == 0:
                # Else this case would not show what it is about.
                assert running > 0 and started[:WINDOW] == [1] * WINDOW, (
                    "%s: %s fills running, segments asked %s when the "
                    "client left" % (label, running, started))
            _settle(gw, "%s, after the client left" % label)
            after = [_seg_count(origin, slo, i) for i in range(16)]
            if read is not None:
                assert any(after), "%s: no segment was fetched" % label
            _assert_whole(gw, slo, "%s, next GET" % label,
                          _want_cache(origin, slo), origin)
            counts = [_seg_count(origin, slo, i) for i in range(16)]
            assert counts == [1] * 16, (
                "%s: segment GETs %s after the next GET (when the client "
                "left: %s, once the fills ended: %s); want one each: a "
                "fill begun for the client that left was dropped or not "
                "kept" % (label, counts, started, after))
            m = _manifest_gets(origin, slo)
            h = origin.count("HEAD", slo.name, CONTAINER)
            assert (m, h) == (1, 1), "%s: %d manifest GETs, %d HEADs" % (
                label, m, h)
            print("%s: segments asked when the client left %s (%d fills "
                  "running), once its fills ended %s" % (
                      label, "".join(map(str, started)), running,
                      "".join(map(str, after))))
        r = httputil.get(gw.url + "/healthz", timeout=5)
        assert r.status == 200, "after the clients left: /healthz %r" % r
