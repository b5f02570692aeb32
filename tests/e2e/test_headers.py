"""Header values from Swift are checked before they are replayed, and every
object answer tells browsers not to sniff.

The fault origin (tests/lib/faultorigin.py, fault "raw_header") sends a
header's value with the exact bytes a test gives.  A value holding CR, NUL,
another control byte or DEL makes the answer a 502 "bad header from
Swift", caches nothing (no entry: the next GET goes to the origin again;
no blob, no temp file) and counts swiftgate_errors_total{kind=
"bad_origin_header"}.  Bytes 0x80 and up (obs-text, UTF-8) are accepted
and passed on as they came.
"""

import os
import threading

import faultorigin
import fixtures
from answers import gw_stderr
from rawhttp import Raw
from waits import wait_until

CONTAINER = "fractals"
KIND = "bad_origin_header"


def _gateway(ctx, origin, **sections):
    return ctx.gateway(swift=origin.swift_conf(), **sections)


def _files_under(gw, sub):
    """Regular files under the gateway's cache dir/<sub>."""
    root = os.path.join(gw.dir, "cache", sub)
    found = []
    for dirpath, _, names in os.walk(root):
        found += [os.path.join(dirpath, n) for n in names]
    return found


def _assert_refused(gw, r, what, cache_word):
    assert r.status == 502, "%s: want 502, got %r%s" % (what, r, gw_stderr(gw))
    assert r.get("X-Cache") == cache_word, "%s: X-Cache %r, want %s" % (
        what, r.get("X-Cache"), cache_word)
    assert r.get("X-Content-Type-Options") == "nosniff", r
    if r.body:
        assert r.body == b"502 bad header from Swift\n", (what, r.body)
    # Nothing of Swift's bad value reached the client's head.
    assert b"X-Evil" not in r.raw_head and b"\x01" not in r.raw_head, (what, r.raw_head)


def _bad_value(ctx, header, raw, seed, method="GET", req_headers=None,
               cache_word="MISS", gw_sections=None):
    """An object whose `header` Swift sends as `raw`: two requests, each a
    502 that reached the origin and was counted; nothing left in the
    cache; once Swift heals, a 200 then a HIT."""
    data = fixtures.random_bytes(10000, seed=seed)
    name = fixtures.new_uuid()
    with faultorigin.FaultOrigin() as origin:
        origin.put(CONTAINER, name, data, "image/png",
                   fault={"raw_header": (header, raw)})
        gw = _gateway(ctx, origin, **(gw_sections or {}))
        path = "/fractal/" + name
        for i in (1, 2):
            before = gw.error_count(KIND)
            seen = origin.count("GET", name) + origin.count("HEAD", name)
            with Raw(gw.url) as c:
                r = c.request(method, path, req_headers)
            _assert_refused(gw, r, "%s %d with %s %r" % (method, i, header, raw),
                            cache_word)
            assert origin.count("GET", name) + origin.count("HEAD", name) > seen, (
                "%s %d did not reach the origin: the answer was cached" % (method, i))
            assert wait_until(lambda: gw.error_count(KIND) > before, 3.0), (
                "%s %d with %s %r: %s stayed at %s" % (method, i, header, raw, KIND,
                                                        before))
        assert wait_until(lambda: not _files_under(gw, "tmp"), 3.0), \
            "temp files left: %s" % _files_under(gw, "tmp")
        assert _files_under(gw, "blobs") == [], _files_under(gw, "blobs")
        # Swift heals: the object is fetched, verified and cached.
        origin.set_fault(CONTAINER, name, None)
        with Raw(gw.url) as c:
            r = c.request("GET", path)
            assert r.status == 200 and r.body == data, r
            assert r.get("X-Cache") == "MISS", r
            r = c.request("GET", path)
            assert r.status == 200 and r.get("X-Cache") == "HIT", r
        return gw


def test_content_type_with_a_cr_is_refused(ctx):
    _bad_value(ctx, "Content-Type", b"image/png\rX-Evil: 1", 301)


def test_content_type_with_a_cr_is_refused_on_head(ctx):
    _bad_value(ctx, "Content-Type", b"image/png\rX-Evil: 1", 302, method="HEAD")


def test_etag_with_a_control_byte_is_refused(ctx):
    _bad_value(ctx, "Etag", b"0123456789abcdef\x010123456789abcdef", 303)


def test_last_modified_with_a_nul_is_refused(ctx):
    # curl itself refuses a NUL in a head ("Nul byte in header"): the same 502.
    _bad_value(ctx, "Last-Modified", b"Tue, 01 Dec 2026\x00 10:00:00 GMT", 304)


def test_delete_byte_is_refused(ctx):
    _bad_value(ctx, "Content-Type", b"image/png\x7f", 305)


def test_content_range_with_a_cr_on_a_passed_range(ctx):
    # A cold Range past range_passthrough goes to Swift as a Range: its 206's
    # Content-Range is checked like the rest (the fill behind it fails too).
    _bad_value(ctx, "Content-Range", b"bytes 5000-5099/10000\rX-Evil: 1", 306,
               req_headers={"Range": "bytes=5000-5099"}, cache_word="PASS",
               gw_sections={"cache": {"range_passthrough": "1K"}})


