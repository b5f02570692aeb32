"""Swift large objects (SLO and DLO) reassembled by the gateway.

For /fractal/<name> naming an SLO or a DLO the gateway reads the manifest
(GET ?multipart-manifest=get, and for an SLO a HEAD for its content type;
for a DLO the segment container's listing) and then each segment with a
plain GET, caching every segment on its own.  Every object here is compared
byte for byte with Swift's own GET of it, whole and for Ranges across
segment boundaries, with the same ETag and Content-Length where Swift
gives them; what reached Swift is read from its proxy log.  Cold Ranges are
asked of gateways with range_passthrough = 0 (only the segments a Range
covers are read) and of gateways that first pass a far Range on to Swift:
seeing a large object's answer, they drop it and read the segments instead
(Swift gets a multi-page DLO's ranges wrong).
"""

import configparser
import http.client
import json
import os
import random
import threading
import time

import fixtures
import gateway
import httputil
import largeobj
import saio
from largeobj import (data_part, manifest_gets, object_requests, put_dlo,
                      put_segments, put_slo, seg_part, segment_gets,
                      sub_slo_part)

FRACTALS = "fractals"
SEGMENTS = "fractals_segments"
PNG_HEAD = b"\x89PNG\r\n\x1a\n"
# Swift logs a request when it ends: on loopback within a few ms of the
# gateway having read the answer.
SETTLE = 0.2


# -- reading ------------------------------------------------------------------

def _get(gw, name, headers=None, method="GET", timeout=30.0):
    return largeobj.fetch(gw.url + "/fractal/" + name, headers, method,
                          timeout)


def _snap(swift):
    """Every client request in Swift's proxy log so far (a snapshot), read
    once no new line has come for SETTLE seconds."""
    return swift.proxy_log_requests(settle=SETTLE)


def _since(swift, before):
    """The client requests Swift logged after the snapshot `before`, and a
    new snapshot."""
    now = _snap(swift)
    return now[len(before):], now


def _origin(gw, kind):
    """swiftgate_origin_requests_total of one kind, over every class."""
    return sum(v for k, v in gw.metrics().items()
               if k.startswith("swiftgate_origin_requests_total{")
               and 'kind="%s"' % kind in k)


def _describe(resp):
    h = resp.headers
    return ("%d %s X-Cache=%s ETag=%s Content-Length=%s Content-Range=%s "
            "Content-Type=%s body=%d bytes%s" % (
                resp.status, resp.reason, h.get("X-Cache"), h.get("ETag"),
                h.get("Content-Length"), h.get("Content-Range"),
                h.get("Content-Type"), len(resp.body),
                "" if resp.complete else " (cut short)"))


def _stderr(gw, lines=12):
    text = gw.stderr_text().splitlines()
    return "\n    gateway stderr:\n    " + "\n    ".join(text[-lines:])


def _segments(n, first, step, last=None):
    """n segment sizes: first, first + step, ...; the last one `last`."""
    sizes = [first + step * i for i in range(n)]
    if last is not None:
        sizes[-1] = last
    return sizes


# -- checks -------------------------------------------------------------------

def _assert_whole(resp, obj, gw, swift=None, cache=None, method="GET"):
    """A 200 with obj's bytes, quoted ETag and Content-Length; with Swift's
    own answer given, the same ETag, Content-Length and Content-Type."""
    where = "%s %s: %s%s" % (method, obj.name, _describe(resp), _stderr(gw))
    assert resp.status == 200, where
    h = resp.headers
    if cache is not None:
        assert h.get("X-Cache") == cache, "want X-Cache %s; %s" % (cache,
                                                                    where)
        if cache == "HIT":
            assert h.get("Age", "").isdigit(), "a HIT without Age; " + where
    assert h.get("Content-Length") == str(len(obj.data)), where
    assert h.get("ETag") == '"%s"' % obj.etag, "want ETag \"%s\"; %s" % (
        obj.etag, where)
    if method == "GET":
        assert resp.complete, where
        assert resp.body == obj.data, "body differs from the object's " \
            "bytes (md5 %s, want %s); %s" % (
                largeobj.md5_hex(resp.body), largeobj.md5_hex(obj.data),
                where)
    else:
        assert resp.body == b"", where
    if swift is not None:
        sh = swift.headers
        assert swift.status == 200, "Swift: %s" % _describe(swift)
        if method == "GET":
            assert swift.complete and swift.body == obj.data, \
                "Swift's own GET differs: %s" % _describe(swift)
        assert sh.get("Content-Length") == str(len(obj.data)), (
            "Swift's Content-Length", sh.get("Content-Length"))
        assert h.get("ETag") == sh.get("Etag"), "Swift says ETag %s; %s" % (
            sh.get("Etag"), where)
        assert h.get("Content-Type") == sh.get("Content-Type"), \
            "Swift says Content-Type %s; %s" % (sh.get("Content-Type"),
                                                 where)


