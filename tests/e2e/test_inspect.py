"""Cache inspection and purge on the admin listener, against a real Swift:
GET|HEAD /cache/fractal/<uuid> answers what the cache holds as JSON
(checked against what Swift holds: size, MD5 of the bytes, ETag, a large
object's segments), soft purge (X-Purge-Soft: 1) makes the next GET a
conditional request to Swift, a hard purge makes it a miss, and
`swiftgate purge` purges on several gateways and says how each went."""

import datetime
import json
import os
import re
import socket

import fixtures
import gateway
import httputil
import largeobj
from answers import assert_object, describe, get, gw_stderr
from largeobj import put_segments, put_slo, seg_part
from waits import wait_until

CONTAINER = "fractals"
TOKEN_ENV = "SWIFTGATE_ADMIN_TOKEN"


# -- requests and waits ----------------------------------------------------------

def inspect(gw, name, method="GET", token=None):
    headers = {"Authorization": "Bearer " + token} if token else None
    return httputil.request(method, gw.admin_url + "/cache/fractal/" + name,
                            headers=headers, timeout=10)


def inspected(gw, name):
    """The JSON of a 200 inspection of name."""
    r = inspect(gw, name)
    assert r.status == 200, "inspect %s: %s %r%s" % (
        name, r.status, r.body[:300], gw_stderr(gw))
    assert r.headers.get("Content-Type") == "application/json", r.headers
    assert r.headers.get("Cache-Control") == "no-store", r.headers
    return json.loads(r.body)


def purge(gw, name, soft=False, method="DELETE"):
    headers = {"X-Purge-Soft": "1"} if soft else None
    path = "/cache/fractal/" if method == "DELETE" else "/fractal/"
    return httputil.request(method, gw.admin_url + path + name,
                            headers=headers, timeout=10)


def rfc3339_ms(text):
    """Unix ms of an RFC 3339 UTC time with milliseconds, as inspect gives."""
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", text), text
    t = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")
    t = t.replace(tzinfo=datetime.timezone.utc)
    return round(t.timestamp() * 1000)


def swift_count(ctx, name, method="GET", status=None):
    path = r"/v1/AUTH_test/%s/%s(?:%%3F\S*)?" % (CONTAINER, re.escape(name))
    if status is not None:
        path += r" HTTP/1\.[01] %d" % status
    return ctx.saio.proxy_log_count(method, path)


def segments_when_cached(gw, name, want_cached):
    """name's inspection once it is in the index with want_cached of its
    segments cached (a large object's manifest and segments are committed
    to the index in batches, after the answer), within 10 s."""
    seen = {}

    def ready():
        r = inspect(gw, name)
        if r.status == 404:
            return False
        seen["j"] = inspected(gw, name)
        return seen["j"]["segments"]["cached"] == want_cached

    wait_until(ready, 10.0, "%d segments of %s cached" % (want_cached, name))
    return seen["j"]


def cached_object(ctx, size, seed, content_type="image/png", **gw_conf):
    """A new object in Swift and a gateway (gw_conf its sections) that has
    just fetched it: (gw, name, data)."""
    data = fixtures.random_bytes(size, seed=seed)
    name, _ = fixtures.upload(ctx.saio, data, content_type)
    gw = ctx.gateway(**gw_conf)
    assert_object(get(gw, name), data, "MISS", gw)
    return gw, name, data


def now_ms():
    return round(datetime.datetime.now(datetime.timezone.utc).timestamp()
                 * 1000)


# -- inspection -----------------------------------------------------------------

