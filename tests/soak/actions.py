"""The requests of the mixed soak, each with its check.  An action sends
one request on a client's connection and returns the name of the outcome
(an expected one: the load asked for it); a wrong answer raises Wrong,
whose kind the soak counts as unexpected.

Every complete body is compared byte for byte with what was uploaded, a
range with the slice computed here, and the ETag with the MD5 of the bytes
(the SLO/DLO ETag rule for large objects, from tests/lib/largeobj.py).
"""

import httputil
import largeobj

import catalogue

CACHE_RESULTS = ("HIT", "MISS", "REVALIDATED")


class Wrong(Exception):
    def __init__(self, kind, detail):
        super().__init__("%s: %s" % (kind, detail))
        self.kind = kind


def expect(cond, kind, detail):
    if not cond:
        raise Wrong(kind, detail)


def check_whole(obj, resp, what, results=CACHE_RESULTS):
    expect(resp.status == 200, "wrong_status",
           "%s %s: %d, want 200" % (what, obj, resp.status))
    expect(resp.body == obj.data, "wrong_bytes",
           "%s %s: %d bytes differ from the %d uploaded"
           % (what, obj, len(resp.body), len(obj.data)))
    expect(resp.headers.get("etag") == '"%s"' % obj.etag, "wrong_header",
           "%s %s: ETag %r" % (what, obj, resp.headers.get("etag")))
    expect(resp.headers.get("x-cache") in results, "wrong_header",
           "%s %s: X-Cache %r, want one of %s"
           % (what, obj, resp.headers.get("x-cache"), results))


async def hit(conn, rnd, cat):
    obj = cat.pick_hit(rnd)
    check_whole(obj, await conn.request("GET", obj.path), "hit")
    return "ok"


async def large(conn, rnd, cat):
    obj = cat.pick_large(rnd)
    check_whole(obj, await conn.request("GET", obj.path, timeout=60),
                "large")
    return "ok"


async def cold(conn, rnd, cat):
    """A fresh object nobody asked for yet: the gateway must fetch it."""
    obj = cat.take_fresh()
    if obj is None:
        return await hit(conn, rnd, cat)
    try:
        resp = await conn.request("GET", obj.path)
    finally:
        cat.asked(obj)
    check_whole(obj, resp, "cold miss", ("MISS",))
    return "miss"


def range_header(rnd, size):
    """A Range header over size bytes: one range (first-last, first-,
    -suffix) or, one time in five, two disjoint ones."""
    if rnd.random() < 0.2 and size >= 16:
        a = rnd.randrange(0, size // 2 - 4)
        b = rnd.randrange(a, size // 2)
        c = rnd.randrange(size // 2 + 1, size - 1)
        return "bytes=%d-%d,%d-" % (a, b, c)
    form = rnd.randrange(3)
    if form == 0:
        first = rnd.randrange(size)
        return "bytes=%d-%d" % (first, rnd.randrange(first, size))
    if form == 1:
        return "bytes=%d-" % rnd.randrange(size)
    return "bytes=-%d" % rnd.randrange(1, size + 1)


class _Parts:
    """What largeobj.multipart_parts reads: .headers.get and .body."""

    def __init__(self, resp):
        self.headers = httputil.Headers(list(resp.headers.items()))
        self.body = resp.body


async def ranged(conn, rnd, cat):
    obj = cat.pick_any(rnd)
    spec = range_header(rnd, len(obj.data))
    resp = await conn.request("GET", obj.path, {"Range": spec}, timeout=60)
    want = largeobj.expected_parts(obj.data, spec)
    expect(resp.status == 206, "wrong_status",
           "range %s %s: %d" % (spec, obj, resp.status))
    if len(want) == 1:
        got = [(resp.headers.get("content-range"), resp.body)]
    else:
        try:
            got = largeobj.multipart_parts(_Parts(resp))
        except AssertionError as e:
            raise Wrong("wrong_bytes", "range %s %s: %s" % (spec, obj, e))
    expect(got == want, "wrong_bytes", "range %s %s: parts %r, want %r"
           % (spec, obj, [(c, len(b)) for c, b in got],
              [(c, len(b)) for c, b in want]))
    return "ok"


async def leave(conn, rnd, cat):
    """Read the head and part of a big body, then reset the connection."""
    obj = rnd.choice([o for o in cat.plain if len(o.data) >= 65536]
                     + cat.big + cat.large)
    cut = rnd.randrange(0, min(len(obj.data) - 1, 256 << 10))
    resp = await conn.request("GET", obj.path, stop_after=cut)
    expect(resp.status == 200 and not resp.complete, "wrong_status",
           "leave %s: %r" % (obj, resp))
    expect(resp.body == obj.data[:cut], "wrong_bytes",
           "leave %s: the first %d bytes differ" % (obj, cut))
    return "left_mid_body"


async def head(conn, rnd, cat):
    obj = cat.pick_any(rnd)
    resp = await conn.request("HEAD", obj.path)
    expect(resp.status == 200, "wrong_status", "HEAD %s: %d"
           % (obj, resp.status))
    expect(resp.headers.get("content-length") == str(len(obj.data)),
           "wrong_header", "HEAD %s: Content-Length %r"
           % (obj, resp.headers.get("content-length")))
    expect(resp.headers.get("etag") == '"%s"' % obj.etag, "wrong_header",
           "HEAD %s: ETag %r" % (obj, resp.headers.get("etag")))
    return "ok"


async def conditional(conn, rnd, cat):
    obj = cat.pick_any(rnd)
    resp = await conn.request("GET", obj.path,
                              {"If-None-Match": '"%s"' % obj.etag})
    expect(resp.status == 304, "wrong_status", "If-None-Match %s: %d"
           % (obj, resp.status))
    return "ok"


async def missing(conn, rnd, cat):
    name = catalogue.missing_uuid(rnd)
    resp = await conn.request("GET", "/fractal/" + name)
    expect(resp.status == 404, "wrong_status", "missing %s: %d"
           % (name, resp.status))
    return "not_found"


async def purge(conn, rnd, cat):
    """PURGE on the admin listener: a cached object (200, or 404 when it
    was already gone: evicted, purged before, or never asked for since the
    restart), or one Swift never had (404)."""
    if rnd.random() < 0.1:
        name = catalogue.missing_uuid(rnd)
    else:
        name = cat.pick_any(rnd).name
    resp = await conn.request("PURGE", "/fractal/" + name)
    expect(resp.status in (200, 404), "wrong_status", "PURGE %s: %d"
           % (name, resp.status))
    return "purged" if resp.status == 200 else "purge_404"


# (weight, action) of the client connections; purges go on the admin
# listener, at their own pace.
MIX = [(50, hit), (15, ranged), (6, large), (8, cold), (5, leave),
       (5, head), (5, conditional), (3, missing)]
