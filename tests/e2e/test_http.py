"""The HTTP front end over raw sockets: HTTP/1.1 semantics, limits, abuse,
health and metrics, logs, the drain, workers.

Every test talks to the real gateway through plain sockets (class Raw), so
what is asserted is what is on the wire: status lines, header fields,
exact body bytes, and when the gateway closes.  Limits are set small in the
config of each test so that every test stays fast.
"""

import hashlib
import os
import re
import resource
import select
import signal
import socket
import struct
import time

import fixtures
import fractal
import httputil
from rawhttp import Raw, req_bytes
from waits import wait_until

def addr_of(url):
    host, port, _ = httputil.split_url(url)
    return host, port


def rss_kib(pid, field="VmRSS"):
    """VmRSS (or RssAnon...) of a process, in KiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError("no " + field)


def swift_requests(ctx):
    """Requests Swift's proxy has seen for any object or container."""
    return ctx.saio.proxy_log_count(r"\S+", r"/v1/\S*")


def expect_refused(addr, timeout=3.0):
    """The listener is closed: a connect is refused (within timeout)."""
    def refused():
        try:
            socket.create_connection(addr, timeout=1).close()
        except ConnectionRefusedError:
            return True
        return False
    wait_until(refused, timeout, "%s:%d to refuse connections" % addr)


IMF_DATE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d "
                      r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                      r"\d{4} \d\d:\d\d:\d\d GMT$")


def assert_common_fields(resp):
    """Date, Server and Content-Length, each exactly once."""
    assert resp.count("Date") == 1 and IMF_DATE.match(resp.get("Date")), resp
    assert resp.count("Server") == 1 and \
        resp.get("Server").startswith("swiftgate/"), resp
    assert resp.count("Content-Length") == 1, resp


def assert_error_and_close(conn, status, head=False):
    resp = conn.read_response(head=head)
    assert resp.status == status, (status, resp, resp.body)
    assert resp.get("Connection") == "close", resp
    assert_common_fields(resp)
    assert conn.closed(), "connection left open after %d" % status
    return resp


# -- 1. HTTP/1.1 done right -----------------------------------------------------

def test_keepalive_head_and_fields(ctx):
    data = fractal.julia(96, 96)
    name, _ = fixtures.upload(ctx.saio, data, "image/png")
    gw = ctx.gateway()
    with Raw(gw.url) as c:
        for _ in range(2):
            r = c.request("GET", "/healthz")
            assert r.status == 200 and r.body == b"200 ok\n", r
            assert r.version == "HTTP/1.1" and r.get("Connection") is None, r
            assert_common_fields(r)
        r = c.request("HEAD", "/healthz")
        assert r.status == 200 and r.get("Content-Length") == "7", r
        r = c.request("GET", "/fractal/" + name)
        assert r.status == 200 and r.body == data, r
        assert_common_fields(r)
        assert r.get("Content-Length") == str(len(data)), r
        r = c.request("HEAD", "/fractal/" + name)
        assert r.status == 200 and r.get("Content-Length") == str(len(data))
        assert r.body == b"", r
        r = c.request("GET", "/fractal/" + name + "?v=1")   # query ignored
        assert r.status == 200 and r.body == data, r
        # Still the same connection: it was kept alive throughout.
        r = c.request("GET", "/healthz", {"Connection": "close"})
        assert r.status == 200 and r.get("Connection") == "close", r
        assert c.closed(), "Connection: close was not honoured"


def test_http10(ctx):
    data = fractal.mandelbrot(64, 48)
    name, _ = fixtures.upload(ctx.saio, data, "image/png")
    gw = ctx.gateway()
    with Raw(gw.url) as c:      # no keep-alive asked for: close after
        r = c.request("GET", "/fractal/" + name, version="1.0")
        assert r.status == 200 and r.body == data, r
        assert r.get("Connection") == "close", r
        assert c.closed()
    with Raw(gw.url) as c:      # keep-alive asked for: kept, and said so
        for _ in range(3):
            r = c.request("GET", "/fractal/" + name, version="1.0",
                          headers={"Connection": "keep-alive"})
            assert r.status == 200 and r.body == data, r
            assert r.get("Connection", "").lower() == "keep-alive", r
        r = c.request("HEAD", "/healthz", version="1.0")
        assert r.status == 200 and r.get("Connection") == "close", r
        assert c.closed()


