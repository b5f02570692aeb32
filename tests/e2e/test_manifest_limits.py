"""Bounds on large objects: where their segments may live, and how big
their plans may be.

The gateway reads segments with its own token and serves them publicly, so
a DLO or SLO (nested ones included) naming a container outside [swift]
segment_containers is a 502 with a reason, and nothing is asked of that
container: Swift's proxy log is read to prove it.  Plans are bounded by
[swift] max_segments and max_plan_size while they are read: a DLO listing
past them is given up at the page that passes them (a 100,000-name listing
with ~900-byte names, from the fault origin, shows how few pages are read
and how much memory the gateway took).  Decoded plans are kept in memory,
so a hit on a large object decodes its plan once.
"""

import random
import re

import faultorigin
import fixtures
import largeobj
from largeobj import put_dlo, put_segments, put_slo, seg_part, sub_slo_part

FRACTALS = "fractals"
SEGMENTS = "fractals_segments"
SETTLE = 0.2


def _get(gw, name, timeout=30.0):
    return largeobj.fetch(gw.url + "/fractal/" + name, None, "GET", timeout)


def _foreign(ctx):
    """A new container of the account that is not a segment container."""
    name = "foreign_%08x" % random.getrandbits(32)
    ctx.saio.put_container(name)
    return name


def _touching(reqs, container):
    """The logged client requests for `container` or anything in it."""
    pat = re.compile(r"^/v1/AUTH_test/%s(?:/|%%3F|\?|$)" % re.escape(container))
    return [r for r in reqs if pat.match(r[1])]


def _since(swift, before):
    now = swift.proxy_log_requests(settle=SETTLE)
    return now[len(before):], now


def _assert_502(resp, gw, reason_part, kind, count=1):
    text = resp.body.decode("utf-8", "replace")
    assert resp.status == 502, "%d %r\n%s" % (resp.status, resp.body[:300],
                                              gw.stderr_text()[-2000:])
    assert reason_part in text and len(resp.body) < 1024, text
    assert gw.error_count(kind) == count, gw.metrics()


def _assert_whole(resp, obj):
    assert resp.status == 200 and resp.complete and resp.body == obj.data, \
        "%d, %d bytes (want %d)" % (resp.status, len(resp.body), len(obj.data))
    assert resp.headers.get("ETag") == '"%s"' % obj.etag, resp.headers


OUTSIDE = "outside the gateway's segment containers"


# -- where segments may live ----------------------------------------------------

def test_dlo_naming_another_container(ctx):
    other = _foreign(ctx)
    uid = fixtures.new_uuid()
    segs = put_segments(ctx.saio, uid, [3000, 2000], seed=901, container=other)
    name = fixtures.new_uuid()
    dlo = put_dlo(ctx.saio, name, segs, "%s/%s/" % (other, uid))
    # Swift itself serves it: a gateway that followed it would too.
    theirs = largeobj.swift_fetch(ctx.saio, name)
    assert theirs.status == 200 and theirs.body == dlo.data, theirs.status
    # The same kind of DLO in <container>_segments is served.
    segs_ok = put_segments(ctx.saio, uid, [1500, 700], seed=902)
    ok = put_dlo(ctx.saio, fixtures.new_uuid(), segs_ok, "%s/%s/" % (SEGMENTS, uid))

    gw = ctx.gateway()
    before = ctx.saio.proxy_log_requests(settle=SETTLE)
    for attempt in (1, 2):                     # nothing cached in between
        resp = _get(gw, name)
        _assert_502(resp, gw, OUTSIDE, "foreign_segments", count=attempt)
    reqs, before = _since(ctx.saio, before)
    assert _touching(reqs, other) == [], _touching(reqs, other)
    assert largeobj.manifest_gets(reqs, name) == 2, reqs
    _assert_whole(_get(gw, ok.name), ok)