def test_inspect_plain_object(ctx):
    data = fixtures.random_bytes(200 << 10, seed=7101)
    name, etag = fixtures.upload(ctx.saio, data, "image/png")
    _, swift_headers = ctx.saio.head_object(CONTAINER, name)
    gw = ctx.gateway(cache={"ttl": "1h"})
    before = now_ms()
    assert_object(get(gw, name), data, "MISS", gw)
    after = now_ms()
    j = inspected(gw, name)
    assert j["uuid"] == name and j["object"] == CONTAINER + "/" + name, j
    assert j["kind"] == "object", j
    assert j["size"] == len(data) == j["blob_bytes"], j
    assert j["md5"] == fixtures.md5_hex(data), j
    assert j["etag"] == etag == swift_headers["Etag"].strip('"'), (j, etag)
    assert j["last_modified"] == swift_headers["Last-Modified"], j
    assert j["content_type"] == "image/png", j
    assert re.fullmatch(r"[0-9a-f]{64}", j["key"]), j
    stored = rfc3339_ms(j["stored_at"])
    assert before - 1000 <= stored <= after + 1000, (before, j, after)
    assert rfc3339_ms(j["expires"]) - stored == 3600 * 1000, j
    assert j["fresh"] is True, j
    assert before - 1000 <= rfc3339_ms(j["last_access"]) <= now_ms() + 1000, j
    assert "segments" not in j, j
    # HEAD: the same head, no body.
    r = inspect(gw, name, "HEAD")
    g = inspect(gw, name)
    assert r.status == 200 and r.body == b"", describe(r)
    assert r.headers["Content-Length"] == g.headers["Content-Length"], \
        (r.headers, g.headers)


def test_inspect_not_cached_and_bad_requests(ctx):
    gw = ctx.gateway()
    absent = fixtures.new_uuid()
    r = inspect(gw, absent)
    assert r.status == 404, describe(r)
    assert json.loads(r.body) == {"uuid": absent, "error": "not cached"}, r.body
    r = inspect(gw, absent, "HEAD")
    assert r.status == 404 and r.body == b"", describe(r)
    r = inspect(gw, "not-a-uuid")
    assert r.status == 404 and b"not a fractal id" in r.body, describe(r)
    r = httputil.request("POST", gw.admin_url + "/cache/fractal/" + absent,
                         body=b"", timeout=10)
    assert r.status == 405 and "DELETE" in r.headers.get("Allow", ""), r.headers
    # Not on the public listener: there /cache/ is nothing.
    r = httputil.request("GET", gw.url + "/cache/fractal/" + absent, timeout=10)
    assert r.status == 404 and b"not cached" not in r.body, describe(r)


def test_inspect_reports_a_remembered_404(ctx):
    """A name Swift said 404 for is not cached, and the inspection says its
    404 is remembered and for how long; a purge forgets it."""
    gw = ctx.gateway(cache={"negative_ttl": "30s"})
    missing = fixtures.new_uuid()
    assert get(gw, missing).status == 404
    r = inspect(gw, missing)
    assert r.status == 404, describe(r)
    body = json.loads(r.body)
    assert body["error"] == "not cached" and body["remembered_404"] is True, body
    assert 25 < body["remembered_for_s"] <= 30, body
    # The look is not a request: no hit counted, nothing asked of Swift.
    assert gw.metrics().get("swiftgate_negative_hits_total", 0) == 0, \
        gw.metrics().get("swiftgate_negative_hits_total")
    assert purge(gw, missing).status in (200, 404)
    r = inspect(gw, missing)
    assert json.loads(r.body) == {"uuid": missing, "error": "not cached"}, r.body


def test_inspect_needs_the_admin_token(ctx):
    token = "adm-" + os.urandom(8).hex()
    gw, name, data = cached_object(ctx, 10 << 10, 7102,
                                   server={"admin_token": token})
    for bad in (None, "wrong"):
        r = inspect(gw, name, token=bad)
        assert r.status == 401, describe(r)
        assert b"md5" not in r.body, r.body
    r = inspect(gw, name, token=token)
    assert r.status == 200 and json.loads(r.body)["size"] == len(data), \
        describe(r)
    # Purges too, soft or hard.
    for soft in (False, True):
        r = httputil.request("DELETE", gw.admin_url + "/cache/fractal/" + name,
                             headers={"X-Purge-Soft": "1"} if soft else None,
                             timeout=10)
        assert r.status == 401, describe(r)
    assert_object(get(gw, name), data, "HIT", gw)