def test_readers_waiting_on_the_fill_get_a_clean_502(ctx):
    data = fixtures.random_bytes(10000, seed=307)
    name = fixtures.new_uuid()
    with faultorigin.FaultOrigin() as origin:
        # The head comes after 1 s, so every client joins the one fill.
        origin.put(CONTAINER, name, data, "image/png",
                   fault=[{"raw_header": ("Content-Type", b"image/png\rX-Evil: 1")},
                          "delay=1"])
        gw = _gateway(ctx, origin)
        results = [None] * 4

        def one(i):
            try:
                with Raw(gw.url, timeout=15) as c:
                    results[i] = c.request("GET", "/fractal/" + name)
            except Exception as e:      # recorded, asserted below
                results[i] = e
        threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        assert not any(t.is_alive() for t in threads), "a client hung"
        for i, r in enumerate(results):
            assert not isinstance(r, Exception), "client %d: %r" % (i, r)
            assert r.status == 502 and r.body == b"502 bad header from Swift\n", r
            assert r.get("X-Content-Type-Options") == "nosniff", r
        assert origin.count("GET", name) == 1, (
            "%d origin GETs: the clients did not share one fill"
            % origin.count("GET", name))
        assert wait_until(lambda: gw.error_count(KIND) == 1, 3.0), gw.error_count(KIND)
        assert _files_under(gw, "blobs") == []
        assert wait_until(lambda: not _files_under(gw, "tmp"), 3.0)


def test_large_object_with_a_bad_header_is_refused(ctx):
    seg = fixtures.random_bytes(3000, seed=308)
    name = fixtures.new_uuid()
    with faultorigin.FaultOrigin() as origin:
        origin.put("fractals_segments", name + "/1", seg)
        origin.put_slo(CONTAINER, name, [("fractals_segments", name + "/1")],
                       fault={"raw_header": ("Content-Type", b"image/png\rX-Evil: 1")})
        gw = _gateway(ctx, origin)
        with Raw(gw.url) as c:
            r = c.request("GET", "/fractal/" + name)
        _assert_refused(gw, r, "SLO", "MISS")
        assert wait_until(lambda: gw.error_count(KIND) >= 1, 3.0)


def test_obs_text_is_accepted_as_it_came(ctx):
    # UTF-8 in a value is obs-text (RFC 9110 §5.5): it cannot split a line,
    # and Swift keeps types and metadata as UTF-8.  Passed on byte for byte.
    data = fixtures.random_bytes(10000, seed=309)
    name = fixtures.new_uuid()
    ctype = "image/png; name=\"caf\u00e9\"".encode("utf-8")
    with faultorigin.FaultOrigin() as origin:
        origin.put(CONTAINER, name, data, "image/png",
                   fault={"raw_header": ("Content-Type", ctype)})
        gw = _gateway(ctx, origin)
        with Raw(gw.url) as c:
            for want in ("MISS", "HIT"):
                r = c.request("GET", "/fractal/" + name)
                assert r.status == 200 and r.body == data, r
                assert r.get("X-Cache") == want, r
                assert b"\r\nContent-Type: " + ctype + b"\r\n" in r.raw_head + b"\r\n", \
                    r.raw_head
        assert origin.count("GET", name) == 1
        assert gw.error_count(KIND) == 0


def test_every_object_answer_says_nosniff(ctx):
    data = fixtures.random_bytes(300000, seed=310)
    seg = fixtures.random_bytes(5000, seed=311)
    name, slo_name, far, failing = (fixtures.new_uuid() for _ in range(4))
    with faultorigin.FaultOrigin() as origin:
        etag = origin.put(CONTAINER, name, data, "image/png")
        origin.put(CONTAINER, far, data, "image/png")
        origin.put("fractals_segments", slo_name + "/1", seg)
        origin.put_slo(CONTAINER, slo_name, [("fractals_segments", slo_name + "/1")])
        origin.set_fault(CONTAINER, failing, "status=503")
        gw = _gateway(ctx, origin, cache={"range_passthrough": "100K"})
        p, s = "/fractal/" + name, "/fractal/" + slo_name
        want = [
            ("GET", "/fractal/" + far, {"Range": "bytes=200000-200099"}, 206),  # passed
            ("GET", p, None, 200),                                       # miss
            ("GET", p, None, 200),                                       # hit
            ("HEAD", p, None, 200),
            ("GET", p, {"Range": "bytes=1-2"}, 206),
            ("GET", p, {"Range": "bytes=1-2,5-6"}, 206),                 # multipart
            ("GET", p, {"If-None-Match": '"%s"' % etag}, 304),
            ("GET", p, {"If-Match": '"other"'}, 412),
            ("GET", p, {"Range": "bytes=900000-"}, 416),
            ("GET", s, None, 200),                                       # SLO miss
            ("GET", s, None, 200),                                       # SLO hit
            ("GET", s, {"Range": "bytes=10-20"}, 206),
            ("GET", "/fractal/" + fixtures.new_uuid(), None, 404),
            ("GET", "/fractal/" + failing, None, 502),                   # Swift 503
            ("GET", "/fractal/not-a-uuid", None, 404),
        ]
        with Raw(gw.url) as c:
            for method, path, headers, status in want:
                r = c.request(method, path, headers)
                assert r.status == status, (method, path, headers, r)
                assert r.count("X-Content-Type-Options") == 1, (path, headers, r)
                assert r.get("X-Content-Type-Options") == "nosniff", (path, headers, r)
