"""CORS ([cors] section): a front end on another origin may fetch() a
fractal, read its headers and draw it on a canvas it reads back; an origin
not allowed gets no CORS line; preflights are answered.  The browser part
runs Debian's headless Chromium (tests/browser/run.mjs), with the page
served from another port of 127.0.0.1, which is another origin.
"""

import hashlib
import http.server
import threading

import fixtures
import fractal
import gateway
from rawhttp import Raw
from test_browser import Browser, _install

EXPOSE = "ETag, Content-Length, Content-Range, Age, X-Cache, Cache-Status"


def _get(gw, path, origin=None, headers=None, method="GET"):
    h = dict(headers or {})
    if origin:
        h["Origin"] = origin
    with Raw(gw.url) as c:
        return c.request(method, path, h)


def test_any_origin(ctx):
    png = fractal.julia(48, 48)
    name, _ = fixtures.upload(ctx.saio, png)
    gw = ctx.gateway(cors={"allow_origin": "*"})
    for want_cache in ("MISS", "HIT"):
        r = _get(gw, "/fractal/" + name, "https://app.example.com")
        assert r.status == 200 and r.body == png, r
        assert r.get("X-Cache") == want_cache, r
        assert r.get("Access-Control-Allow-Origin") == "*", r
        assert r.get("Timing-Allow-Origin") == "*", r
        assert r.get("Access-Control-Expose-Headers") == EXPOSE, r
        assert r.get("Vary") is None, r      # the same answer for every origin
    r = _get(gw, "/fractal/" + name)         # no Origin: not a CORS request
    assert r.status == 200 and r.get("Access-Control-Allow-Origin") is None, r


def test_listed_origins_only(ctx):
    png = fractal.mandelbrot(40, 40)
    name, _ = fixtures.upload(ctx.saio, png)
    gw = ctx.gateway(cors={"allow_origin": "http://a.example, https://b.example:8443",
                           "max_age": "10m", "expose_headers": "ETag, X-Cache"})
    path = "/fractal/" + name
    for origin in ("http://a.example", "https://B.example:8443"):
        r = _get(gw, path, origin)
        assert r.status == 200 and r.body == png, r
        assert r.get("Access-Control-Allow-Origin") == origin, r
        assert r.get("Access-Control-Expose-Headers") == "ETag, X-Cache", r
        assert r.get("Vary") == "Origin", r
    for origin in ("http://c.example", "http://a.example.evil", "null"):
        r = _get(gw, path, origin)
        assert r.status == 200 and r.body == png, r
        assert r.get("Access-Control-Allow-Origin") is None, (origin, r)
        assert r.get("Timing-Allow-Origin") is None, (origin, r)
        # A shared cache must keep answers to different origins apart.
        assert r.get("Vary") == "Origin", r
    # Every kind of object answer carries them: a range, a 304, a 404.
    r = _get(gw, path, "http://a.example", {"Range": "bytes=0-9"})
    assert r.status == 206 and r.get("Access-Control-Allow-Origin") == "http://a.example", r
    etag = r.get("ETag")
    r = _get(gw, path, "http://a.example", {"If-None-Match": etag})
    assert r.status == 304 and r.get("Access-Control-Allow-Origin") == "http://a.example", r
    r = _get(gw, "/fractal/" + fixtures.new_uuid(), "http://a.example")
    assert r.status == 404 and r.get("Access-Control-Allow-Origin") == "http://a.example", r
    # A preflight: what a page may ask, and for how long to remember it.
    r = _get(gw, path, "https://b.example:8443", {
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "range"}, method="OPTIONS")
    assert r.status == 204, r
    assert r.get("Access-Control-Allow-Origin") == "https://b.example:8443", r
    assert r.get("Access-Control-Allow-Methods") == "GET, HEAD", r
    assert "Range" in r.get("Access-Control-Allow-Headers", ""), r
    assert r.get("Access-Control-Max-Age") == "600", r
    r = _get(gw, path, "http://c.example", {"Access-Control-Request-Method": "GET"},
             method="OPTIONS")
    assert r.status == 204 and r.get("Access-Control-Allow-Methods") is None, r


def test_cors_keys_are_checked(ctx):
    gw = ctx.gateway(cors={"allow_origin": "app.example.com"}, start=False)
    rc, _, err = gateway.check_config(ctx.bin, gw.conf_path)
    assert rc == 2, (rc, err)
    assert "allow_origin: must be empty, * or origins such as" in err, err


class _Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"<!doctype html><title>front end</title><p>another origin</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_a_page_on_another_origin_reads_the_pixels(ctx):
    _install()
    png = fractal.julia(64, 48)
    name, _ = fixtures.upload(ctx.saio, png)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    page = "http://127.0.0.1:%d" % server.server_address[1]
    browser = Browser(ctx.tmpdir)
    try:
        results = {}
        for allow in ("", "http://127.0.0.1:1, " + page):
            gw = ctx.gateway(cors={"allow_origin": allow})
            browser.cmd(cmd="goto", url=page + "/")
            out = browser.cmd(cmd="canvas", url=gw.url + "/fractal/" + name)
            results[allow or "off"] = out
            gw.stop()
        off = results["off"]
        on = results["http://127.0.0.1:1, " + page]
        print("     CORS off: fetch %s; img %s" % (off["fetch"].get("error"),
                                                  off["img"].get("error")))
        print("     CORS on: fetch %s, img %s" % (on["fetch"], on["img"]))
        # Without CORS the browser refuses both ways.
        assert "error" in off["fetch"] and "error" in off["img"], off
        # With it: the pixels of the same 64x48 image both ways.
        for way in ("fetch", "img"):
            assert "error" not in on[way], on
            assert (on[way]["width"], on[way]["height"]) == (64, 48), on
        assert on["fetch"]["sha256"] == on["img"]["sha256"], on
        blank = hashlib.sha256(bytes(64 * 48 * 4)).hexdigest()
        assert on["fetch"]["sha256"] != blank, "the canvas read back empty"
        assert on["fetch"]["etag"], "ETag is exposed to the page"
    finally:
        browser.close()
        server.shutdown()