def test_inspect_slo_lists_segments(ctx):
    uid = fixtures.new_uuid()
    sizes = [30000, 45000, 12345]
    segs = put_segments(ctx.saio, uid, sizes, seed=7103)
    slo = put_slo(ctx.saio, fixtures.new_uuid(), [seg_part(s) for s in segs])
    _, swift_headers = ctx.saio.head_object(CONTAINER, slo.name)
    gw = ctx.gateway()
    resp = get(gw, slo.name)
    assert resp.status == 200 and resp.body == slo.data, describe(resp)
    j = segments_when_cached(gw, slo.name, 3)
    assert j["kind"] == "slo", j
    assert j["size"] == len(slo.data) == sum(sizes), j
    assert j["etag"] == slo.etag == swift_headers["Etag"].strip('"'), j
    assert j["md5"] is None and re.fullmatch(r"[0-9a-f]{32}", j["manifest_etag"]), j
    s = j["segments"]
    assert (s["count"], s["cached"], s["shown"], s["omitted"]) == (3, 3, 3, 0), s
    assert [x["name"] for x in s["list"]] == \
        ["%s/%s" % (seg.container, seg.name) for seg in segs], s
    assert [x["size"] for x in s["list"]] == sizes, s
    assert sum(x["bytes"] for x in s["list"]) == j["size"], s
    assert [x["etag"] for x in s["list"]] == [seg.etag for seg in segs], s
    assert [x["offset"] for x in s["list"]] == [0, sizes[0], sizes[0] + sizes[1]]
    assert all(x["cached"] is True and "range" not in x for x in s["list"]), s
    # An SLO never asked for is not in the cache, though its segment is.
    cold = put_slo(ctx.saio, fixtures.new_uuid(), [seg_part(segs[0])])
    assert inspect(gw, cold.name).status == 404


def test_inspect_caps_the_segment_list(ctx):
    """An SLO of 120 entries (one segment listed 120 times, as Swift
    allows): 100 listed, 20 said to be left out, all cached."""
    segs = put_segments(ctx.saio, fixtures.new_uuid(), [1000], seed=7104)
    slo = put_slo(ctx.saio, fixtures.new_uuid(),
                  [seg_part(segs[0]) for _ in range(120)])
    gw = ctx.gateway()
    resp = get(gw, slo.name)
    assert resp.status == 200 and resp.body == slo.data, describe(resp)
    j = segments_when_cached(gw, slo.name, 120)
    s = j["segments"]
    assert (s["count"], s["cached"], s["shown"], s["omitted"]) == \
        (120, 120, 100, 20), {k: v for k, v in s.items() if k != "list"}
    assert len(s["list"]) == 100, len(s["list"])
    assert j["size"] == 120 * 1000, j["size"]


# -- soft and hard purge ----------------------------------------------------------

def test_soft_purge_revalidates(ctx):
    gw, name, data = cached_object(ctx, 150 << 10, 7105, cache={"ttl": "1h"})
    assert_object(get(gw, name), data, "HIT", gw)
    stored = rfc3339_ms(inspected(gw, name)["stored_at"])
    r = purge(gw, name, soft=True, method="PURGE")
    assert r.status == 200 and b"soft-purged" in r.body, describe(r)
    j = inspected(gw, name)
    assert j["fresh"] is False and j["size"] == len(data), j
    assert rfc3339_ms(j["expires"]) <= now_ms(), j
    assert rfc3339_ms(j["stored_at"]) < stored, j
    # The next GET asks Swift with If-None-Match; its 304 refreshes the entry.
    assert swift_count(ctx, name, status=304) == 0
    assert_object(get(gw, name), data, "REVALIDATED", gw)
    assert swift_count(ctx, name, status=304) == 1, \
        "want one conditional GET answered 304"
    assert swift_count(ctx, name, "GET|HEAD") == 2
    assert_object(get(gw, name), data, "HIT", gw)
    assert inspected(gw, name)["fresh"] is True
    lines = [ln for ln in gw.access_log_lines() if name in ln]
    assert any("REVALIDATED" in ln for ln in lines), lines
    # The other spelling, and the refusals.
    r = purge(gw, name, soft=True)
    assert r.status == 200 and b"soft-purged" in r.body, describe(r)
    r = httputil.request("DELETE", gw.admin_url + "/cache/fractal/" + name,
                         headers={"X-Purge-Soft": "yes"}, timeout=10)
    assert r.status == 400 and b"X-Purge-Soft" in r.body, describe(r)
    r = purge(gw, fixtures.new_uuid(), soft=True)
    assert r.status == 404 and b"not cached" in r.body, describe(r)


