"""What browsers and shared caches are told to keep: a fractal for a year
(its uuid never names other bytes), a 404 for [cache] negative_ttl."""

import fixtures
import fractal
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