def _assert_range(resp, obj, header, gw, swift=None):
    """A 206 for `header` with obj's bytes; the same bytes and
    Content-Ranges as Swift's own 206 when that is given."""
    where = "%s Range: %s: %s%s" % (obj.name, header, _describe(resp),
                                    _stderr(gw))
    assert resp.status == 206, where
    assert resp.complete, where
    assert resp.headers.get("ETag") == '"%s"' % obj.etag, where
    assert resp.headers.get("Content-Length") == str(len(resp.body)), where
    want = largeobj.expected_parts(obj.data, header)
    if len(want) == 1:
        assert resp.headers.get("Content-Range") == want[0][0], where
        assert resp.body == want[0][1], "bytes differ; " + where
        got = want
    else:
        got = largeobj.multipart_parts(resp)
        assert got == want, "parts %r, want %r; %s" % (
            [(c, len(b)) for c, b in got], [(c, len(b)) for c, b in want],
            where)
    if swift is not None:
        assert swift.status == 206 and swift.complete, \
            "Swift: %s" % _describe(swift)
        theirs = ([(swift.headers.get("Content-Range"), swift.body)]
                  if len(want) == 1 else largeobj.multipart_parts(swift))
        assert theirs == got, "Swift's parts %r, the gateway's %r" % (
            [(c, len(b)) for c, b in theirs], [(c, len(b)) for c, b in got])


def _assert_segment_gets(reqs, counts, label):
    """counts: {segment key: plain GETs wanted}."""
    got = {k: segment_gets(reqs, k) for k in counts}
    bad = {"/".join(k): (got[k], want) for k, want in counts.items()
           if got[k] != want}
    assert not bad, "%s: segment GETs {segment: (got, want)}: %r" % (
        label, bad)


def _assert_fetched_whole(reqs, obj, keys, label):
    """Each segment in keys was read whole: 200 and all its bytes."""
    sizes = {s.key: len(s.data) for s in obj.segments}
    for k in keys:
        got = largeobj.segment_get_sizes(reqs, k)
        assert got and all(st == 200 and sent == sizes[k]
                           for st, sent in got), \
            "%s: segment %s not read whole: %r (size %d)" % (
                label, "/".join(k), got, sizes[k])


def _with(gw_kw, section, **keys):
    """gw_kw (sections for ctx.gateway) with keys set in section."""
    out = {sec: dict(v) for sec, v in (gw_kw or {}).items()}
    out.setdefault(section, {}).update(keys)
    return out


def _check_ranges(ctx, obj, swift_compares, swift=None, gw_kw=None,
                  extra=()):
    """Every standard range (and `extra` ones) on a cold gateway that
    passes no Range to Swift (range_passthrough = 0): only the segments the
    range covers reach Swift, once each and whole, also when the same
    range is asked again.  Each answer is compared with Swift's own 206
    where swift_compares(header)."""
    swift = swift or ctx.saio
    keys = obj.keys()
    before = _snap(swift)
    for label, header in list(largeobj.standard_ranges(obj.pieces)) + \
            list(extra):
        theirs = None
        if swift_compares(header):
            theirs = largeobj.swift_fetch(swift, obj.name, {"Range": header})
        gw = ctx.gateway(**_with(gw_kw, "cache", range_passthrough="0"))
        resp = _get(gw, obj.name, {"Range": header})
        _assert_range(resp, obj, header, gw, theirs)
        again = _get(gw, obj.name, {"Range": header})
        _assert_range(again, obj, header, gw, theirs)
        reqs, before = _since(swift, before)
        covered = largeobj.covered_keys(
            obj.pieces, largeobj.resolve_ranges(header, len(obj.data)))
        what = "cold Range: %s (%s), twice" % (header, label)
        _assert_segment_gets(reqs, {k: 1 if k in covered else 0
                                    for k in keys}, what)
        _assert_fetched_whole(reqs, obj, covered, what)
        gw.stop()


def _check_passed_ranges(ctx, obj, swift_compares, swift=None,
                         gw_kw=None):
    """Cold ranges the gateway first sends to Swift as a Range (a suffix,
    and with range_passthrough = 1K ranges starting past 1 KiB), then covers
    from the segments once Swift's answer shows a large object: the same
    bytes and ETag as from the segments; compared with Swift's own 206
    where swift_compares(header)."""
    swift = swift or ctx.saio
    b = largeobj.boundaries(obj.pieces)
    total = b[-1]
    headers = ["bytes=-%d" % (total - b[-2] + 5),
               "bytes=%d-" % (b[-3] + 7),
               "bytes=%d-%d" % (b[1] + 3, b[3] - 3),
               "bytes=%d-%d,%d-%d" % (b[1] + 3, b[2] + 3, b[3] - 3, b[3] + 3)]
    wrong = []
    for header in headers:
        theirs = None
        if swift_compares(header):
            theirs = largeobj.swift_fetch(swift, obj.name, {"Range": header})
        gw = ctx.gateway(**_with(gw_kw, "cache", range_passthrough="1K"))
        try:
            _assert_range(_get(gw, obj.name, {"Range": header}), obj,
                          header, gw, theirs)
        except AssertionError as e:
            wrong.append(str(e).split("\n")[0])
        gw.stop()
    assert not wrong, "cold Ranges Swift may be asked for:\n" + \
        "\n".join(wrong)


def _assert_failed(resp, obj, bad_offset, gw, label):
    """A broken object is never a whole 200: either a 502 with a short
    text reason, or a 200 head whose body stops short of Content-Length
    (with the right bytes before the broken segment)."""
    where = "%s: %s%s" % (label, _describe(resp), _stderr(gw))
    if resp.status == 502:
        text = resp.body.decode("utf-8", "replace").strip()
        assert 0 < len(resp.body) < 1024 and text, \
            "a 502 without a short text reason (%r); %s" % (
                resp.body[:200], where)
        return
    assert resp.status == 200, "want 502 or a 200 cut short; " + where
    assert resp.headers.get("Content-Length") == str(len(obj.data)), where
    assert not resp.complete and len(resp.body) < len(obj.data), \
        "a whole 200 for a broken object; " + where
    n = min(len(resp.body), bad_offset)
    assert resp.body[:n] == obj.data[:n], \
        "the bytes before the broken segment differ; " + where


