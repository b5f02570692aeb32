"""Writes through the gateway: PUT and DELETE /fractal/<uuid>, against the
real Swift (and the fault origin for a Swift that refuses).

A PUT streams its body to Swift chunked and writes it through to the cache:
the next GET is a HIT with no GET at Swift.  A body that does not come
whole, or does not match its Content-MD5, leaves nothing in Swift and
nothing in the cache.  DELETE removes a plain object or an SLO with its
segments.  The write token guards both.
"""

import base64
import hashlib
import http.client
import socket
import threading
import time

import faultorigin
import fixtures
import httputil
import largeobj
from answers import describe, get
from waits import wait_until

CONTAINER = fixtures.CONTAINER
TOKEN = "wr1te-t0ken"
AUTH = {"Authorization": "Bearer " + TOKEN}
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"


def png_bytes(n, seed):
    """n bytes that sniff as a PNG."""
    return PNG + fixtures.random_bytes(n - len(PNG), seed=seed)


def writer(ctx, **server):
    return ctx.gateway(server=dict({"write_token": TOKEN}, **server))


def request(gw, method, name, body=None, headers=None, chunked=False, timeout=30):
    """A request over http.client (chunked: body is sent in 64 KiB chunks)."""
    host, port, _ = httputil.split_url(gw.url)
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        if chunked:
            pieces = [body[i:i + 65536] for i in range(0, len(body), 65536)]
            conn.request(method, "/fractal/" + name, body=iter(pieces),
                         headers=headers or {}, encode_chunked=True)
        else:
            conn.request(method, "/fractal/" + name, body=body,
                         headers=headers or {})
        r = conn.getresponse()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read()
    finally:
        conn.close()


def put(gw, name, data, headers=None, chunked=False):
    return request(gw, "PUT", name, data, dict(AUTH, **(headers or {})), chunked)


def swift_has(ctx, name, container=CONTAINER):
    return ctx.saio.head_object(container, name)[0] != 404


def swift_gets(ctx, name):
    return ctx.saio.proxy_log_count("GET", "/v1/AUTH_test/%s/%s" % (CONTAINER, name))


def test_put_then_get_is_a_hit_without_swift(ctx):
    """A PUT with no Content-Type: 201 with the MD5 as ETag; Swift has the
    same bytes typed image/png (sniffed); the GET after is a HIT, byte for
    byte, and Swift never saw a GET for it."""
    gw = writer(ctx)
    name, data = fixtures.new_uuid(), png_bytes(700 << 10, seed=1)
    status, h, body = put(gw, name, data)
    assert status == 201, (status, body)
    assert h.get("etag") == '"%s"' % fixtures.md5_hex(data), h
    st, sh, sbody = ctx.saio.get_object(CONTAINER, name)
    assert st == 200 and fixtures.md5_hex(sbody) == fixtures.md5_hex(data), st
    assert sh.get("Content-Type") == "image/png", sh
    r = get(gw, name)
    assert r.status == 200 and r.body == data, describe(r)
    assert r.headers.get("X-Cache") == "HIT", describe(r)
    assert r.headers.get("Content-Type") == "image/png", describe(r)
    assert swift_gets(ctx, name) == 1, "Swift saw a GET other than the check's"


def test_put_chunked_with_content_md5(ctx):
    """A chunked PUT with its type and a right Content-MD5 is stored as sent."""
    gw = writer(ctx)
    name, data = fixtures.new_uuid(), fixtures.random_bytes(300 << 10, seed=2)
    md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
    status, _, body = put(gw, name, data, {"Content-Type": "image/jpeg",
                                           "Content-MD5": md5}, chunked=True)
    assert status == 201, (status, body)
    st, sh, sbody = ctx.saio.get_object(CONTAINER, name)
    assert st == 200 and sbody == data and sh.get("Content-Type") == "image/jpeg"
    r = get(gw, name)
    assert r.body == data and r.headers.get("X-Cache") == "HIT", describe(r)


def test_token_rules(ctx):
    """Writes off: 405.  On: no token 401, a wrong one 403; none reaches Swift."""
    name, data = fixtures.new_uuid(), png_bytes(1000, seed=3)
    off = ctx.gateway()
    for method in ("PUT", "DELETE"):
        status, h, _ = request(off, method, name, data if method == "PUT" else None, AUTH)
        assert status == 405 and h.get("allow") == "GET, HEAD", (method, status, h)
    gw = writer(ctx)
    for method in ("PUT", "DELETE"):
        body = data if method == "PUT" else None
        status, h, _ = request(gw, method, name, body)
        assert status == 401 and h.get("www-authenticate") == "Bearer", (method, status)
        status, _, _ = request(gw, method, name, body, {"Authorization": "Bearer nope"})
        assert status == 403, (method, status)
    assert ctx.saio.proxy_log_count("PUT|DELETE", "/v1/AUTH_test/%s/%s"
                                    % (CONTAINER, name)) == 0
    assert not swift_has(ctx, name)