def test_slo_with_a_segment_in_another_container(ctx):
    other = _foreign(ctx)
    uid = fixtures.new_uuid()
    good = put_segments(ctx.saio, uid, [4000], seed=903)
    bad = put_segments(ctx.saio, uid, [3000], seed=904, container=other, start=1)
    slo = put_slo(ctx.saio, fixtures.new_uuid(), [seg_part(good[0]), seg_part(bad[0])])
    gw = ctx.gateway()
    before = ctx.saio.proxy_log_requests(settle=SETTLE)
    resp = _get(gw, slo.name)
    _assert_502(resp, gw, OUTSIDE, "foreign_segments")
    reqs, _ = _since(ctx.saio, before)
    assert _touching(reqs, other) == [], _touching(reqs, other)
    # Not even the allowed segment was fetched: the plan was refused whole.
    assert _touching(reqs, SEGMENTS) == [], _touching(reqs, SEGMENTS)


def test_nested_slo_with_segments_elsewhere(ctx):
    """A sub-SLO whose manifest is in an allowed container but whose
    segments are not; and a sub-SLO whose manifest itself is elsewhere."""
    other = _foreign(ctx)
    uid = fixtures.new_uuid()
    outside = put_segments(ctx.saio, uid, [2000, 2500], seed=905, container=other)
    inside = put_segments(ctx.saio, uid, [1000], seed=906, start=2)
    inner = put_slo(ctx.saio, uid + "/inner", [seg_part(s) for s in outside],
                    container=SEGMENTS)
    outer = put_slo(ctx.saio, fixtures.new_uuid(),
                    [seg_part(inside[0]), sub_slo_part(inner)])
    inner_far = put_slo(ctx.saio, uid + "/inner-far", [seg_part(inside[0])],
                        container=other)
    outer_far = put_slo(ctx.saio, fixtures.new_uuid(),
                        [seg_part(inside[0]), sub_slo_part(inner_far)])

    gw = ctx.gateway()
    before = ctx.saio.proxy_log_requests(settle=SETTLE)
    _assert_502(_get(gw, outer.name), gw, OUTSIDE, "foreign_segments")
    reqs, before = _since(ctx.saio, before)
    assert _touching(reqs, other) == [], _touching(reqs, other)
    # The inner manifest (allowed) was read; none of its segments.
    assert any("inner" in r[1] for r in _touching(reqs, SEGMENTS)), reqs
    _assert_502(_get(gw, outer_far.name), gw, OUTSIDE, "foreign_segments", count=2)
    reqs, before = _since(ctx.saio, before)
    assert _touching(reqs, other) == [], _touching(reqs, other)


def test_configured_segment_containers(ctx):
    """segment_containers replaces the default: the listed container
    serves, <container>_segments no longer does."""
    other = _foreign(ctx)
    uid = fixtures.new_uuid()
    far = put_segments(ctx.saio, uid, [3000, 1000], seed=907, container=other)
    dlo_far = put_dlo(ctx.saio, fixtures.new_uuid(), far, "%s/%s/" % (other, uid))
    near = put_segments(ctx.saio, uid, [2000], seed=908, start=2)
    slo_near = put_slo(ctx.saio, fixtures.new_uuid(), [seg_part(near[0])])
    slo_far = put_slo(ctx.saio, fixtures.new_uuid(), [seg_part(s) for s in far])

    gw = ctx.gateway(swift={"segment_containers": "%s, %s" % (FRACTALS, other)})
    _assert_whole(_get(gw, dlo_far.name), dlo_far)
    _assert_whole(_get(gw, slo_far.name), slo_far)
    _assert_502(_get(gw, slo_near.name), gw, OUTSIDE, "foreign_segments")


# -- how big a plan may be ---------------------------------------------------