def _slo_first_get(ctx, gw, slo, nested=()):
    """GET a cold SLO; checks it against Swift and what reached Swift:
    the manifest (and each nested one in `nested`) once with
    ?multipart-manifest=get, one HEAD, each segment once and whole, no GET
    Swift would assemble."""
    theirs = largeobj.swift_fetch(ctx.saio, slo.name)
    before = _snap(ctx.saio)
    resp = _get(gw, slo.name)
    reqs, _ = _since(ctx.saio, before)
    _assert_whole(resp, slo, gw, theirs, cache="MISS")
    for name in (slo.name,) + tuple(nested):
        assert manifest_gets(reqs, name) == 1, \
            "manifest of %s: %r" % (name, largeobj.mentioning(reqs, name))
        assert largeobj.plain_requests(reqs, "GET", name) == 0, \
            "a GET of %s Swift would assemble: %r" % (name, reqs)
    assert object_requests(reqs, "HEAD", slo.name) == 1, \
        largeobj.mentioning(reqs, slo.name)
    _assert_segment_gets(reqs, {k: 1 for k in slo.keys()}, "first GET")
    _assert_fetched_whole(reqs, slo, slo.keys(), "first GET")
    return reqs


# -- DLO --------------------------------------------------------------------------

def _libcloud_container(ctx):
    from libcloud.storage.providers import get_driver
    from libcloud.storage.types import Provider

    storage_url, _ = ctx.saio.auth()
    driver = get_driver(Provider.OPENSTACK_SWIFT)(
        "test:tester", "testing", ex_force_auth_version="1.0",
        ex_force_auth_url=ctx.saio.auth_url, ex_force_base_url=storage_url)
    return driver, driver.get_container(FRACTALS)


def test_libcloud_multipart_upload_dlo(ctx):
    """libcloud's ex_multipart_upload_object writes a DLO: segments
    <name>/00000000... beside the manifest in `fractals`, whose
    X-Object-Manifest is fractals/<name>/."""
    driver, container = _libcloud_container(ctx)
    chunk = 16384
    data = PNG_HEAD + fixtures.random_bytes(4 * chunk + 4455, seed=501)
    path = os.path.join(ctx.tmpdir, "fractal")
    with open(path, "wb") as f:
        f.write(data)
    name = fixtures.new_uuid()
    # libcloud 3.4.1 compares each segment's ETag with the MD5 of an empty
    # body (as upload_object_via_stream does) and raises after the first
    # segment; without the check it uploads them all, checked below
    # against Swift's listing.
    driver.ex_multipart_upload_object(path, container, name,
                                      chunk_size=chunk, verify_hash=False)

    status, head = ctx.saio.head_object(FRACTALS, name)
    assert status == 200, status
    assert head.get("X-Object-Manifest") == "%s/%s/" % (FRACTALS, name), head
    r = ctx.saio.request("GET", ctx.saio.object_url(FRACTALS)
                         + "?format=json&prefix=%s/" % name)
    listing = json.loads(r.body)
    sizes = [chunk] * 4 + [len(data) - 4 * chunk]
    assert [o["name"] for o in listing] == [
        "%s/%08d" % (name, i) for i in range(5)], listing
    segs, pos = [], 0
    for o, size in zip(listing, sizes):
        part = data[pos:pos + size]
        pos += size
        assert o["bytes"] == size and o["hash"] == largeobj.md5_hex(part), o
        segs.append(largeobj.Segment(FRACTALS, o["name"], part, o["hash"]))
    dlo = largeobj.Dlo(name, segs)
    assert dlo.data == data

    theirs = largeobj.swift_fetch(ctx.saio, name)
    gw = ctx.gateway()
    before = _snap(ctx.saio)
    resp = _get(gw, name)
    reqs, _ = _since(ctx.saio, before)
    # The manifest says application/json (what libcloud sends for a PUT
    # without a body), and Swift serves the DLO as that.
    _assert_whole(resp, dlo, gw, theirs, cache="MISS")
    assert manifest_gets(reqs, name) == 1, largeobj.mentioning(reqs, name)
    assert largeobj.plain_requests(reqs, "GET", name) == 0, \
        "a GET Swift would assemble: %r" % reqs
    n = largeobj.listing_gets(reqs, FRACTALS, name)
    assert 1 <= n <= 2, "%d listings for one page: %r" % (n, reqs)
    _assert_segment_gets(reqs, {k: 1 for k in dlo.keys()}, "first GET")
    _assert_fetched_whole(reqs, dlo, dlo.keys(), "first GET")
    assert _origin(gw, "segment") == 5, gw.metrics()
    assert _origin(gw, "listing") == n, gw.metrics()
    # Swift 2.30's DLO answers a multi-range request with the whole object.
    _check_ranges(ctx, dlo, lambda header: "," not in header)
    _check_passed_ranges(ctx, dlo, lambda header: "," not in header)


