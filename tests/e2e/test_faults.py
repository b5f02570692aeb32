"""The cache against an origin that misbehaves (tests/lib/faultorigin.py):
bodies that fail verification are never cached and never passed off as
whole, origin errors and hangs become 502/504 (or a stale answer), and a
body without Content-Length goes through uncached.

The gateway runs in static auth mode against the fault origin.
"""

import hashlib
import time

import faultorigin
import fixtures
from answers import assert_object, describe, fetch, get, gw_stderr
from waits import wait_until

CONTAINER = "fractals"


def _gateway(ctx, origin, swift=None, **sections):
    conf = origin.swift_conf(**(swift or {}))
    return ctx.gateway(swift=conf, **sections)


def _assert_cut_short(gw, name, data, what, may_refuse=False):
    """A GET of name never passes off a bad body as whole: it is a 200 for
    data that ends short of its Content-Length with only true bytes, or,
    with may_refuse (the failure was known before the head went out), a
    502."""
    status, headers, body, error = fetch(gw, name)
    if may_refuse and status == 502:
        return headers, body, error
    assert status == 200, "%s: want a 200 head%s, got %s (%s)%s" % (
        what, " or a 502" if may_refuse else "", status, error,
        gw_stderr(gw))
    cl = headers.get("Content-Length")
    assert cl == str(len(data)), "%s: Content-Length %s, want %d" % (
        what, cl, len(data))
    assert len(body) < len(data), (
        "%s: the client got all %d bytes (error %s, X-Cache %s): a body "
        "that failed verification was passed off as whole%s" % (
            what, len(body), error, headers.get("X-Cache"), gw_stderr(gw)))
    assert body == data[:len(body)], "%s: the bytes sent differ from the " \
        "object's" % what
    return headers, body, error


def _verification_failure(ctx, fault, kind, seed, size=512 << 10):
    """Shared by the wrong-MD5, short and reset tests.

    GET 1 is trickled (2 MB/s), so the head is out long before the body
    ends and the gateway can only cut the connection; GET 2 comes at full
    speed, where the gateway may also know before the head and answer 502.
    """
    data = fixtures.random_bytes(size, seed=seed)
    name = fixtures.new_uuid()
    with faultorigin.FaultOrigin() as origin:
        origin.put(CONTAINER, name, data, "image/png",
                   fault=[fault, "trickle=2000000"])
        gw = _gateway(ctx, origin)
        _assert_cut_short(gw, name, data, "GET 1 (%s, trickled)" % fault)
        n = wait_until(lambda: gw.error_count(kind) >= 1, 3.0)
        assert n, "after a %s body, swiftgate_errors_total{kind=\"%s\"} is " \
            "%s; errors: %s" % (fault, kind, gw.error_count(kind), {
                k: v for k, v in gw.metrics().items() if "errors" in k})
        # Nothing was cached: the next GET goes to the origin again.
        origin.set_fault(CONTAINER, name, fault)
        _assert_cut_short(gw, name, data, "GET 2 (%s)" % fault,
                          may_refuse=True)
        c = origin.count("GET", name)
        assert c >= 2, "GET 2 after a %s body did not reach the origin " \
            "(%d GETs): something was cached" % (fault, c)
        assert wait_until(lambda: gw.error_count(kind) >= 2, 3.0), \
            "the second %s body was not counted (%s = %s)" % (
                fault, kind, gw.error_count(kind))
        # The origin heals: the object is fetched whole, then cached.
        origin.set_fault(CONTAINER, name, None)
        before = origin.count("GET", name)
        assert_object(get(gw, name), data, "MISS", gw)
        assert_object(get(gw, name), data, "HIT", gw)
        assert origin.count("GET", name) == before + 1, (
            "want one more origin GET once healed, got %d"
            % (origin.count("GET", name) - before))


# -- bodies that fail verification ---------------------------------------------

def test_wrong_md5_never_cached(ctx):
    _verification_failure(ctx, "wrong_md5", "digest_mismatch", 201)


def test_wrong_md5_in_a_large_body_never_cached(ctx):
    # Over 1 MiB a body is hashed in the thread pool, behind the loop, and
    # the last byte still waits for that hash.
    _verification_failure(ctx, "wrong_md5", "digest_mismatch", 204,
                          size=(3 << 20) + 12345)


def test_short_body_never_cached(ctx):
    _verification_failure(ctx, "short", "origin_short_body", 202)


def test_reset_mid_body_never_cached(ctx):
    _verification_failure(ctx, "reset", "origin_short_body", 203)


# -- origin errors and hangs ------------------------------------------------------

def test_origin_503_is_502(ctx):
    name = fixtures.new_uuid()
    with faultorigin.FaultOrigin() as origin:
        origin.put(CONTAINER, name, b"x" * 1000, fault="status=503")
        gw = _gateway(ctx, origin)
        for i in range(2):
            r = get(gw, name)
            assert r.status == 502, "GET %d with the origin answering 503: " \
                "want 502, got %s" % (i + 1, describe(r))
        assert origin.count("GET", name) >= 2, (
            "a 503 was remembered: %d origin GETs" % origin.count("GET", name))