def test_soft_purge_of_changed_object_refetches(ctx):
    old = fixtures.random_bytes(90 << 10, seed=7106)
    new = fixtures.random_bytes(95 << 10, seed=7107)
    name, _ = fixtures.upload(ctx.saio, old)
    gw = ctx.gateway(cache={"ttl": "1h"})
    assert_object(get(gw, name), old, "MISS", gw)
    fixtures.upload(ctx.saio, new, name=name)
    assert_object(get(gw, name), old, "HIT", gw)
    assert purge(gw, name, soft=True).status == 200
    assert_object(get(gw, name), new, "MISS", gw)
    assert inspected(gw, name)["md5"] == fixtures.md5_hex(new)


def test_soft_purge_slo_revalidates_without_segments(ctx):
    segs = put_segments(ctx.saio, fixtures.new_uuid(), [20000, 20000],
                        seed=7108)
    slo = put_slo(ctx.saio, fixtures.new_uuid(), [seg_part(s) for s in segs])
    gw = ctx.gateway(cache={"ttl": "1h"})
    resp = get(gw, slo.name)
    assert resp.status == 200 and resp.body == slo.data, describe(resp)
    segments_when_cached(gw, slo.name, 2)
    before = len(ctx.saio.proxy_log_requests())
    assert purge(gw, slo.name, soft=True).status == 200
    resp = get(gw, slo.name)
    assert resp.status == 200 and resp.body == slo.data, describe(resp)
    assert resp.headers.get("X-Cache") == "REVALIDATED", describe(resp)
    reqs = ctx.saio.proxy_log_requests()[before:]
    seg_gets = [r for r in reqs for s in segs
                if r[0] == "GET" and r[1] == largeobj.object_path(s.container, s.name)]
    assert seg_gets == [], reqs


def test_hard_purge_then_miss(ctx):
    gw, name, data = cached_object(ctx, 64 << 10, 7109)
    r = purge(gw, name)
    assert r.status == 200 and b"purged" in r.body and b"soft" not in r.body, \
        describe(r)
    assert inspect(gw, name).status == 404
    assert_object(get(gw, name), data, "MISS", gw)
    r = purge(gw, name, method="PURGE")
    assert r.status == 200, describe(r)
    r = purge(gw, name)
    assert r.status == 404 and b"not cached" in r.body, describe(r)


# -- swiftgate purge ------------------------------------------------------------

def purge_cli(ctx, args, env=None):
    """Run `swiftgate purge args`; (rc, stdout lines, stderr)."""
    rc, out, err = gateway.run(ctx.bin, ["purge"] + args, env=env, timeout=60)
    return rc, out.splitlines(), err


