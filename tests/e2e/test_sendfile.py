"""Bodies sent from files, and a connection that drives its own socket.

Hits go out of the blob's descriptor with sendfile (after their head, in
the same call), answers that follow a fill go out of the fill's file the
same way, and a connection keeps reading while it answers: pipelined
requests wait in a bounded stash.  Every body here is compared byte for
byte with what was uploaded to the real Swift: whole objects, ranges and
multipart, from a hot blob and from a cold one (a restarted gateway
opens it again), an object purged while it is being sent, many readers
of one fill on two workers, and pipelined requests sent while a big
answer is still going out.
"""

import hashlib
import os
import re
import socket
import threading
import time

import fixtures
import httputil
from rawhttp import Raw, req_bytes

KiB = 1 << 10
MiB = 1 << 20
SIZES = [1, 4 * KiB, 100 * KiB, MiB + 1, 16 * MiB]


def swift_gets(ctx, name):
    """GETs of the object name that Swift's proxy has seen."""
    return ctx.saio.proxy_log_count(
        "GET", r"/v1/AUTH_test/fractals/%s(?:%%3F\S*)?" % re.escape(name))


def multipart_parts(resp):
    """[(content_range, bytes)] of a multipart/byteranges answer."""
    ctype = resp.get("Content-Type")
    m = re.match(r"multipart/byteranges; boundary=(\S+)$", ctype)
    assert m, ctype
    sep = b"\r\n--" + m.group(1).encode()
    body = resp.body
    assert body.startswith(sep + b"\r\n"), body[:80]
    assert body.endswith(sep + b"--\r\n"), body[-80:]
    parts = []
    for chunk in body[len(sep) + 2:-(len(sep) + 4)].split(sep + b"\r\n"):
        head, _, data = chunk.partition(b"\r\n\r\n")
        crange = re.search(rb"Content-Range: bytes (\S+)", head).group(1)
        parts.append((crange.decode(), data))
    return parts