def test_pipelining_100_in_order(ctx):
    objs = []
    for i in range(4):
        data = fractal.julia(40 + 8 * i, 40, c=complex(-0.7 + 0.05 * i, 0.27))
        objs.append((fixtures.upload(ctx.saio, data, "image/png")[0], data))
    gw = ctx.gateway()
    reqs, want = [], []
    for i in range(100):
        kind = i % 7
        if kind in (0, 1, 2, 3):
            name, data = objs[(i * 3 + kind) % 4]
            reqs.append(req_bytes("GET", "/fractal/" + name))
            want.append(("GET", 200, data))
        elif kind == 4:
            name, data = objs[i % 4]
            reqs.append(req_bytes("HEAD", "/fractal/" + name))
            want.append(("HEAD", 200, len(data)))
        elif kind == 5:
            reqs.append(req_bytes("GET", "/healthz?n=%d" % i))
            want.append(("GET", 200, b"200 ok\n"))
        else:
            reqs.append(req_bytes("GET", "/nothing/%d" % i))
            want.append(("GET", 404, None))
    t0 = time.monotonic()
    with Raw(gw.url, timeout=30) as c:
        c.send(b"".join(reqs))              # all 100 at once
        for i, (method, status, body) in enumerate(want):
            r = c.read_response(head=method == "HEAD")
            assert r.status == status, (i, r)
            if method == "HEAD":
                assert r.get("Content-Length") == str(body), (i, r)
            elif body is not None:
                assert r.body == body, (i, r, len(r.body))
        assert c.buf == b"", c.buf[:100]
        assert not c.closed(0.2), "closed after the pipeline"
    print("     100 pipelined requests answered in order in %.2f s"
          % (time.monotonic() - t0))


def test_other_methods_405(ctx):
    name, _ = fixtures.upload(ctx.saio, fractal.julia(32, 32))
    gw = ctx.gateway()
    with Raw(gw.url) as c:
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            body = b"x=1" if method in ("POST", "PUT", "PATCH") else b""
            hdrs = {"Content-Length": str(len(body))} if body else None
            r = c.request(method, "/fractal/" + name, hdrs, body=body)
            assert r.status == 405, (method, r)
            assert r.get("Allow") == "GET, HEAD", r
            assert r.get("Connection") is None, r   # the body was read; on
        # OPTIONS says what may be asked (a CORS preflight, test_cors.py).
        r = c.request("OPTIONS", "/fractal/" + name)
        assert r.status == 204 and r.get("Allow") == "GET, HEAD, OPTIONS", r
        assert r.get("Access-Control-Allow-Origin") is None, r   # CORS is off
        r = c.request("POST", "/healthz")
        assert r.status == 405 and r.get("Allow") == "GET, HEAD", r
        r = c.request("GET", "/healthz")
        assert r.status == 200, r


# -- 2. limits ------------------------------------------------------------------

LIMITS = {"max_url_size": "1K", "max_header_size": "4K", "max_headers": "20",
          "max_body_size": "1K"}


def test_limits_414_431(ctx):
    gw = ctx.gateway(server=LIMITS)
    with Raw(gw.url) as c:        # just under every limit: served
        hdrs = {"X-F%d" % i: "v" for i in range(18)}
        r = c.request("GET", "/healthz?" + "a" * 900, hdrs)
        assert r.status == 200, r
    with Raw(gw.url) as c:
        c.send(req_bytes("GET", "/healthz?" + "a" * 1100))
        assert_error_and_close(c, 414)
    with Raw(gw.url) as c:
        c.send(req_bytes("GET", "/healthz", {"X-Big": "b" * 5000}))
        assert_error_and_close(c, 431)
    with Raw(gw.url) as c:        # a head of many small fields, too long
        c.send(req_bytes("GET", "/healthz",
                         {"X-%d" % i: "c" * 300 for i in range(15)}))
        assert_error_and_close(c, 431)
    with Raw(gw.url) as c:
        c.send(req_bytes("GET", "/healthz",
                         {"X-F%d" % i: "v" for i in range(25)}))
        assert_error_and_close(c, 431)
    with Raw(gw.url) as c:        # sent slowly, in pieces: the same answer
        for piece in [b"GET /healthz HTTP/1.1\r\nHost: x\r\n"] + \
                [b"X-Pad: " + b"p" * 200 + b"\r\n"] * 25:
            c.send(piece)
        assert_error_and_close(c, 431)