def test_dlo_listing_spans_pages(ctx):
    """A DLO of 11 segments in a Swift whose listings hold 4 names: the
    gateway reads every page and sends Content-Length and the DLO ETag,
    where Swift itself streams the object chunked."""
    swift = saio.Saio(container_listing_limit=4, base_dir=ctx.tmpdir)
    try:   # stopped, not removed: its logs stay in the test's directory
        swift.start()
        swift.wait_ready()
        for c in (FRACTALS, SEGMENTS):
            swift.put_container(c)
        uid = fixtures.new_uuid()
        segs = put_segments(swift, uid, _segments(11, 3000, 137, last=777),
                            seed=502)
        name = fixtures.new_uuid()
        dlo = put_dlo(swift, name, segs, "%s/%s/" % (SEGMENTS, uid))
        theirs = largeobj.swift_fetch(swift, name)
        assert theirs.status == 200 and theirs.complete \
            and theirs.body == dlo.data, _describe(theirs)
        assert theirs.headers.get("Content-Length") is None, theirs.headers

        gw_kw = {"swift": {"auth_url": swift.auth_url}}
        gw = ctx.gateway(**gw_kw)
        before = _snap(swift)
        resp = _get(gw, name)
        reqs, before = _since(swift, before)
        _assert_whole(resp, dlo, gw, cache="MISS")
        assert resp.headers.get("Content-Type") == "image/png", \
            _describe(resp)
        n = largeobj.listing_gets(reqs, SEGMENTS, uid)
        assert 3 <= n <= 4, "%d listings of 11 names in pages of 4: %r" % (
            n, largeobj.mentioning(reqs, uid))
        assert manifest_gets(reqs, name) == 1, reqs
        _assert_segment_gets(reqs, {k: 1 for k in dlo.keys()}, "first GET")
        assert _origin(gw, "listing") == n, gw.metrics()
        assert _origin(gw, "segment") == 11, gw.metrics()
        again = _get(gw, name)
        reqs, before = _since(swift, before)
        _assert_whole(again, dlo, gw, cache="HIT")
        _assert_segment_gets(reqs, {k: 0 for k in dlo.keys()}, "second GET")
        # Swift's own 206 for a DLO over several pages gives only the first
        # page's bytes as the total, and a suffix or multi-range gets a 200
        # of the whole object, chunked, with the manifest's own ETag: the
        # gateway's answers are compared with the bytes, not with Swift's.
        _check_ranges(ctx, dlo, lambda header: False, swift, gw_kw)
        _check_passed_ranges(ctx, dlo, lambda header: False, swift, gw_kw)
        gw.stop()
    finally:
        swift.stop()


# -- SLO --------------------------------------------------------------------------

def test_slo_of_20_segments(ctx):
    uid = fixtures.new_uuid()
    segs = put_segments(ctx.saio, uid, _segments(20, 40000, 1009, last=12345),
                        seed=503)
    slo = put_slo(ctx.saio, fixtures.new_uuid(),
                  [seg_part(s) for s in segs])
    gw = ctx.gateway()
    _slo_first_get(ctx, gw, slo)
    assert _origin(gw, "segment") == 20, gw.metrics()
    assert _origin(gw, "manifest") == 0, gw.metrics()
    _check_ranges(ctx, slo, lambda header: True)
    _check_passed_ranges(ctx, slo, lambda header: True)


def test_slo_ranged_segments(ctx):
    """Entries with "range": M-N, -N and M- take those bytes of their
    segment; the gateway still reads (and caches) each segment whole."""
    uid = fixtures.new_uuid()
    segs = put_segments(ctx.saio, uid, [5000, 6000, 7000, 8000, 9000, 5500],
                        seed=504)
    parts = [seg_part(segs[0], "10-19"), seg_part(segs[1]),
             seg_part(segs[2], "-300"), seg_part(segs[3], "1000-"),
             seg_part(segs[4], "7-10"), seg_part(segs[5], "4000-4999")]
    slo = put_slo(ctx.saio, fixtures.new_uuid(), parts)
    r = ctx.saio.request("GET", ctx.saio.object_url(FRACTALS, slo.name)
                         + "?multipart-manifest=get")
    ranges = [e.get("range") for e in json.loads(r.body)]
    assert ranges == ["10-19", None, "6700-6999", "1000-7999", "7-10",
                      "4000-4999"], ranges
    gw = ctx.gateway()
    _slo_first_get(ctx, gw, slo)
    _check_ranges(ctx, slo, lambda header: True)


def test_slo_inline_data(ctx):
    """Inline `data` entries (first, between segments, last) are served
    from the manifest; only object-backed segments reach Swift."""
    uid = fixtures.new_uuid()
    segs = put_segments(ctx.saio, uid, [20000, 15000, 9000], seed=505)
    parts = [data_part(PNG_HEAD), seg_part(segs[0]),
             data_part(fixtures.random_bytes(300, seed=5051)),
             seg_part(segs[1], "100-10099"), seg_part(segs[2]),
             data_part(b"IEND\xaeB`\x82")]
    slo = put_slo(ctx.saio, fixtures.new_uuid(), parts)
    gw = ctx.gateway()
    _slo_first_get(ctx, gw, slo)
    b = largeobj.boundaries(slo.pieces)
    _check_ranges(ctx, slo, lambda header: True, extra=[
        ("inside inline data", "bytes=%d-%d" % (b[2] + 10, b[3] - 10)),
        ("first and last inline data",
         "bytes=0-%d,%d-" % (b[1] - 1, b[5]))])


def test_nested_slo(ctx):
    """An SLO whose entries name other SLOs, whole and with a range that
    crosses the inner one's segments and inline data."""
    uid = fixtures.new_uuid()
    a = put_segments(ctx.saio, uid, [4000, 5000, 3000], seed=506)
    c = put_segments(ctx.saio, uid, [6000, 4000], seed=507, start=3)
    b = put_segments(ctx.saio, uid, [2500, 3500], seed=508, start=5)
    inner1 = put_slo(ctx.saio, fixtures.new_uuid(), [seg_part(s) for s in a])
    inner2 = put_slo(ctx.saio, fixtures.new_uuid(),
                     [seg_part(c[0]), data_part(b"inner"), seg_part(c[1])])
    outer = put_slo(ctx.saio, fixtures.new_uuid(),
                    [seg_part(b[0]), sub_slo_part(inner1), seg_part(b[1]),
                     sub_slo_part(inner2, "1000-8000")])
    assert len(outer.keys()) == 7, outer.keys()
    gw = ctx.gateway()
    _slo_first_get(ctx, gw, outer, nested=(inner1.name, inner2.name))
    assert _origin(gw, "manifest") == 2, gw.metrics()
    assert _origin(gw, "segment") == 7, gw.metrics()
    _check_ranges(ctx, outer, lambda header: True)