def check_answers(c, objs, how):
    """Whole bodies, a single range and a multipart range of every object,
    on one keep-alive connection; every answer says how (X-Cache)."""
    for name, data in objs:
        r = c.request("GET", "/fractal/" + name)
        assert r.status == 200 and r.get("X-Cache") == how, r
        assert r.body == data, (len(data), len(r.body))
        n = len(data)
        first, last = n // 3, n // 3 + n // 4
        r = c.request("GET", "/fractal/" + name,
                      {"Range": "bytes=%d-%d" % (first, last)})
        assert r.status == 206, r
        assert r.get("Content-Range") == "bytes %d-%d/%d" % (first, last, n)
        assert r.body == data[first:last + 1]
        if n < 3:
            continue
        r = c.request("GET", "/fractal/" + name,
                      {"Range": "bytes=0-0, %d-%d, -1" % (n // 2, n // 2 + 1)})
        assert r.status == 206, r
        assert multipart_parts(r) == [
            ("0-0/%d" % n, data[:1]),
            ("%d-%d/%d" % (n // 2, n // 2 + 1, n), data[n // 2:n // 2 + 2]),
            ("%d-%d/%d" % (n - 1, n - 1, n), data[-1:])]


def test_bodies_byte_exact_hot_and_cold(ctx):
    objs = []
    for i, size in enumerate(SIZES):
        data = fixtures.random_bytes(size, seed=100 + i)
        objs.append((fixtures.upload(ctx.saio, data,
                                     "application/octet-stream")[0], data))
    cache = os.path.join(ctx.tmpdir, "sendfile-cache")
    gw = ctx.gateway(cache={"dir": cache})
    with Raw(gw.url, timeout=60) as c:
        for name, data in objs:          # misses: sent from the fill's file
            r = c.request("GET", "/fractal/" + name)
            assert r.status == 200 and r.get("X-Cache") == "MISS", r
            assert r.body == data
        check_answers(c, objs, "HIT")    # hot: the blobs are open
    gw.stop()
    gw = ctx.gateway(cache={"dir": cache})   # cold: each blob is opened again
    with Raw(gw.url, timeout=60) as c:
        check_answers(c, objs, "HIT")
        assert not c.closed(0.1)
    for name, _ in objs:
        assert swift_gets(ctx, name) == 1, name


def test_purged_while_being_sent(ctx):
    data = fixtures.random_bytes(16 * MiB, seed=5)
    name, _ = fixtures.upload(ctx.saio, data, "application/octet-stream")
    gw = ctx.gateway(server={"write_buffer": "64K"})
    assert httputil.get(gw.url + "/fractal/" + name, timeout=60).body == data
    with Raw(gw.url, rcvbuf=16384, timeout=60) as c:
        c.send(req_bytes("GET", "/fractal/" + name))
        r = c.read_response(head=True)
        assert r.status == 200 and r.get("X-Cache") == "HIT", r
        while len(c.buf) < 256 * KiB:     # part of the body is read
            c._fill(time.monotonic() + 10)
        # The blob is unlinked under the answer; its descriptor keeps it.
        p = httputil.request("DELETE", gw.admin_url + "/cache/fractal/" + name,
                             timeout=10)
        assert p.status == 200, p
        while len(c.buf) < len(data):
            c._fill(time.monotonic() + 30)
        assert c.buf == data
        c.buf = b""
        r = c.request("GET", "/fractal/" + name)   # gone from the cache
        assert r.get("X-Cache") == "MISS" and r.body == data, r
    assert swift_gets(ctx, name) == 2


def test_many_readers_of_one_fill(ctx):
    data = fixtures.random_bytes(16 * MiB, seed=9)
    want = hashlib.sha256(data).hexdigest()
    name, _ = fixtures.upload(ctx.saio, data, "application/octet-stream")
    gw = ctx.gateway(server={"workers": "2"})
    results = []
    lock = threading.Lock()
    go = threading.Barrier(24)

    def reader(i):
        go.wait(timeout=30)
        with Raw(gw.url, timeout=60, rcvbuf=65536 if i % 3 == 0 else None) as c:
            if i % 3 == 0:
                time.sleep(0.3)           # a slow start: joins a running fill
            r = c.request("GET", "/fractal/" + name)
            with lock:
                results.append((r.status, r.get("X-Cache"),
                                hashlib.sha256(r.body).hexdigest()))

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert len(results) == 24, results
    assert all(s == 200 and h == want for s, _, h in results), results
    assert swift_gets(ctx, name) == 1


def test_pipelined_requests_read_while_a_big_answer_goes_out(ctx):
    big = fixtures.random_bytes(8 * MiB, seed=21)
    small = fixtures.random_bytes(3000, seed=22)
    big_name, _ = fixtures.upload(ctx.saio, big, "application/octet-stream")
    small_name, _ = fixtures.upload(ctx.saio, small, "image/png")
    gw = ctx.gateway(server={"write_buffer": "64K"})
    for name in (big_name, small_name):
        httputil.get(gw.url + "/fractal/" + name, timeout=60)
    with Raw(gw.url, rcvbuf=32768, timeout=60) as c:
        c.send(req_bytes("GET", "/fractal/" + big_name))
        head = c.read_response(head=True)
        assert head.status == 200, head
        # The big answer is going out; what follows is sent piece by piece
        # and waits in the gateway's stash, in order.
        follow = [req_bytes("GET", "/fractal/" + small_name),
                  req_bytes("HEAD", "/fractal/" + big_name),
                  req_bytes("GET", "/healthz"),
                  req_bytes("GET", "/fractal/" + small_name,
                            {"Range": "bytes=10-19"})]
        for req in follow:
            for i in range(0, len(req), 7):
                c.send(req[i:i + 7])
                time.sleep(0.002)
        while len(c.buf) < len(big):
            c._fill(time.monotonic() + 30)
        assert c.buf[:len(big)] == big
        c.buf = c.buf[len(big):]
        r = c.read_response()
        assert r.status == 200 and r.body == small, r
        r = c.read_response(head=True)
        assert r.status == 200 and r.get("Content-Length") == str(len(big)), r
        r = c.read_response()
        assert r.status == 200 and r.body == b"200 ok\n", r
        r = c.read_response()
        assert r.status == 206 and r.body == small[10:20], r
        assert not c.closed(0.2)


def test_pipelined_input_beyond_the_stash_waits(ctx):
    big = fixtures.random_bytes(4 * MiB, seed=31)
    big_name, _ = fixtures.upload(ctx.saio, big, "application/octet-stream")
    gw = ctx.gateway(server={"write_buffer": "64K", "send_timeout": "30s"})
    httputil.get(gw.url + "/fractal/" + big_name, timeout=60)
    n = 4000                              # about 180 KiB of requests
    reqs = b"".join(req_bytes("GET", "/healthz?i=%d" % i) for i in range(n))
    with Raw(gw.url, rcvbuf=16384, timeout=60) as c:
        c.send(req_bytes("GET", "/fractal/" + big_name))
        assert c.read_response(head=True).status == 200
        # Not reading: the gateway takes a stash's worth, then stops
        # reading, so the rest stays in the socket buffers (or in ours).
        c.sock.setblocking(False)
        sent = 0
        deadline = time.monotonic() + 5
        while sent < len(reqs) and time.monotonic() < deadline:
            try:
                sent += c.sock.send(reqs[sent:sent + 65536])
            except BlockingIOError:
                time.sleep(0.05)
        c.sock.setblocking(True)
        pending = reqs[sent:]
        got = 0
        while len(c.buf) < len(big):
            c._fill(time.monotonic() + 30)
            if pending:                   # room again: the rest goes in
                c.sock.sendall(pending)
                pending = b""
        assert c.buf[:len(big)] == big
        c.buf = c.buf[len(big):]
        if pending:
            c.sock.sendall(pending)
        for i in range(n):
            r = c.read_response()
            assert r.status == 200 and r.body == b"200 ok\n", (i, r)
            got += 1
        assert got == n
        assert not c.closed(0.2)
    # Nothing was refused on the way.
    assert gw.error_count("client_bad_request") == 0


def test_client_reset_during_a_file_send(ctx):
    data = fixtures.random_bytes(16 * MiB, seed=41)
    name, _ = fixtures.upload(ctx.saio, data, "application/octet-stream")
    gw = ctx.gateway(server={"write_buffer": "64K"})
    assert httputil.get(gw.url + "/fractal/" + name, timeout=60).body == data
    for _ in range(5):
        s = socket.create_connection(httputil.split_url(gw.url)[:2], timeout=10)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
        s.sendall(req_bytes("GET", "/fractal/" + name))
        assert s.recv(4096).startswith(b"HTTP/1.1 200 ")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
        s.close()                         # a RST under the sendfile
    r = httputil.get(gw.url + "/fractal/" + name, timeout=60)
    assert r.status == 200 and r.body == data