def test_wrong_content_md5_stores_nothing(ctx):
    gw = writer(ctx)
    name, data = fixtures.new_uuid(), png_bytes(200 << 10, seed=4)
    bad = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    status, _, body = put(gw, name, data, {"Content-MD5": bad})
    assert status == 422, (status, body)
    assert not swift_has(ctx, name), "Swift kept a body that did not match"
    assert gw.error_count("upload_digest_mismatch") == 1
    r = get(gw, name)
    assert r.status == 404 and r.headers.get("X-Cache") != "HIT", describe(r)


def _cut_mid_body(gw, name, head_fields, first_part):
    host, port, _ = httputil.split_url(gw.url)
    s = socket.create_connection((host, port), timeout=10)
    head = "PUT /fractal/%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n%s\r\n" % (
        name, TOKEN, head_fields)
    s.sendall(head.encode() + first_part)
    time.sleep(0.3)
    s.close()


def test_client_stops_mid_body_stores_nothing(ctx):
    """Half a Content-Length body, or chunks without the last one, then the
    client goes: Swift has nothing (HEAD 404) and the gateway caches nothing."""
    gw = writer(ctx)
    data = png_bytes(1 << 20, seed=5)
    a, b = fixtures.new_uuid(), fixtures.new_uuid()
    _cut_mid_body(gw, a, "Content-Length: %d\r\n" % len(data), data[:len(data) // 2])
    chunk = b"%x\r\n%s\r\n" % (200000, data[:200000])
    _cut_mid_body(gw, b, "Transfer-Encoding: chunked\r\n", chunk * 2)
    wait_until(lambda: gw.error_count("upload_aborted") >= 2, timeout=10,
               what="both uploads counted as aborted")
    time.sleep(0.5)  # Swift's proxy ends the cut request on its own time
    for name in (a, b):
        assert not swift_has(ctx, name), "Swift kept a cut upload"
        r = get(gw, name)
        assert r.status == 404, describe(r)


def test_too_large_is_refused_before_swift(ctx):
    gw = writer(ctx, max_upload_size="100K")
    name = fixtures.new_uuid()
    host, port, _ = httputil.split_url(gw.url)
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.putrequest("PUT", "/fractal/" + name)
    for k, v in dict(AUTH, **{"Content-Length": str(200 << 10)}).items():
        conn.putheader(k, v)
    conn.endheaders()
    r = conn.getresponse()
    assert r.status == 413, r.status
    conn.close()
    status, _, _ = put(gw, name, png_bytes(150 << 10, seed=6), chunked=True)
    assert status == 413, status
    assert not swift_has(ctx, name)


def test_failing_swift_is_5xx_and_caches_nothing(ctx):
    """The fault origin refuses a PUT (405) with an old version in place,
    answers 503 after the body, resets mid-body, or stores the body under
    another ETag (then the gateway deletes it): the client gets a 5xx,
    nothing new stays, nothing is cached.  A healthy PUT after them is
    stored and cached."""
    cases = [("status=405", "upload_aborted"), ("status=503", "upload_aborted"),
             ("reset=100000", "upload_aborted"), ("wrong_etag", "upload_digest_mismatch")]
    with faultorigin.FaultOrigin() as origin:
        gw = ctx.gateway(swift=origin.swift_conf(), server={"write_token": TOKEN})
        for i, (fault, kind) in enumerate(cases):
            name, data = fixtures.new_uuid(), png_bytes(512 << 10, seed=20 + i)
            old = b"old" if i == 0 else None
            if old:
                origin.put(CONTAINER, name, old)
            origin.set_put_fault(CONTAINER, name, fault)
            before = gw.error_count(kind)
            status, _, body = put(gw, name, data)
            assert 500 <= status < 600, (fault, status, body)
            assert gw.error_count(kind) == before + 1, (fault, kind)
            if fault == "wrong_etag":
                assert origin.count("DELETE", name) == 1, "the bad object was not deleted"
            r = get(gw, name)
            assert r.headers.get("X-Cache") != "HIT", (fault, describe(r))
            assert (r.status, r.body) == ((200, old) if old else (404, r.body)), \
                (fault, describe(r))
        name, data = fixtures.new_uuid(), png_bytes(300 << 10, seed=30)
        status, _, _ = put(gw, name, data, chunked=True)
        assert status == 201 and origin.put_bodies[(CONTAINER, name)] == data, status
        r = get(gw, name)
        assert r.body == data and r.headers.get("X-Cache") == "HIT", describe(r)
        assert origin.count("GET", name) == 0


def test_replace_then_delete(ctx):
    gw = writer(ctx)
    name = fixtures.new_uuid()
    v1, v2 = png_bytes(100 << 10, seed=8), png_bytes(120 << 10, seed=9)
    assert put(gw, name, v1)[0] == 201
    assert get(gw, name).body == v1
    assert put(gw, name, v2)[0] == 201
    r = get(gw, name)
    assert r.body == v2 and r.headers.get("X-Cache") == "HIT", describe(r)
    status, h, body = request(gw, "DELETE", name, headers=AUTH)
    assert status == 204 and body == b"", (status, body)
    assert not swift_has(ctx, name)
    r = get(gw, name)
    assert r.status == 404, describe(r)
    assert request(gw, "DELETE", name, headers=AUTH)[0] == 404


def test_delete_slo_takes_its_segments(ctx):
    gw = writer(ctx)
    name = fixtures.new_uuid()
    segs = largeobj.put_segments(ctx.saio, name, [1 << 20, 1 << 20, 1000], seed=10)
    largeobj.put_slo(ctx.saio, name, [largeobj.seg_part(s) for s in segs])
    r = get(gw, name)
    assert r.status == 200, describe(r)
    status, _, body = request(gw, "DELETE", name, headers=AUTH)
    assert status == 204, (status, body)
    assert not swift_has(ctx, name)
    for s in segs:
        assert not swift_has(ctx, s.name, s.container), "segment %s left" % s.name
    assert get(gw, name).status == 404


def test_put_racing_readers_never_mix(ctx):
    """20 readers GET while a new version is PUT: each gets one whole
    version; after the PUT's 201 every GET gets the new one."""
    gw = writer(ctx)
    name = fixtures.new_uuid()
    v1, v2 = png_bytes(2 << 20, seed=11), png_bytes(2 << 20, seed=12)
    assert put(gw, name, v1)[0] == 201
    stop = threading.Event()
    bad, seen = [], {"v1": 0, "v2": 0}

    def reader():
        deadline = time.monotonic() + 20
        while not stop.is_set() and time.monotonic() < deadline:
            r = get(gw, name)
            if r.body == v1:
                seen["v1"] += 1
            elif r.body == v2:
                seen["v2"] += 1
            else:
                bad.append(describe(r))

    threads = [threading.Thread(target=reader) for _ in range(20)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    status = put(gw, name, v2, chunked=True)[0]
    after = get(gw, name)
    time.sleep(0.3)
    stop.set()
    for t in threads:
        t.join(30)
    assert status == 201, status
    assert not bad, bad[:3]
    assert after.body == v2 and after.headers.get("X-Cache") == "HIT", describe(after)
    assert seen["v1"] > 0, seen


def test_stalled_client_gets_408_and_nothing_is_stored(ctx):
    gw = writer(ctx, header_timeout="1s")
    name = fixtures.new_uuid()
    host, port, _ = httputil.split_url(gw.url)
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(("PUT /fractal/%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                   "Content-Length: 100000\r\n\r\n" % (name, TOKEN)).encode() + PNG * 100)
        s.settimeout(5)
        answer = s.recv(4096)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:100]
    assert gw.error_count("upload_aborted") == 1
    time.sleep(0.5)
    assert not swift_has(ctx, name)


def _hwm_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_big_upload_is_streamed_in_bounded_memory(ctx):
    """48 MiB, chunked, through the gateway: the peak RSS grows by far less
    than the body (it is never held whole), Swift has it byte for byte, and
    the next GET is a HIT."""
    gw = writer(ctx)
    name, data = fixtures.new_uuid(), png_bytes(48 << 20, seed=40)
    assert get(gw, fixtures.new_uuid()).status == 404  # warm up the worker
    before = _hwm_kib(gw.proc.pid)
    t = time.monotonic()
    status, h, _ = put(gw, name, data, chunked=True)
    took = time.monotonic() - t
    grown = _hwm_kib(gw.proc.pid) - before
    assert status == 201, status
    assert grown < 12 << 10, "peak RSS grew by %d KiB for a 48 MiB upload" % grown
    print("48 MiB upload: %.2f s, peak RSS +%d KiB" % (took, grown))
    st, _, sbody = ctx.saio.get_object(CONTAINER, name)
    assert st == 200 and hashlib.md5(sbody).hexdigest() == fixtures.md5_hex(data)
    r = get(gw, name, timeout=60)
    assert r.headers.get("X-Cache") == "HIT" and r.body == data, describe(r)


def test_a_running_fill_of_the_old_version_does_not_undo_a_put(ctx):
    """A miss of v1 is being filled (slowly) when a PUT of v2 is committed:
    the reader of v1 gets the whole of v1, and v1 is not written back over
    v2 when its fill ends: the GETs after are HITs of v2."""
    name = fixtures.new_uuid()
    v1, v2 = png_bytes(200 << 10, seed=50), png_bytes(150 << 10, seed=51)
    with faultorigin.FaultOrigin() as origin:
        origin.put(CONTAINER, name, v1, fault="trickle=100000",
                   last_modified=time.time() - 3600)
        gw = ctx.gateway(swift=origin.swift_conf(), server={"write_token": TOKEN})
        old = {}
        reader = threading.Thread(target=lambda: old.update(r=get(gw, name, timeout=20)))
        reader.start()
        wait_until(lambda: origin.count("GET", name) >= 1, timeout=5, what="the fill's GET")
        status, _, _ = put(gw, name, v2)
        assert status == 201, status
        reader.join(25)
        r = old["r"]
        assert r.status == 200 and r.body == v1, describe(r)
        time.sleep(0.5)  # the fill's commit runs after its readers have their bytes
        for _ in range(2):
            r = get(gw, name)
            assert r.body == v2 and r.headers.get("X-Cache") == "HIT", describe(r)
        assert origin.count("GET", name) == 1
