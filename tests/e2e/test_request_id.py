"""Request ids: a client's X-Request-Id (1-64 of [A-Za-z0-9._-]) or one the
gateway makes up is echoed on every answer, logged, and sent to Swift as
X-Trans-Id-Extra on the requests it passes through."""

import json
import re

import faultorigin
import fixtures
import fractal
from rawhttp import Raw
from waits import wait_until

HEX16 = re.compile(r"^[0-9a-f]{16}$")


def test_request_id_is_echoed_and_logged(ctx):
    png = fractal.julia(20, 20)
    name, _ = fixtures.upload(ctx.saio, png)
    gw = ctx.gateway(server={"access_log_format": "json"})
    made = set()
    with Raw(gw.url) as c:
        r = c.request("GET", "/fractal/" + name, {"X-Request-Id": "front-7.a_B"})
        assert r.status == 200 and r.get("X-Request-Id") == "front-7.a_B", r
        for bad in ("", "x" * 65, "a b", "évé", "a/b"):
            r = c.request("GET", "/fractal/" + name, {"X-Request-Id": bad})
            assert r.status == 200 and HEX16.match(r.get("X-Request-Id", "")), (bad, r)
            made.add(r.get("X-Request-Id"))
        r = c.request("GET", "/fractal/" + fixtures.new_uuid())
        assert r.status == 404 and HEX16.match(r.get("X-Request-Id", "")), r
        made.add(r.get("X-Request-Id"))
        r = c.request("GET", "/nope", {"X-Request-Id": "route-404"})
        assert r.status == 404 and r.get("X-Request-Id") == "route-404", r
    assert len(made) == 6, "made-up ids repeat: %s" % made
    assert wait_until(lambda: len(gw.access_log_lines()) == 8, 5.0), gw.access_log_lines()
    ids = [json.loads(line)["request_id"] for line in gw.access_log_lines()]
    assert ids[0] == "front-7.a_B" and ids[-1] == "route-404", ids
    assert set(ids[1:7]) == made, ids


def test_request_id_reaches_swift_on_a_passed_request(ctx):
    data = fixtures.random_bytes(64 << 10, seed=5)
    with faultorigin.FaultOrigin() as origin:
        name = fixtures.new_uuid()
        origin.put("fractals", name, data)
        gw = ctx.gateway(swift=origin.swift_conf(), cache={"range_passthrough": "1K"})
        with Raw(gw.url) as c:
            r = c.request("GET", "/fractal/" + name,
                          {"Range": "bytes=50000-50009", "X-Request-Id": "trace-123"})
        assert r.status == 206 and r.body == data[50000:50010], r
        assert r.get("X-Cache") == "PASS" and r.get("X-Request-Id") == "trace-123", r
        extras = [h.get("X-Trans-Id-Extra") for m, p, h in origin.requests
                  if m == "GET" and p.endswith(name) and h.get("Range")]
        assert extras == ["trace-123"], extras


def test_request_id_reaches_swift_on_fills_and_swift_trans_id_is_logged(ctx):
    data = fixtures.random_bytes(40 << 10, seed=6)
    segs = [fixtures.random_bytes(1 << 20, seed=60 + i) for i in range(2)]
    with faultorigin.FaultOrigin() as origin:
        name, broken, slo = (fixtures.new_uuid() for _ in range(3))
        origin.put("fractals", name, data)
        origin.put("fractals", broken, data, fault="status=503")
        entries = []
        for i, seg in enumerate(segs):
            origin.put("fractals_segments", "%s-%d" % (slo, i), seg)
            entries.append(("fractals_segments", "%s-%d" % (slo, i)))
        origin.put_slo("fractals", slo, entries)
        gw = ctx.gateway(swift=origin.swift_conf())
        with Raw(gw.url) as c:
            r = c.request("GET", "/fractal/" + name, {"X-Request-Id": "fill-77"})
            assert r.status == 200 and r.body == data and r.get("X-Cache") == "MISS", r
            r = c.request("GET", "/fractal/" + slo, {"X-Request-Id": "slo-78"})
            assert r.status == 200 and r.body == b"".join(segs), r
            r = c.request("GET", "/fractal/" + broken, {"X-Request-Id": "fail-79"})
            assert r.status == 502, r

        def extras(path_end):
            return [h.get("X-Trans-Id-Extra") for m, p, h in origin.requests
                    if p.split("?")[0].endswith(path_end)]
        # The fill, the large object's manifest and each of its segments
        # carry the id of the client request that started them.
        assert extras(name) == ["fill-77"], extras(name)
        assert extras(slo) and set(extras(slo)) == {"slo-78"}, extras(slo)
        for i in range(2):
            seg = "%s-%d" % (slo, i)
            assert extras(seg) == ["slo-78"], (seg, origin.requests)
        assert extras(broken) == ["fail-79"], extras(broken)
    # Swift's 503 is logged with the transaction id Swift gave it.
    log = gw.stderr_text()
    m = re.search(r"GET \S*/fractals/%s\S*: Swift answered 503; X-Trans-Id (txfault\d+)"
                  % broken, log)
    assert m, log[-3000:]