def test_body_discarded_or_refused(ctx):
    gw = ctx.gateway(server=LIMITS)
    with Raw(gw.url) as c:        # small body on GET: read, dropped, served
        r = c.request("GET", "/healthz", {"Content-Length": "10"},
                      body=b"0123456789")
        assert r.status == 200 and r.get("Connection") is None, r
        r = c.request("HEAD", "/healthz", {"Content-Length": "3"},
                      body=b"abc")
        assert r.status == 200, r
        r = c.request("GET", "/healthz")
        assert r.status == 200, r
    with Raw(gw.url) as c:        # too large: refused without reading it
        c.send(req_bytes("GET", "/healthz", {"Content-Length": "2000"}))
        assert_error_and_close(c, 413)
    with Raw(gw.url) as c:
        c.send(req_bytes("GET", "/healthz", {"Transfer-Encoding": "chunked"})
               + b"5\r\nhello\r\n0\r\n\r\n")
        assert_error_and_close(c, 411)


def test_header_timeout_one_byte_per_second(ctx):
    gw = ctx.gateway(server={"header_timeout": "2s"})
    request = req_bytes("GET", "/healthz")
    with Raw(gw.url) as c:
        t0 = time.monotonic()
        for i in range(len(request)):         # 1 byte per second
            c.send(request[i:i + 1])
            r, _, _ = select.select([c.sock], [], [], 1.0)
            if r:
                break
        else:
            raise AssertionError("whole request sent slowly, no 408")
        resp = assert_error_and_close(c, 408)
        dt = time.monotonic() - t0
        assert 1.8 <= dt <= 4.0, dt
    assert resp.get("Connection") == "close"
    with Raw(gw.url) as c:                    # connected, silent: closed
        t0 = time.monotonic()
        assert c.closed(timeout=5), "silent connection kept"
        assert c.buf == b"", c.buf
        assert 1.8 <= time.monotonic() - t0 <= 4.0


def test_keepalive_idle_timeout(ctx):
    gw = ctx.gateway(server={"keepalive_timeout": "1s"})
    with Raw(gw.url) as c:
        assert c.request("GET", "/healthz").status == 200
        t0 = time.monotonic()
        assert c.closed(timeout=4), "idle keep-alive connection kept"
        assert c.buf == b""
        assert 0.8 <= time.monotonic() - t0 <= 3.0


def test_max_connections(ctx):
    gw = ctx.gateway(server={"max_connections": "10", "workers": "2"})
    conns = [Raw(gw.url) for _ in range(10)]
    try:
        for c in conns:
            assert c.request("GET", "/healthz").status == 200
        for _ in range(3):                 # over the cap: refused cleanly
            with Raw(gw.url) as extra:
                extra.send(req_bytes("GET", "/healthz"))
                r = assert_error_and_close(extra, 503)
                assert r.get("Retry-After") == "1", r
        for c in conns:                    # the others are unharmed
            r = c.request("GET", "/healthz")
            assert r.status == 200 and r.get("Connection") is None, r
        conns.pop().close()                # one goes: a new one is let in

        def admitted():
            with Raw(gw.url) as c:
                return c.request("GET", "/healthz").status == 200
        wait_until(admitted, 5, "a free connection slot")
        m = gw.metrics()
        assert m['swiftgate_errors_total{kind="connection_limit"}'] >= 3, m
    finally:
        for c in conns:
            c.close()


# -- 3. abuse --------------------------------------------------------------------