# -- broken segments ----------------------------------------------------------------

def _break_and_restore(ctx, slo, index, label, breaker):
    """With segment `index` broken by breaker(seg): Swift does not serve the
    SLO whole; the gateway fails (twice, each time asking Swift for that
    segment again: nothing unverified was cached); with the segment put
    back the gateway serves the SLO whole."""
    seg = slo.segments[index]
    bad_offset = largeobj.boundaries(slo.pieces)[
        [p.key for p in slo.pieces].index(seg.key)]
    breaker(seg)
    try:
        theirs = largeobj.swift_fetch(ctx.saio, slo.name)
        assert not (theirs.status == 200 and theirs.complete
                    and theirs.body == slo.data), \
            "%s: Swift still serves the SLO whole" % label
        gw = ctx.gateway()
        before = _snap(ctx.saio)
        for attempt in ("first", "second"):
            resp = _get(gw, slo.name, timeout=20)
            reqs, before = _since(ctx.saio, before)
            _assert_failed(resp, slo, bad_offset, gw,
                           "%s, %s GET" % (label, attempt))
            assert segment_gets(reqs, seg.key) >= 1, \
                "%s, %s GET: the broken segment was not asked for: %r" % (
                    label, attempt, largeobj.mentioning(reqs, seg.name))
    finally:
        ctx.saio.put_object(seg.container, seg.name, seg.data,
                            "application/octet-stream")
    resp = _get(gw, slo.name)
    reqs, before = _since(ctx.saio, before)
    _assert_whole(resp, slo, gw)
    assert segment_gets(reqs, seg.key) == 1, \
        "%s, put back: %r" % (label, largeobj.mentioning(reqs, seg.name))


def test_overwritten_segment_is_an_error_and_not_cached(ctx):
    """A segment overwritten after the SLO was written (same size, other
    bytes, so another ETag than the manifest's)."""
    uid = fixtures.new_uuid()
    segs = put_segments(ctx.saio, uid, [20000] * 6, seed=509)
    slo = put_slo(ctx.saio, fixtures.new_uuid(), [seg_part(s) for s in segs])

    def overwrite(seg):
        ctx.saio.put_object(seg.container, seg.name,
                            fixtures.random_bytes(len(seg.data), seed=5091),
                            "application/octet-stream")

    _break_and_restore(ctx, slo, 2, "segment 2 overwritten", overwrite)


def test_missing_or_short_segment_is_an_error_and_not_cached(ctx):
    uid = fixtures.new_uuid()
    segs = put_segments(ctx.saio, uid, [15000] * 6, seed=510)
    slo = put_slo(ctx.saio, fixtures.new_uuid(), [seg_part(s) for s in segs])

    def delete(seg):
        assert ctx.saio.delete_object(seg.container, seg.name) == 204

    def shorten(seg):
        ctx.saio.put_object(seg.container, seg.name, seg.data[:-100],
                            "application/octet-stream")

    _break_and_restore(ctx, slo, 0, "segment 0 deleted", delete)
    _break_and_restore(ctx, slo, 3, "segment 3 short", shorten)
    _break_and_restore(ctx, slo, 5, "last segment deleted", delete)


# -- sharing, HEAD, hits -------------------------------------------------------------

def test_shared_segments_fetched_once(ctx):
    """Two SLOs and a DLO over the same nine segments: each segment reaches
    Swift once, however many manifests use it."""
    uid = fixtures.new_uuid()
    segs = put_segments(ctx.saio, uid, _segments(9, 8000, 500), seed=511)
    slo_a = put_slo(ctx.saio, fixtures.new_uuid(),
                    [seg_part(s) for s in segs[:6]])
    slo_b = put_slo(ctx.saio, fixtures.new_uuid(),
                    [seg_part(segs[8])] + [seg_part(s) for s in segs[3:8]])
    dlo = put_dlo(ctx.saio, fixtures.new_uuid(), segs,
                  "%s/%s/" % (SEGMENTS, uid))
    theirs = [largeobj.swift_fetch(ctx.saio, o.name)
              for o in (slo_a, slo_b, dlo)]
    gw = ctx.gateway()
    before = _snap(ctx.saio)
    for obj, swift in zip((slo_a, slo_b, dlo), theirs):
        _assert_whole(_get(gw, obj.name), obj, gw, swift, cache="MISS")
    reqs, before = _since(ctx.saio, before)
    _assert_segment_gets(reqs, {s.key: 1 for s in segs},
                         "two SLOs and a DLO")
    assert _origin(gw, "segment") == 9, gw.metrics()
    for obj in (slo_a, slo_b, dlo):
        _assert_whole(_get(gw, obj.name), obj, gw, cache="HIT")
    reqs, before = _since(ctx.saio, before)
    _assert_segment_gets(reqs, {s.key: 0 for s in segs}, "hits")


