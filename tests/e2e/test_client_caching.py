"""What browsers and shared caches are told to keep: a fractal for a year
(its uuid never names other bytes), a 404 for [cache] negative_ttl."""

import os

import fixtures
import fractal
import largeobj
from rawhttp import Raw


def test_a_fractal_is_kept_a_year_and_a_404_for_negative_ttl(ctx):
    png = fractal.mandelbrot(32, 32)
    name, _ = fixtures.upload(ctx.saio, png)
    missing = fixtures.new_uuid()
    gw = ctx.gateway(cache={"negative_ttl": "7s"})
    with Raw(gw.url) as c:
        for want in ("MISS", "HIT"):
            r = c.request("GET", "/fractal/" + name)
            assert r.status == 200 and r.body == png and r.get("X-Cache") == want, r
            assert r.get("Cache-Control") == "public, max-age=31536000, immutable", r
        r = c.request("GET", "/fractal/" + name, {"If-None-Match": r.get("ETag")})
        assert r.status == 304, r
        assert r.get("Cache-Control") == "public, max-age=31536000, immutable", r
        # A 404 from Swift, then the remembered one: both for 7 s only.
        for want in ("MISS", "HIT"):
            r = c.request("GET", "/fractal/" + missing)
            assert r.status == 404 and r.get("X-Cache") == want, r
            assert r.get("Cache-Control") == "max-age=7", r
    # With a list of its own, the operator's words are sent as they are.
    gw2 = ctx.gateway(cache={"cache_control": "no-cache"})
    with Raw(gw2.url) as c:
        r = c.request("GET", "/fractal/" + name)
        assert r.status == 200 and r.get("Cache-Control") == "no-cache", r


OWN = {
    "Cache-Control": "public, max-age=600",
    "Expires": "Thu, 01 Dec 2033 16:00:00 GMT",
    "Content-Disposition": 'attachment; filename="julia.png"',
}


def assert_own_headers(r, status=200):
    assert r.get("Cache-Control") == OWN["Cache-Control"], r
    assert r.get("Expires") == OWN["Expires"], r
    if status == 304:
        # RFC 9110 15.4.5: a 304 repeats Cache-Control and Expires only.
        assert r.get("Content-Disposition") is None, r
    else:
        assert r.get("Content-Disposition") == OWN["Content-Disposition"], r


def test_swift_per_object_headers_are_passed_on_and_kept(ctx):
    png = fractal.julia(24, 24)
    name, _ = fixtures.upload(ctx.saio, png, headers=OWN)
    plain, _ = fixtures.upload(ctx.saio, fractal.julia(20, 20))
    d = os.path.join(ctx.tmpdir, "cache-own-headers")
    gw = ctx.gateway(cache={"dir": d})
    with Raw(gw.url) as c:
        for want in ("MISS", "HIT"):
            r = c.request("GET", "/fractal/" + name)
            assert r.status == 200 and r.body == png and r.get("X-Cache") == want, r
            assert_own_headers(r)
            # The object's own Cache-Control replaces the configured one, not beside it.
            assert r.count("Cache-Control") == 1, r
        r = c.request("GET", "/fractal/" + name, {"If-None-Match": r.get("ETag")})
        assert r.status == 304, r
        assert_own_headers(r, 304)
        r = c.request("GET", "/fractal/" + name, {"Range": "bytes=0-9"})
        assert r.status == 206 and r.body == png[:10], r
        assert_own_headers(r)
        # An object without its own keeps the configured Cache-Control and nothing else.
        r = c.request("GET", "/fractal/" + plain)
        assert r.status == 200 and r.get("Cache-Control") == "public, max-age=31536000, immutable"
        assert r.get("Expires") is None and r.get("Content-Disposition") is None, r
    gw.stop()
    # Kept with the entry: a new process on the same cache says the same
    # without asking Swift.
    path = "/v1/AUTH_test/fractals/" + name
    before = ctx.saio.proxy_log_count("GET|HEAD", path)
    assert before == 1, before
    gw2 = ctx.gateway(cache={"dir": d})
    with Raw(gw2.url) as c:
        r = c.request("GET", "/fractal/" + name)
        assert r.status == 200 and r.get("X-Cache") == "HIT" and r.body == png, r
        assert_own_headers(r)
    assert ctx.saio.proxy_log_count("GET|HEAD", path) == before


def test_a_large_objects_own_headers_are_passed_on(ctx):
    segs = largeobj.put_segments(ctx.saio, "own-hdr-" + fixtures.new_uuid(),
                                 [1 << 20] * 3, seed=181)
    name = fixtures.new_uuid()
    slo = largeobj.put_slo(ctx.saio, name, [largeobj.seg_part(s) for s in segs])
    r = ctx.saio.request("POST", ctx.saio.object_url(largeobj.CONTAINER, name), OWN)
    assert r.status == 202, r
    gw = ctx.gateway()
    with Raw(gw.url) as c:
        for want in ("MISS", "HIT"):
            r = c.request("GET", "/fractal/" + name)
            assert r.status == 200 and r.get("X-Cache") == want, r
            assert r.body == slo.data, r
            assert_own_headers(r)