def test_max_segments(ctx):
    uid = fixtures.new_uuid()
    six = put_segments(ctx.saio, uid + "/six", [100] * 6, seed=909)
    five = put_segments(ctx.saio, uid + "/five", [100] * 5, seed=910)
    dlo6 = put_dlo(ctx.saio, fixtures.new_uuid(), six, "%s/%s/six/" % (SEGMENTS, uid))
    dlo5 = put_dlo(ctx.saio, fixtures.new_uuid(), five, "%s/%s/five/" % (SEGMENTS, uid))
    inner = put_slo(ctx.saio, uid + "/inner", [seg_part(s) for s in six[:3]],
                    container=SEGMENTS)
    nested6 = put_slo(ctx.saio, fixtures.new_uuid(),
                      [seg_part(s) for s in five[:3]] + [sub_slo_part(inner)])
    nested5 = put_slo(ctx.saio, fixtures.new_uuid(),
                      [seg_part(s) for s in five[:2]] + [sub_slo_part(inner)])

    gw = ctx.gateway(swift={"max_segments": "5"})
    _assert_502(_get(gw, dlo6.name), gw, "too many segments", "plan_too_large")
    _assert_whole(_get(gw, dlo5.name), dlo5)
    _assert_502(_get(gw, nested6.name), gw, "too many segments", "plan_too_large",
                count=2)
    _assert_whole(_get(gw, nested5.name), nested5)


def _status_kb(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s in /proc/%d/status" % (field, pid))


def test_huge_dlo_listing_is_bounded(ctx):
    """100,000 names of ~900 bytes in pages of 10,000 (about 95 MB of
    listing): given up at the page that passes max_segments (default
    10,000), or max_plan_size when max_segments is raised; memory reported."""
    count, pad = 100000, 900
    with faultorigin.FaultOrigin() as origin:
        name = fixtures.new_uuid()
        origin.put(FRACTALS, name, b"", "image/png",
                   headers={"X-Object-Manifest": "%s/big/" % SEGMENTS})
        origin.put_listing(SEGMENTS, "big/", count, pad=pad, page=10000)
        for label, swift, reason in (
                ("max_segments = 10000", {}, "too many segments"),
                ("max_segments = 100000, max_plan_size = 16M",
                 {"max_segments": "100000"}, "plan too large")):
            gw = ctx.gateway(swift=origin.swift_conf(**swift))
            pid = gw.proc.pid
            rss0 = _status_kb(pid, "VmRSS")
            pages0 = origin.listing_gets(SEGMENTS)
            resp = _get(gw, name, timeout=60)
            _assert_502(resp, gw, reason, "plan_too_large")
            pages = origin.listing_gets(SEGMENTS) - pages0
            rss, hwm = _status_kb(pid, "VmRSS"), _status_kb(pid, "VmHWM")
            print("     %s: 502 after %d of 10 listing pages; VmRSS %d KiB "
                  "before, %d after, peak VmHWM %d KiB"
                  % (label, pages, rss0, rss, hwm))
            assert pages == 2, pages
            assert hwm < 512 * 1024, hwm
            gw.stop()


def test_hits_on_an_slo_decode_its_plan_once(ctx):
    uid = fixtures.new_uuid()
    segs = put_segments(ctx.saio, uid, [3000, 4000, 5000], seed=911)
    slo = put_slo(ctx.saio, fixtures.new_uuid(), [seg_part(s) for s in segs])
    gw = ctx.gateway()

    def counters():
        m = gw.metrics()
        return (m["swiftgate_plan_decodes_total"],
                m["swiftgate_plan_cache_hits_total"],
                m["swiftgate_plan_cache_plans"])

    first = _get(gw, slo.name)
    _assert_whole(first, slo)
    assert first.headers.get("X-Cache") == "MISS", first.headers
    d0, h0, _ = counters()
    for _ in range(3):
        resp = _get(gw, slo.name)
        _assert_whole(resp, slo)
        assert resp.headers.get("X-Cache") == "HIT", resp.headers
    d1, h1, kept = counters()
    print("     plan decodes %d -> %d, plan cache hits %d -> %d, plans kept %d"
          % (d0, d1, h0, h1, kept))
    assert d1 == d0 + 1, (d0, d1)              # the first hit decodes
    assert h1 == h0 + 2, (h0, h1)              # the next two do not
    assert kept == 1, kept