def test_head_of_cold_large_objects(ctx):
    """HEAD answers from the manifest (and a DLO's listing): Swift's
    Content-Length, ETag and Content-Type, and no segment is read."""
    uid = fixtures.new_uuid()
    segs = put_segments(ctx.saio, uid, _segments(5, 30000, 1000), seed=512)
    slo = put_slo(ctx.saio, fixtures.new_uuid(), [seg_part(s) for s in segs])
    uid2 = fixtures.new_uuid()
    segs2 = put_segments(ctx.saio, uid2, _segments(5, 20000, 1000), seed=513)
    dlo = put_dlo(ctx.saio, fixtures.new_uuid(), segs2,
                  "%s/%s/" % (SEGMENTS, uid2))
    theirs = {o.name: largeobj.swift_fetch(ctx.saio, o.name, method="HEAD")
              for o in (slo, dlo)}
    gw = ctx.gateway()
    before = _snap(ctx.saio)
    for obj in (slo, dlo):
        resp = _get(gw, obj.name, method="HEAD")
        reqs, before = _since(ctx.saio, before)
        _assert_whole(resp, obj, gw, theirs[obj.name], method="HEAD")
        _assert_segment_gets(reqs, {k: 0 for k in obj.keys()},
                             "HEAD %s" % obj.name)
        assert manifest_gets(reqs, obj.name) == 1, reqs
        assert largeobj.plain_requests(reqs, "GET", obj.name) == 0, reqs
        assert object_requests(reqs, "HEAD", obj.name) <= 1, reqs
    for obj in (slo, dlo):
        _assert_whole(_get(gw, obj.name), obj, gw)
    reqs, before = _since(ctx.saio, before)
    _assert_segment_gets(reqs, {k: 1 for k in slo.keys() + dlo.keys()},
                         "GET after HEAD")


def test_second_get_is_a_hit(ctx):
    """Once an SLO and a DLO were read, GET, HEAD and Ranges are HITs that
    send Swift nothing for them."""
    uid = fixtures.new_uuid()
    segs = put_segments(ctx.saio, uid, _segments(6, 25000, 333), seed=514)
    slo = put_slo(ctx.saio, fixtures.new_uuid(),
                  [data_part(PNG_HEAD)] + [seg_part(s) for s in segs])
    uid2 = fixtures.new_uuid()
    segs2 = put_segments(ctx.saio, uid2, _segments(6, 18000, 444), seed=515)
    dlo = put_dlo(ctx.saio, fixtures.new_uuid(), segs2,
                  "%s/%s/" % (SEGMENTS, uid2))
    theirs = {o.name: largeobj.swift_fetch(ctx.saio, o.name)
              for o in (slo, dlo)}
    gw = ctx.gateway()
    for obj in (slo, dlo):
        _assert_whole(_get(gw, obj.name), obj, gw, theirs[obj.name],
                      cache="MISS")
    before = _snap(ctx.saio)
    for obj in (slo, dlo):
        _assert_whole(_get(gw, obj.name), obj, gw, theirs[obj.name],
                      cache="HIT")
        _assert_whole(_get(gw, obj.name, method="HEAD"), obj, gw,
                      cache="HIT", method="HEAD")
        for _, header in largeobj.standard_ranges(obj.pieces):
            resp = _get(gw, obj.name, {"Range": header})
            _assert_range(resp, obj, header, gw)
            assert resp.headers.get("X-Cache") == "HIT", _describe(resp)
    reqs, _ = _since(ctx.saio, before)
    _assert_segment_gets(reqs, {k: 0 for k in slo.keys() + dlo.keys()},
                         "hits")
    sent = [r for r in reqs
            if any(t in r[1] for t in (uid, uid2, slo.name, dlo.name))]
    assert not sent, "hits reached Swift: %r" % sent


def test_far_range_in_a_big_segment(ctx):
    """A cold Range starting range_passthrough or more into a segment asks
    Swift for just those bytes of it (a 206 whose ETag is the manifest's),
    and with range_fill the whole segment fills behind it; a Range that
    goes on into the next segment reads that one whole, from its start."""
    uid = fixtures.new_uuid()
    segs = put_segments(ctx.saio, uid, [100000, 2000000, 100000], seed=818)
    slo = put_slo(ctx.saio, fixtures.new_uuid(), [seg_part(s) for s in segs])
    big, last = segs[1].key, segs[2].key
    inside = "bytes=%d-%d" % (100000 + 1000000, 100000 + 1000099)
    across = "bytes=%d-%d" % (100000 + 1999000, 100000 + 2000000 + 499)
    theirs = {h: largeobj.swift_fetch(ctx.saio, slo.name, {"Range": h})
              for h in (inside, across)}

    before = _snap(ctx.saio)
    gw = ctx.gateway(cache={"range_passthrough": "512K", "range_fill": "no"})
    _assert_range(_get(gw, slo.name, {"Range": inside}), slo, inside, gw,
                  theirs[inside])
    reqs, before = _since(ctx.saio, before)
    assert largeobj.segment_get_sizes(reqs, big) == [(206, 100)], reqs
    _assert_segment_gets(reqs, {segs[0].key: 0, last: 0}, inside)
    _assert_range(_get(gw, slo.name, {"Range": across}), slo, across, gw,
                  theirs[across])
    reqs, before = _since(ctx.saio, before)
    assert largeobj.segment_get_sizes(reqs, big) == [(206, 1000)], reqs
    assert largeobj.segment_get_sizes(reqs, last) == [(200, 100000)], reqs
    gw.stop()

    gw = ctx.gateway(cache={"range_passthrough": "512K"})
    _assert_range(_get(gw, slo.name, {"Range": inside}), slo, inside, gw,
                  theirs[inside])
    reqs, before = _since(ctx.saio, before)
    assert sorted(largeobj.segment_get_sizes(reqs, big)) == \
        [(200, 2000000), (206, 100)], reqs
    resp = _get(gw, slo.name, {"Range": inside})
    _assert_range(resp, slo, inside, gw, theirs[inside])
    assert resp.headers.get("X-Cache") == "HIT", _describe(resp)
    reqs, before = _since(ctx.saio, before)
    _assert_segment_gets(reqs, {big: 0}, "the filled segment")
    gw.stop()

    # The segment overwritten: Swift's 206 names another ETag.
    ctx.saio.put_object(SEGMENTS, segs[1].name,
                        bytes(b ^ 1 for b in segs[1].data[:16])
                        + segs[1].data[16:], "application/octet-stream")
    gw = ctx.gateway(cache={"range_passthrough": "512K", "range_fill": "no"})
    resp = _get(gw, slo.name, {"Range": inside})
    assert resp.status == 502 and b"segment changed" in resp.body, \
        _describe(resp) + _stderr(gw)
    gw.stop()