def closed_port_url():
    """An admin URL nothing listens on (a port bound, then closed)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return "http://127.0.0.1:%d" % port


def test_purge_cli_two_gateways(ctx):
    data = fixtures.random_bytes(40 << 10, seed=7110)
    other = fixtures.random_bytes(30 << 10, seed=7111)
    name, _ = fixtures.upload(ctx.saio, data)
    only_a, _ = fixtures.upload(ctx.saio, other)
    a, b = ctx.gateway(), ctx.gateway()
    for gw in (a, b):
        assert_object(get(gw, name), data, "MISS", gw)
    assert_object(get(a, only_a), other, "MISS", a)
    rc, lines, err = purge_cli(ctx, ["-g", a.admin_url, "-g", b.admin_url + "/",
                                     name, only_a])
    assert rc == 0, (rc, lines, err)
    assert lines == ["%s %s purged" % (a.admin_url, name),
                     "%s %s purged" % (a.admin_url, only_a),
                     "%s %s purged" % (b.admin_url, name),
                     "%s %s not cached" % (b.admin_url, only_a)], lines
    for gw in (a, b):
        assert_object(get(gw, name), data, "MISS", gw)
    # --soft: both keep the bytes and revalidate them with Swift.
    rc, lines, err = purge_cli(ctx, ["--soft", "-g", a.admin_url,
                                     "--gateway=" + b.admin_url, name])
    assert rc == 0 and lines == ["%s %s soft-purged" % (gw.admin_url, name)
                                 for gw in (a, b)], (rc, lines, err)
    for gw in (a, b):
        assert_object(get(gw, name), data, "REVALIDATED", gw)


def test_purge_cli_one_gateway_down(ctx):
    gw, name, data = cached_object(ctx, 20 << 10, 7112)
    down = closed_port_url()
    second = fixtures.new_uuid()
    rc, lines, err = purge_cli(ctx, ["-g", down, "-g", gw.admin_url,
                                     "--timeout", "5s", name, second])
    assert rc == 1, (rc, lines, err)
    assert len(lines) == 4, lines
    assert lines[0].startswith("%s %s error: " % (down, name)), lines
    assert "connect" in lines[0].lower(), lines
    assert lines[1].startswith("%s %s error: not asked: " % (down, second)), lines
    assert lines[2:] == ["%s %s purged" % (gw.admin_url, name),
                         "%s %s not cached" % (gw.admin_url, second)], lines
    assert "2 of 4 purges failed" in err, err
    assert_object(get(gw, name), data, "MISS", gw)
    # A URL that is not an admin listener (the public one) is an error too,
    # not a quiet "not cached".
    rc, lines, err = purge_cli(ctx, ["-g", gw.url, name])
    assert rc == 1 and lines[0].startswith(
        "%s %s error: HTTP 404" % (gw.url, name)), (rc, lines, err)


def test_purge_cli_token(ctx):
    token = "adm-" + os.urandom(8).hex()
    gw, name, data = cached_object(ctx, 20 << 10, 7113,
                                   server={"admin_token": token})
    rc, lines, err = purge_cli(ctx, ["-g", gw.admin_url, name],
                               env={TOKEN_ENV: None})
    assert rc == 1 and lines == ["%s %s error: HTTP 401 admin token required"
                                 % (gw.admin_url, name)], (rc, lines, err)
    assert_object(get(gw, name), data, "HIT", gw)
    rc, lines, err = purge_cli(ctx, ["-g", gw.admin_url, "--token", token, name])
    assert rc == 0 and lines == ["%s %s purged" % (gw.admin_url, name)], \
        (rc, lines, err)
    assert token not in "\n".join(lines) + err
    assert_object(get(gw, name), data, "MISS", gw)
    rc, lines, err = purge_cli(ctx, ["-g", gw.admin_url, name],
                               env={TOKEN_ENV: token})
    assert rc == 0 and lines == ["%s %s purged" % (gw.admin_url, name)], \
        (rc, lines, err)


def test_purge_cli_usage(ctx):
    u = fixtures.new_uuid()
    for args, what in ((["-g", "http://127.0.0.1:1"], "want at least one"),
                       ([u], "want at least one"),
                       (["-g", "ftp://x", u], "-g: want"),
                       (["-g"], "-g: want"),
                       (["-g", "http://127.0.0.1:1", "not-a-uuid"],
                        "not a fractal uuid"),
                       (["-g", "http://127.0.0.1:1", "--timeout", "soon", u],
                        "--timeout"),
                       (["-g", "http://127.0.0.1:1", "--token", "a\nb", u],
                        "--token"),
                       (["--bogus", u], "unknown option")):
        rc, lines, err = purge_cli(ctx, args)
        assert rc == 2 and lines == [] and what in err, (args, rc, lines, err)
    rc, lines, err = purge_cli(ctx, ["--help"])
    assert rc == 0 and lines[0].startswith("usage: swiftgate purge"), lines
