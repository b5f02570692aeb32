"""[server] access_log_format: swiftgate (the default, tested elsewhere),
combined (what Apache's and nginx's log tools read) and json (one object a
line).  Every value from a client is escaped for its format: a quote, a
backslash or a byte outside ASCII never breaks a line or a JSON object."""

import json
import re
import time

import fixtures
import fractal
import httputil
from rawhttp import Raw
from waits import wait_until

AGENT = b'agent "quoted" \\ caf\xc3\xa9'
COMBINED = re.compile(r'^(\S+) - - \[(\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d \+0000)\] '
                      r'"([^"]*)" (\d{3}) (\d+) "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)"$')


def _traffic(gw, name, png):
    """A miss, a hit with a Range and every header the logs show, a 404 by
    route, and a request that is not HTTP; the answers' statuses."""
    with Raw(gw.url) as c:
        r = c.request("GET", "/fractal/" + name)
        assert r.status == 200 and r.body == png, r
        c.send(b"GET /fractal/" + name.encode() + b" HTTP/1.1\r\nHost: t\r\n"
               b"Range: bytes=0-9\r\nReferer: http://front.example/p?a=\"1\"\r\n"
               b"User-Agent: " + AGENT + b"\r\nX-Request-Id: req-42.a_b\r\n\r\n")
        r = c.read_response()
        assert r.status == 206 and r.body == png[:10], r
        r = c.request("GET", "/not/a/fractal")
        assert r.status == 404, r
    out = httputil.send_raw(gw.url, b"\x16\x03\x01 not http\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400"), out[:80]
    return [200, 206, 404, 400]


def _lines(gw, n):
    assert wait_until(lambda: len(gw.access_log_lines()) >= n, 5.0), gw.access_log_lines()
    lines = gw.access_log_lines()
    assert len(lines) == n, lines
    return lines


def test_combined(ctx):
    png = fractal.julia(24, 24)
    name, _ = fixtures.upload(ctx.saio, png)
    gw = ctx.gateway(server={"access_log_format": "combined"})
    statuses = _traffic(gw, name, png)
    lines = _lines(gw, len(statuses))
    for line, status in zip(lines, statuses):
        m = COMBINED.match(line)
        assert m, "not a combined line: %r" % line
        assert m.group(1) == "127.0.0.1" and int(m.group(4)) == status, line
        time.strptime(m.group(2), "%d/%b/%Y:%H:%M:%S +0000")
    hit = COMBINED.match(lines[1])
    assert hit.group(3) == "GET /fractal/%s HTTP/1.1" % name, lines[1]
    assert hit.group(5) == "10", lines[1]
    assert hit.group(6) == 'http://front.example/p?a=\\x221\\x22', lines[1]
    assert hit.group(7) == 'agent\\x20\\x22quoted\\x22\\x20\\x5c\\x20caf\\xc3\\xa9', lines[1]
    bad = COMBINED.match(lines[3])
    assert bad.group(3) == "-" and bad.group(6) == "-" and bad.group(7) == "-", lines[3]


def test_json(ctx):
    png = fractal.mandelbrot(24, 24)
    name, _ = fixtures.upload(ctx.saio, png)
    gw = ctx.gateway(server={"access_log_format": "json"})
    statuses = _traffic(gw, name, png)
    lines = _lines(gw, len(statuses))
    recs = [json.loads(line) for line in lines]     # every line is one object
    want = {"time", "client", "method", "path", "protocol", "status", "bytes", "cache",
            "request_id", "range", "user_agent", "referer", "total_s", "origin_s"}
    for rec, status in zip(recs, statuses):
        assert set(rec) == want, rec
        assert rec["status"] == status and rec["client"] == "127.0.0.1", rec
        time.strptime(rec["time"], "%Y-%m-%dT%H:%M:%SZ")
        assert isinstance(rec["total_s"], float) and rec["total_s"] >= 0, rec
    miss, hit, route404, bad = recs
    assert miss["cache"] == "MISS" and miss["bytes"] == len(png), miss
    assert miss["range"] is None, miss
    assert re.fullmatch(r"[0-9a-f]{16}", miss["request_id"]), miss   # made up
    assert hit["cache"] == "HIT" and hit["bytes"] == 10 and hit["range"] == "bytes=0-9", hit
    assert hit["path"] == "/fractal/" + name and hit["method"] == "GET", hit
    assert hit["request_id"] == "req-42.a_b", hit
    assert hit["referer"] == 'http://front.example/p?a="1"', hit
    # Bytes past ASCII are written \u00NN, one per byte: valid JSON always.
    assert hit["user_agent"] == AGENT.decode("latin-1"), hit
    assert route404["cache"] is None and route404["path"] == "/not/a/fractal", route404
    assert bad["method"] is None and bad["status"] == 400, bad