def _manifest_answers(reqs, name):
    """Statuses of Swift's answers to GET <name>?multipart-manifest=get."""
    path = largeobj.object_path(FRACTALS, name) + \
        "%3Fmultipart-manifest%3Dget"
    return [st for m, p, st, _ in reqs if m == "GET" and p == path]


def test_manifest_ttl_and_changes(ctx):
    """A large object's plan is fresh for [cache] ttl.  Then an SLO is
    revalidated with If-None-Match (Swift's 304: REVALIDATED, no segment
    read again); an SLO replaced by a new manifest, and a DLO given one
    more segment, are read anew: new bytes, new ETag, and only the new
    segments fetched."""
    uid = fixtures.new_uuid()
    segs = put_segments(ctx.saio, uid, _segments(4, 30000, 111), seed=901)
    slo = put_slo(ctx.saio, fixtures.new_uuid(), [seg_part(s) for s in segs])
    moved = put_slo(ctx.saio, fixtures.new_uuid(),
                    [seg_part(s) for s in segs[:2]])
    duid = fixtures.new_uuid()
    dsegs = put_segments(ctx.saio, duid, _segments(3, 20000, 7), seed=902)
    dlo = put_dlo(ctx.saio, fixtures.new_uuid(), dsegs,
                  "%s/%s/" % (SEGMENTS, duid))
    gw = ctx.gateway(cache={"ttl": "1s"})
    for obj in (slo, moved, dlo):
        _assert_whole(_get(gw, obj.name), obj, gw, cache="MISS")
    before = _snap(ctx.saio)

    # Swift changes two of them while the plans are fresh: not seen yet.
    extra = put_segments(ctx.saio, uid + "-x", [5000], seed=903)
    moved2 = put_slo(ctx.saio, moved.name,
                     [seg_part(s) for s in segs[2:]] + [seg_part(extra[0])])
    dsegs += put_segments(ctx.saio, duid, [9000], seed=904, start=3)
    dlo2 = largeobj.Dlo(dlo.name, dsegs, dlo.content_type)
    for obj in (slo, moved, dlo):
        _assert_whole(_get(gw, obj.name), obj, gw, cache="HIT")
    time.sleep(1.2)

    _assert_whole(_get(gw, slo.name), slo, gw, cache="REVALIDATED")
    _assert_whole(_get(gw, moved.name), moved2, gw, cache="MISS")
    _assert_whole(_get(gw, dlo.name), dlo2, gw, cache="MISS")
    for obj in (slo, moved2, dlo2):
        _assert_whole(_get(gw, obj.name), obj, gw, cache="HIT")
    reqs, _ = _since(ctx.saio, before)
    assert _manifest_answers(reqs, slo.name) == [304], reqs
    assert _manifest_answers(reqs, moved.name) == [200], reqs
    # The old segments are cached already: only the new one is read.
    _assert_segment_gets(reqs, dict([(s.key, 0) for s in segs]
                                    + [(extra[0].key, 1)]), "changed SLO")
    _assert_segment_gets(reqs, dict([(s.key, 0) for s in dsegs[:3]]
                                    + [(dsegs[3].key, 1)]), "grown DLO")


def test_warm_large_object(ctx):
    """X-Swiftgate-Warm on a large object caches every segment: 204 MISS,
    then a GET is a HIT that reaches Swift for nothing; warming it again is
    a 204 HIT."""
    uid = fixtures.new_uuid()
    segs = put_segments(ctx.saio, uid, _segments(6, 20000, 999), seed=905)
    slo = put_slo(ctx.saio, fixtures.new_uuid(), [seg_part(s) for s in segs])
    gw = ctx.gateway()
    warm = {"X-Swiftgate-Warm": "1"}
    resp = _get(gw, slo.name, warm)
    assert resp.status == 204 and resp.headers.get("X-Cache") == "MISS", \
        _describe(resp) + _stderr(gw)
    before = _snap(ctx.saio)
    resp = _get(gw, slo.name, warm)
    assert resp.status == 204 and resp.headers.get("X-Cache") == "HIT", \
        _describe(resp)
    _assert_whole(_get(gw, slo.name), slo, gw, cache="HIT")
    reqs, _ = _since(ctx.saio, before)
    sent = [r for r in reqs if uid in r[1] or slo.name in r[1]]
    assert not sent, "a warmed large object reached Swift: %r" % sent