def test_origin_hang_before_headers_times_out(ctx):
    name = fixtures.new_uuid()
    with faultorigin.FaultOrigin() as origin:
        origin.put(CONTAINER, name, b"y" * 1000,
                   fault="hang_before_headers=10")
        gw = _gateway(ctx, origin, swift={"stall_timeout": "2s"})
        t = time.monotonic()
        r = get(gw, name, timeout=20)
        dt = time.monotonic() - t
        assert r.status in (504, 502), "want 504 (or 502) from a hung " \
            "origin, got %s after %.1f s" % (describe(r), dt)
        assert dt < 6.0, "the gateway took %.1f s to give up on a hung " \
            "origin with stall_timeout = 2s" % dt
        print("hung origin: %d after %.2f s" % (r.status, dt))


def test_no_content_length_is_pass(ctx):
    data = fixtures.random_bytes(700 << 10, seed=204)
    name = fixtures.new_uuid()
    with faultorigin.FaultOrigin() as origin:
        origin.put(CONTAINER, name, data, "image/png", fault="no_length")
        gw = _gateway(ctx, origin)
        for i in range(2):
            status, headers, body, error = fetch(gw, name)
            assert status == 200 and error is None, (
                "GET %d of a chunked object: %s %s%s" % (i + 1, status, error,
                                                         gw_stderr(gw)))
            assert headers.get("X-Cache") == "PASS", (
                "GET %d: X-Cache %s, want PASS" % (i + 1,
                                                    headers.get("X-Cache")))
            assert hashlib.md5(body).hexdigest() == fixtures.md5_hex(data), (
                "GET %d: %d bytes, md5 %s; want %d bytes" % (
                    i + 1, len(body), hashlib.md5(body).hexdigest(),
                    len(data)))
        assert origin.count("GET", name) == 2, (
            "an object without Content-Length was cached: %d origin GETs"
            % origin.count("GET", name))


# -- revalidation and stale, seen from the origin ---------------------------------

def test_revalidation_sends_if_none_match(ctx):
    data = fixtures.random_bytes(100 << 10, seed=205)
    name = fixtures.new_uuid()
    with faultorigin.FaultOrigin() as origin:
        etag = origin.put(CONTAINER, name, data, "image/png")
        gw = _gateway(ctx, origin, cache={"ttl": "1s"})
        assert_object(get(gw, name), data, "MISS", gw)
        time.sleep(1.2)
        assert_object(get(gw, name), data, "REVALIDATED", gw)
        reqs = [r for r in origin.requests_for(name) if r[0] == "GET"]
        assert len(reqs) == 2, [(m, p) for m, p, _ in reqs]
        assert reqs[0][2].get("If-None-Match") is None, reqs[0][2]
        inm = reqs[1][2].get("If-None-Match")
        assert inm == '"%s"' % etag, (
            "revalidation sent If-None-Match %r, want '\"%s\"'" % (inm, etag))
        for _, _, h in reqs:
            assert h.get("X-Auth-Token") == origin.token, h


def test_stale_on_origin_503(ctx):
    data = fixtures.random_bytes(100 << 10, seed=206)
    name = fixtures.new_uuid()
    with faultorigin.FaultOrigin() as origin:
        origin.put(CONTAINER, name, data, "image/png")
        gw = _gateway(ctx, origin, cache={"ttl": "1s",
                                          "stale_if_error": "1h"})
        assert_object(get(gw, name), data, "MISS", gw)
        time.sleep(1.2)
        origin.set_fault(CONTAINER, name, "status=503")
        r = get(gw, name)
        assert_object(r, data, "STALE", gw)
        assert int(r.headers["Age"]) >= 1, describe(r)
        assert origin.count("GET", name) == 2
        origin.set_fault(CONTAINER, name, None)
        assert_object(get(gw, name), data, "REVALIDATED", gw)


def test_stale_on_origin_timeout(ctx):
    data = fixtures.random_bytes(100 << 10, seed=207)
    name = fixtures.new_uuid()
    with faultorigin.FaultOrigin() as origin:
        origin.put(CONTAINER, name, data, "image/png")
        gw = _gateway(ctx, origin, swift={"stall_timeout": "2s"},
                      cache={"ttl": "1s", "stale_if_error": "1h"})
        assert_object(get(gw, name), data, "MISS", gw)
        time.sleep(1.2)
        origin.set_fault(CONTAINER, name, "hang_before_headers=10")
        t = time.monotonic()
        r = get(gw, name, timeout=20)
        dt = time.monotonic() - t
        assert_object(r, data, "STALE", gw)
        assert dt < 6.0, "the stale answer took %.1f s" % dt