def test_malformed_and_smuggling_400(ctx):
    name, _ = fixtures.upload(ctx.saio, fractal.julia(32, 32))
    gw = ctx.gateway()
    hidden = ("GET /fractal/%s HTTP/1.1\r\nHost: x\r\n\r\n" % name).encode()
    n = len(hidden)
    cases = [
        # request smuggling shapes
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" % n + hidden,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Length: 4\r\n\r\n0\r\n\r\n" + hidden,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
        b"Content-Length: %d\r\n\r\n" % n + hidden,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
        b"Content-Length: 5\r\n\r\nhello",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 1\r\n\r\nx",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n\tb\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\n",
        b"GET /healthz HTTP/1.1\nHost: x\n\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\nX: y\r\n\r\n",
        b"GET /healthz HTTP/1.1\rHost: x\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello",
        # malformed
        b"GET  /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /healthz  HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /healthz HTTP/1.1 \r\nHost: x\r\n\r\n",
        b"GET /health\tz HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /health\x00z HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /health\xffz HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /fractal/%s\r\n HTTP/1.1\r\nHost: x\r\n\r\n" % name.encode(),
        b"get /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nNo-Colon\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX: a\x01b\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\n\r\n",                     # no Host
        b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        b" GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /healthz HTTP/1.2\r\nHost: x\r\n\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(32),
    ]
    before = swift_requests(ctx)
    for raw in cases:
        with Raw(gw.url) as c:
            c.send(raw)
            try:
                r = assert_error_and_close(c, 400)
            except AssertionError as e:
                raise AssertionError("%r: %s" % (raw, e))
            assert b"400 " in r.body, r
    for raw, status in [(b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n", 505),
                        (b"CONNECT x:443 HTTP/1.1\r\nHost: x\r\n\r\n", 405)]:
        with Raw(gw.url) as c:
            c.send(raw)
            assert_error_and_close(c, status)
    with Raw(gw.url) as c:   # garbage after a good request: answered, then 400
        c.send(req_bytes("GET", "/healthz") + b"GARBAGE\r\n\r\n")
        assert c.read_response().status == 200
        assert_error_and_close(c, 400)
    with Raw(gw.url) as c:   # an h2c upgrade is ignored: plain HTTP/1.1
        r = c.request("GET", "/healthz", {"Connection": "Upgrade, HTTP2-Settings",
                                          "Upgrade": "h2c",
                                          "HTTP2-Settings": "AAMAAABkAAQAAP__"})
        assert r.status == 200, r
        assert c.request("GET", "/healthz").status == 200
    assert swift_requests(ctx) == before, "a smuggled request reached Swift"
    m = gw.metrics()
    assert m['swiftgate_errors_total{kind="client_bad_request"}'] >= \
        len(cases), m


def test_path_tricks_never_reach_swift(ctx):
    name, _ = fixtures.upload(ctx.saio, fractal.julia(32, 32))
    gw = ctx.gateway()
    up = name.upper()
    tricks = [
        "/fractal/..%2f" + name, "/fractal/..%2F..%2Ffractals%2F" + name,
        "/fractal/%2e%2e/" + name, "/fractal/./" + name,
        "/fractal/" + name + "/.", "/fractal/" + name + "/..",
        "/fractal/" + name + "%00", "/fractal/" + name + "%00.png",
        "/fractal/%00" + name, "/fractal/" + name + "%0d%0aX-Injected:%201",
        "/fractal/" + name + "%2f..%2f" + name, "/fractal/" + name[:8] +
        "%2d" + name[9:], "/fractal/" + name.replace("-", "%2D"),
        "/fractal/%" + name[1:], "/fractal//" + name, "//fractal/" + name,
        "/FRACTAL/" + name, "/fractal/" + name + ";x", "/fractal/" + name + "#x",
        "/fractal/" + up[:-1] + "%" + up[-1], "/fractal/" + name + "%20",
        "/fractal/" + name + "+", "http://x/fractal/../" + name,
        "/fractal/../fractal/" + name, "/fractal/%252e%252e%252f" + name,
    ]
    before = swift_requests(ctx)
    for path in tricks:
        with Raw(gw.url) as c:
            for method in ("GET", "HEAD"):
                r = c.request(method, path)
                assert r.status in (400, 404), (method, path, r)
                if r.status == 400:     # and the connection is closed
                    break
    raws = [b"GET /fractal/" + name.encode() + b"\r\nX: y HTTP/1.1\r\n"
            b"Host: x\r\n\r\n",
            b"GET /fractal/" + name[:10].encode() + b"\n" +
            name[11:].encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /fractal/" + name[:10].encode() + b"\r" +
            name[11:].encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n"]
    for raw in raws:
        with Raw(gw.url) as c:
            c.send(raw)
            resp = c.read_response()
            assert resp.status in (400, 505), (raw, resp)
            assert c.closed()
    assert swift_requests(ctx) == before, "a path trick reached Swift"


def test_slow_readers_bounded_memory(ctx):
    size = 16 << 20
    data = fixtures.random_bytes(size, seed=77)
    name, _ = fixtures.upload(ctx.saio, data, "application/octet-stream")
    # The sanitizer build keeps freed memory in quarantine; keep it small
    # so that RSS measures what the gateway holds, not what it has freed.
    env = {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=66:"
                           "quarantine_size_mb=4"}
    gw = ctx.gateway(server={"write_buffer": "64K", "send_timeout": "30s"},
                     env=env)
    with Raw(gw.url, timeout=60) as c:   # warm up: one whole transfer
        r = c.request("GET", "/fractal/" + name)
        assert r.body == data
    time.sleep(0.2)
    pid = gw.proc.pid

    def held():
        """VmRSS without file pages: what the gateway itself holds."""
        return rss_kib(pid, "RssAnon") + rss_kib(pid, "RssShmem")
    before, before_held = rss_kib(pid), held()
    stalled = []
    try:
        for _ in range(20):
            c = Raw(gw.url, rcvbuf=16384, timeout=30)
            c.send(req_bytes("GET", "/fractal/" + name))
            stalled.append(c)
        for c in stalled:                     # each has its head, then stops
            r = c.read_response(head=True)
            assert r.status == 200, r
        time.sleep(1.5)                       # let queues fill what they can
        peak, peak_held = 0, 0
        for _ in range(3):
            peak = max(peak, rss_kib(pid))
            peak_held = max(peak_held, held())
            time.sleep(0.3)
        m = gw.metrics()
        out = m["swiftgate_response_body_bytes_total"]
        growth = (peak - before) / 1024.0
        growth_held = (peak_held - before_held) / 1024.0
        print("     VmRSS %d KiB -> %d KiB (+%.1f MiB), anonymous +%.1f MiB, "
              "with 20 stalled readers of a 16 MiB object"
              % (before, peak, growth, growth_held))
        assert growth_held < 40, "the gateway's own memory grew by %.1f MiB" \
            % growth_held
        # The blob is sent with sendfile, never mapped (gateway/blobfd.c):
        # none of its pages count in VmRSS, whatever the readers hold.
        assert growth < 40, "VmRSS grew by %.1f MiB" % growth
        assert m["swiftgate_connections_open"] >= 20, m
        assert out < size + 20 * size / 2, out   # they really are stalled
        # A stalled reader that resumes still gets every byte.
        c = stalled.pop()
        md5 = hashlib.md5()
        got = len(c.buf)
        md5.update(c.buf)
        c.sock.settimeout(30)
        while got < size:
            chunk = c.sock.recv(1 << 20)
            assert chunk, "cut at %d" % got
            md5.update(chunk)
            got += len(chunk)
        c.close()
        assert md5.hexdigest() == fixtures.md5_hex(data)
    finally:
        for c in stalled:
            c.close()


def test_send_timeout_closes_stalled_reader(ctx):
    big = fixtures.random_bytes(8 << 20, seed=8)
    name, _ = fixtures.upload(ctx.saio, big, "application/octet-stream")
    gw = ctx.gateway(server={"send_timeout": "1s", "write_buffer": "16K"})
    with Raw(gw.url, rcvbuf=8192) as slow:
        slow.send(req_bytes("GET", "/fractal/" + name))
        assert slow.read_response(head=True).status == 200

        def cut():
            m = gw.metrics()
            return m['swiftgate_errors_total{kind="client_timeout"}'] >= 1 \
                and m["swiftgate_connections_open"] == 0
        wait_until(cut, 6, "the send timeout", step=0.1)
    assert "send timeout" in gw.stderr_text()


# -- 4. health and metrics --------------------------------------------------------

def test_healthz_and_metrics(ctx):
    name, _ = fixtures.upload(ctx.saio, fractal.julia(48, 48))
    token = "adm-" + os.urandom(8).hex()
    gw = ctx.gateway(server={"admin_token": token})
    assert httputil.get(gw.url + "/healthz").status == 200
    assert httputil.get(gw.url + "/metrics").status == 404   # public: no
    assert httputil.get(gw.url + "/fractal/" + name).status == 200
    assert httputil.get(gw.url + "/fractal/" + fixtures.new_uuid()).status \
        == 404
    with Raw(gw.url) as c:
        c.send(b"BAD REQUEST\r\n\r\n")
        assert_error_and_close(c, 400)
    r = httputil.get(gw.admin_url + "/metrics")
    assert r.status == 401 and r.headers.get("WWW-Authenticate") == "Bearer"
    r = httputil.get(gw.admin_url + "/metrics",
                     headers={"Authorization": "Bearer wrong"})
    assert r.status == 401, r
    r = httputil.get(gw.admin_url + "/metrics",
                     headers={"Authorization": "Bearer " + token})
    assert r.status == 200, r
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = r.body.decode()
    for family in ("swiftgate_requests_total", "swiftgate_response_body_bytes_total",
                   "swiftgate_connections_open", "swiftgate_origin_requests_total",
                   "swiftgate_origin_duration_seconds", "swiftgate_fills_in_flight",
                   "swiftgate_errors_total", "swiftgate_worker_requests_total"):
        assert "# TYPE %s " % family in text, family
    for line in text.splitlines():            # Prometheus text, line by line
        assert line.startswith("# HELP ") or line.startswith("# TYPE ") or \
            re.match(r'^[a-z_0-9]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? '
                     r'[0-9.e+-]+$', line), line
    m = gw.metrics(token)
    assert m['swiftgate_requests_total{status="200",cache="MISS"}'] >= 1, m
    assert m['swiftgate_requests_total{status="404",cache="MISS"}'] >= 1, m
    assert m['swiftgate_requests_total{status="400",cache="NONE"}'] >= 1, m
    assert m['swiftgate_requests_total{status="200",cache="NONE"}'] >= 1, m
    assert m["swiftgate_response_body_bytes_total"] > 0, m
    assert m['swiftgate_origin_duration_seconds_count{kind="object"}'] >= 2, m
    assert m['swiftgate_origin_requests_total{kind="object",class="2xx"}'] >= 1
    assert m['swiftgate_errors_total{kind="client_bad_request"}'] >= 1, m
    with Raw(gw.url) as c:                    # open connections are counted
        assert c.request("GET", "/healthz").status == 200
        assert gw.metrics(token)["swiftgate_connections_open"] >= 1
    r = httputil.get(gw.admin_url + "/healthz",
                     headers={"Authorization": "Bearer " + token})
    assert r.status == 200, r


# -- 5. logs ----------------------------------------------------------------------

ACCESS_RE = re.compile(
    r'^127\.0\.0\.1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ "(\S+) (\S+) HTTP/1\.[01]" '
    r'(\d{3}) (\d+) (\S+) (\d+\.\d{3}) (\d+\.\d{3})$')


def test_access_log_and_sighup(ctx):
    data = fractal.julia(64, 40)
    name, _ = fixtures.upload(ctx.saio, data)
    gw = ctx.gateway()
    path = gw.access_log_path()
    httputil.get(gw.url + "/fractal/" + name)
    httputil.head(gw.url + "/healthz")
    with Raw(gw.url) as c:
        c.send(b"GET /a\"b\\c HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n")
        assert_error_and_close(c, 400)

    def lines():
        return [ACCESS_RE.match(line) for line in gw.access_log_lines()]
    wait_until(lambda: len(lines()) >= 3, 3, "3 access log lines")
    got = lines()
    assert all(got), gw.access_log_lines()
    fields = [m.groups() for m in got]
    assert fields[0][:5] == ("GET", "/fractal/" + name, "200", str(len(data)),
                             "MISS"), fields[0]
    assert float(fields[0][6]) > 0 and float(fields[0][5]) >= float(fields[0][6])
    assert fields[1][:5] == ("HEAD", "/healthz", "200", "0", "-"), fields[1]
    assert fields[2][0] == "GET" and fields[2][2] == "400", fields[2]
    assert fields[2][1] == "/a\\x22b\\x5cc", fields[2]   # escaped: no forgery
    os.rename(path, path + ".1")
    os.kill(gw.proc.pid, signal.SIGHUP)
    wait_until(lambda: "access log reopened" in gw.stderr_text(), 3,
               "the reopen")
    httputil.get(gw.url + "/healthz")
    wait_until(lambda: os.path.exists(path) and gw.access_log_lines(), 3,
               "a line in the new access log")
    new = gw.access_log_lines()
    assert len(new) == 1 and '"GET /healthz HTTP/1.1" 200' in new[0], new
    with open(path + ".1") as f:
        assert len(f.read().splitlines()) == 3


def test_access_log_to_stdout(ctx):
    gw = ctx.gateway(server={"access_log": "-"})
    httputil.get(gw.url + "/healthz")

    def logged():
        with open(gw.stdout_path) as f:
            return '"GET /healthz HTTP/1.1" 200 7 -' in f.read()
    wait_until(logged, 3, "the access log line on stdout")


def test_logs_name_the_request_and_hold_no_secret(ctx):
    name, _ = fixtures.upload(ctx.saio, fractal.julia(32, 32))
    admin_token = "adm-" + os.urandom(12).hex()
    gw = ctx.gateway(server={"admin_token": admin_token, "log_level": "debug"})
    assert httputil.get(gw.url + "/fractal/" + name).status == 200
    for auth in ("Bearer nope", "Bearer " + admin_token):
        httputil.get(gw.admin_url + "/metrics", headers={"Authorization": auth})
    with Raw(gw.url) as c:
        c.send(b"GET /fractal/bad\tpath HTTP/1.1\r\nHost: x\r\n\r\n")
        assert_error_and_close(c, 400)
    # An origin failure, logged as a warning: Swift refuses a wrong key.
    bad = ctx.gateway(swift={"key": "wrong-" + os.urandom(6).hex()})
    assert httputil.get(bad.url + "/fractal/" + name).status == 502
    gw.stop()
    bad.stop()
    _, swift_token = ctx.saio.auth()
    texts = {"stderr": gw.stderr_text() + bad.stderr_text(),
             "access log": "\n".join(gw.access_log_lines() +
                                     bad.access_log_lines())}
    for what, text in texts.items():
        for secret in (swift_token, admin_token, "testing",
                       bad.conf_text.split("key = ")[1].split("\n")[0]):
            assert secret not in text, "%s holds a secret" % what
    err = gw.stderr_text()
    assert re.search(r' D server: 127\.0\.0\.1 "GET /fractal/bad\\x09path": '
                     r'bad request: ', err), err
    assert re.search(r" W swift: .*refused", bad.stderr_text()), \
        bad.stderr_text()


# -- 6. lifecycle -----------------------------------------------------------------

def test_drain_delay_then_stop_accepting(ctx):
    small = fractal.julia(40, 40)
    small_name, _ = fixtures.upload(ctx.saio, small)
    big = fixtures.random_bytes(4 << 20, seed=5)
    big_name, _ = fixtures.upload(ctx.saio, big, "application/octet-stream")
    gw = ctx.gateway(server={"drain_delay": "2s", "shutdown_grace": "10s",
                             "write_buffer": "16K"})
    addr = addr_of(gw.url)
    balancer = Raw(gw.url)                      # a balancer's kept connection
    assert balancer.request("GET", "/healthz").status == 200
    slow = Raw(gw.url, rcvbuf=8192)             # a download in flight
    slow.send(req_bytes("GET", "/fractal/" + big_name))
    head = slow.read_response(head=True)
    assert head.status == 200, head
    t0 = time.monotonic()
    os.kill(gw.proc.pid, signal.SIGTERM)
    time.sleep(0.2)
    # Draining, still accepting: /healthz is 503 everywhere, the rest served.
    r = balancer.request("GET", "/healthz")
    assert r.status == 503 and r.get("Connection") is None, r
    r = balancer.request("GET", "/healthz")
    assert r.status == 503, r
    with Raw(gw.url) as c:
        r = c.request("GET", "/healthz")
        assert r.status == 503 and r.body == b"503 draining\n", r
        r = c.request("GET", "/fractal/" + small_name)
        assert r.status == 200 and r.body == small, r
    assert time.monotonic() - t0 < 1.8, "too slow to test the delay"
    # After the delay: refused, idle connections closed, in-flight goes on.
    time.sleep(max(0.0, t0 + 2.2 - time.monotonic()))
    expect_refused(addr)
    assert balancer.closed(timeout=3), "idle connection kept after the delay"
    balancer.close()
    assert gw.proc.poll() is None, "exited before the download finished"
    md5 = hashlib.md5(slow.buf)
    got = len(slow.buf)
    slow.sock.settimeout(10)
    while got < len(big):
        chunk = slow.sock.recv(1 << 20)
        assert chunk, "download cut at %d" % got
        md5.update(chunk)
        got += len(chunk)
    assert md5.hexdigest() == fixtures.md5_hex(big)
    assert slow.closed(timeout=3), "kept alive while draining"
    slow.close()
    rc = gw.proc.wait(timeout=10)
    assert rc == 0, rc
    gw.stop()                                   # checks the exit is clean


def test_drain_grace_cuts_stalled(ctx):
    big = fixtures.random_bytes(8 << 20, seed=6)
    name, _ = fixtures.upload(ctx.saio, big, "application/octet-stream")
    gw = ctx.gateway(server={"shutdown_grace": "1s", "write_buffer": "16K"})
    with Raw(gw.url, rcvbuf=8192) as slow:
        slow.send(req_bytes("GET", "/fractal/" + name))
        assert slow.read_response(head=True).status == 200
        t0 = time.monotonic()
        os.kill(gw.proc.pid, signal.SIGTERM)
        expect_refused(addr_of(gw.url))
        rc = gw.proc.wait(timeout=10)
        dt = time.monotonic() - t0
        assert rc == 0, rc
        assert 0.8 <= dt <= 3.0, dt
    gw.stop()


def test_second_signal_exits_at_once(ctx):
    big = fixtures.random_bytes(8 << 20, seed=7)
    name, _ = fixtures.upload(ctx.saio, big, "application/octet-stream")
    gw = ctx.gateway(server={"shutdown_grace": "60s", "write_buffer": "16K"})
    with Raw(gw.url, rcvbuf=8192) as slow:
        slow.send(req_bytes("GET", "/fractal/" + name))
        assert slow.read_response(head=True).status == 200
        os.kill(gw.proc.pid, signal.SIGTERM)
        time.sleep(0.3)
        assert gw.proc.poll() is None, "exited with a download in flight"
        t0 = time.monotonic()
        os.kill(gw.proc.pid, signal.SIGINT)
        rc = gw.proc.wait(timeout=5)
        assert time.monotonic() - t0 < 1.0
    assert rc == 1, rc
    err = gw.stderr_text()
    assert "exiting now" in err, err
    assert "ERROR: AddressSanitizer" not in err and "runtime error" not in err
    with gw._lock:                    # exit 1 is what was asked for
        gw.returncode = rc


# -- 7. cores ----------------------------------------------------------------------

def test_two_workers_share_connections(ctx):
    gw = ctx.gateway(server={"workers": "2"})
    assert "workers=2" in gw.stderr_text()
    for _ in range(200):
        with Raw(gw.url) as c:
            r = c.request("GET", "/healthz", {"Connection": "close"})
            assert r.status == 200, r
    # A request is counted right after its answer is written: the client
    # may read the last answer a moment before the count.
    def served(m):
        return (m['swiftgate_worker_requests_total{worker="0"}'],
                m['swiftgate_worker_requests_total{worker="1"}'])
    wait_until(lambda: sum(served(gw.metrics())) >= 200, 2.0)
    m = gw.metrics()
    w0, w1 = served(m)
    print("     worker 0: %d requests, worker 1: %d" % (w0, w1))
    assert w0 > 0 and w1 > 0 and w0 + w1 == 200, (w0, w1)
    assert m['swiftgate_worker_connections_total{worker="0"}'] > 0
    assert m['swiftgate_worker_connections_total{worker="1"}'] > 0


def test_1000_keepalive_connections(ctx):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < 2200:
        resource.setrlimit(resource.RLIMIT_NOFILE,
                           (min(4096, hard) if hard != resource.RLIM_INFINITY
                            else 4096, hard))
    data = fractal.julia(32, 32)
    name, _ = fixtures.upload(ctx.saio, data)
    gw = ctx.gateway(server={"workers": "2"})
    t0 = time.monotonic()
    conns = []
    try:
        for _ in range(1000):
            conns.append(Raw(gw.url, timeout=30))
        for c in conns:                        # every one asks at once...
            c.send(req_bytes("GET", "/healthz"))
        for c in conns:                        # ...and every one is answered
            r = c.read_response()
            assert r.status == 200 and r.body == b"200 ok\n", r
        assert gw.metrics()["swiftgate_connections_open"] >= 1000
        for c in conns:                        # kept alive: a second round
            c.send(req_bytes("HEAD", "/healthz"))
        for c in conns:
            assert c.read_response(head=True).status == 200
        for c in conns[:50]:                   # and some real objects
            c.send(req_bytes("GET", "/fractal/" + name))
        for c in conns[:50]:
            r = c.read_response()
            assert r.status == 200 and r.body == data, r
        dt = time.monotonic() - t0
        print("     1000 keep-alive connections, 2050 requests: %.2f s" % dt)
    finally:
        for c in conns:
            c.close()


def test_client_gone_mid_answer_is_logged_and_counted(ctx):
    """A client that resets its connection after 64 KiB of a 4 MiB answer
    (cold and hit) still gets an access log line and counts as
    client_abort."""
    data = fixtures.random_bytes(4 << 20, seed=91)
    name, _ = fixtures.upload(ctx.saio, data, "image/png")
    gw = ctx.gateway(server={"write_buffer": "64K"})
    host, port = gw.url[len("http://"):].rsplit(":", 1)
    for _ in ("cold", "hit"):
        s = socket.create_connection((host, int(port)), timeout=10)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        s.sendall(("GET /fractal/%s HTTP/1.1\r\nHost: x\r\n\r\n" % name).encode())
        got = 0
        while got < 65536:
            chunk = s.recv(16384)
            assert chunk
            got += len(chunk)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
        time.sleep(0.3)
    def logged():
        return [l for l in gw.access_log_lines() if name in l]
    wait_until(lambda: len(logged()) >= 2, 5.0, step=0.2)
    lines = logged()
    # Both answers are logged, whether the kernel had taken every byte
    # before the reset (a whole 200) or the gateway saw the reset (short,
    # counted as client_abort).
    assert len(lines) >= 2, gw.access_log_lines()
    short = [l for l in lines if int(l.split('" ')[1].split()[1]) < len(data)]
    m = gw.metrics()
    assert m['swiftgate_errors_total{kind="client_abort"}'] == len(short), (m, lines)