def test_mixed_load_on_large_objects(ctx):
    """12 clients for 6 s on three SLOs (shared, ranged and private
    segments) and a DLO: whole GETs, ranges, suffixes, clients that leave
    mid-body, purges of the manifests, a 2 s ttl and a cache smaller than
    the objects (eviction), 2 workers, segment_parallelism 3.  Every
    complete answer is byte-exact; no answer is short of its length unless
    the client left; the gateway stops cleanly (no sanitizer report)."""
    rnd = random.Random(77)
    uid = fixtures.new_uuid()
    shared = put_segments(ctx.saio, uid, [rnd.randint(1000, 200000)
                                          for _ in range(5)], seed=931)
    objs = []
    for k in range(3):
        own = put_segments(ctx.saio, "%s-%d" % (uid, k),
                           [rnd.randint(1, 250000) for _ in range(4)],
                           seed=940 + k)
        parts = []
        for seg in rnd.sample(shared, 3) + own:
            if rnd.random() < 0.3 and len(seg.data) > 10:
                a = rnd.randrange(len(seg.data) - 1)
                b = rnd.randrange(a, len(seg.data))
                parts.append(seg_part(seg, "%d-%d" % (a, b)))
            else:
                parts.append(seg_part(seg))
        objs.append(put_slo(ctx.saio, fixtures.new_uuid(), parts))
    duid = fixtures.new_uuid()
    dsegs = put_segments(ctx.saio, duid, [rnd.randint(1, 150000)
                                          for _ in range(6)], seed=950)
    objs.append(put_dlo(ctx.saio, fixtures.new_uuid(), dsegs,
                        "%s/%s/" % (SEGMENTS, duid)))
    gw = ctx.gateway(server={"workers": "2"},
                     swift={"segment_parallelism": "3"},
                     cache={"ttl": "2s", "max_size": "1M",
                            "range_passthrough": "100K"})
    host, port, _ = httputil.split_url(gw.url)
    stop = time.monotonic() + 6.0
    tally = {"whole": 0, "left": 0}
    bad = []

    def client(seed):
        r = random.Random(seed)
        while time.monotonic() < stop and len(bad) < 5:
            obj = r.choice(objs)
            data, headers = obj.data, {}
            pick = r.random()
            if pick < 0.4:
                a = r.randrange(len(data))
                b = r.randrange(a, len(data))
                headers["Range"] = "bytes=%d-%d" % (a, b)
                want = data[a:b + 1]
            elif pick < 0.5:
                n = r.randrange(1, len(data) + 1)
                headers["Range"] = "bytes=-%d" % n
                want = data[-n:]
            else:
                want = data
            conn = http.client.HTTPConnection(host, port, timeout=30)
            try:
                conn.request("GET", "/fractal/" + obj.name, headers=headers)
                resp = conn.getresponse()
                if r.random() < 0.1:
                    resp.read(r.randint(0, 5000))
                    tally["left"] += 1
                    continue
                body = resp.read()
                where = (obj.name, headers, resp.status, len(body))
                if resp.status not in (200, 206):
                    bad.append(("status",) + where)
                elif len(body) != int(resp.getheader("Content-Length")):
                    bad.append(("short",) + where)
                elif body != want:
                    bad.append(("bytes",) + where)
                else:
                    tally["whole"] += 1
            except (OSError, http.client.HTTPException) as e:
                bad.append(("error", obj.name, headers, repr(e)))
            finally:
                conn.close()

    def purger():
        while time.monotonic() < stop:
            time.sleep(0.4)
            httputil.request("DELETE", gw.admin_url + "/cache/fractal/" +
                             rnd.choice(objs).name)

    threads = [threading.Thread(target=client, args=(i,))
               for i in range(12)] + [threading.Thread(target=purger)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not bad, "%r%s" % (bad, _stderr(gw))
    assert tally["whole"] >= 100, tally
    print("mixed load: %d whole answers, %d clients left mid-body"
          % (tally["whole"], tally["left"]))
    gw.stop()


# -- config ---------------------------------------------------------------------------

def test_segment_parallelism(ctx):
    """[swift] segment_parallelism: 4 by default, 1..64; the object is the
    same with 1 (one segment at a time) and with 16."""
    def conf(**swift):
        path = os.path.join(ctx.tmpdir, "p.conf")
        with open(path, "w") as f:
            f.write(gateway.render_conf(gateway.merge_conf(
                gateway.default_conf(ctx.tmpdir, ctx.saio.auth_url),
                {"swift": swift})))
        return path

    rc, out, err = gateway.check_config(ctx.bin, conf())
    assert rc == 0, (rc, err)
    cp = configparser.ConfigParser(interpolation=None)
    cp.read_string(out)
    assert cp.get("swift", "segment_parallelism") == "4", out
    for bad in ("0", "65", "lots"):
        rc, _, err = gateway.check_config(ctx.bin,
                                          conf(segment_parallelism=bad))
        assert rc == 2 and "segment_parallelism" in err, (bad, rc, err)

    uid = fixtures.new_uuid()
    segs = put_segments(ctx.saio, uid, _segments(8, 20000, 100), seed=516)
    slo = put_slo(ctx.saio, fixtures.new_uuid(), [seg_part(s) for s in segs])
    theirs = largeobj.swift_fetch(ctx.saio, slo.name)
    header = largeobj.standard_ranges(slo.pieces)[2][1]
    for n in ("1", "16"):
        gw = ctx.gateway(swift={"segment_parallelism": n})
        _assert_whole(_get(gw, slo.name), slo, gw, theirs, cache="MISS")
        gw2 = ctx.gateway(swift={"segment_parallelism": n})
        _assert_range(_get(gw2, slo.name, {"Range": header}), slo, header,
                      gw2)
