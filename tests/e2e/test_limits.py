"""Bounds a public gateway needs, and what a client or an operator sees
when one is hit: the open files limit (EMFILE without spinning, serving
again once descriptors free up), access log lines that stay one line
whatever the URL, an admin listener that cannot share the public one,
and object answers a browser will not re-type (nosniff).
"""

import os
import socket
import subprocess
import time

import fixtures
import gateway
import httputil
from rawhttp import Raw
from waits import wait_until


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_out_of_descriptors_waits_without_spinning(ctx):
    gw = ctx.gateway(server={"workers": "1", "max_connections": "10000"})
    pid = gw.proc.pid
    subprocess.run(["prlimit", "--pid", str(pid), "--nofile=256:256"], check=True)
    addr = httputil.split_url(gw.url)[:2]
    socks = []
    try:
        for _ in range(400):                 # more than the gateway can hold
            s = socket.create_connection(addr, timeout=5)
            socks.append(s)
        # The backlog holds what accept4() cannot take (EMFILE); the
        # gateway must wait for descriptors, not retry in a loop.
        time.sleep(0.5)
        c0 = cpu_seconds(pid)
        time.sleep(2.0)
        used = cpu_seconds(pid) - c0
        print("     gateway CPU with 400 clients over 256 descriptors: %.2f s in 2 s"
              % used)
        assert used < 0.5, "the gateway spun on EMFILE: %.2f CPU-s in 2 s" % used
        assert "accept: Too many open files" in gw.stderr_text()
    finally:
        for s in socks:
            s.close()
    # Descriptors free again: new clients are served.
    def serves():
        try:
            return httputil.get(gw.url + "/healthz", timeout=2).status == 200
        except OSError:
            return False
    wait_until(serves, 10.0)


def test_check_config_tells_the_connections_the_files_allow(ctx):
    gw = ctx.gateway(start=False)
    rc, out, err = gateway.check_config(ctx.bin, gw.conf_path)
    assert rc == 0, err
    assert "# open files limit " in out and " connections; max_connections = " in out, out


def test_access_log_line_of_a_long_url_is_one_line(ctx):
    gw = ctx.gateway(server={"max_url_size": "4K"})
    with Raw(gw.url) as c:
        r = c.request("GET", "/fractal/" + "x" * 2000)
        assert r.status == 404, r
        r = c.request("GET", "/healthz")
        assert r.status == 200, r

    def two_lines():
        return len(gw.access_log_lines()) >= 2
    wait_until(two_lines, 5.0)
    with open(gw.access_log_path(), "rb") as f:
        text = f.read()
    lines = text.split(b"\n")
    assert lines[-1] == b"" and len(lines) == 3, text[-300:]
    assert b'"GET /fractal/' + b"x" * 391 + b'... HTTP/1.1" 404 ' in lines[0], lines[0]
    assert b'"GET /healthz HTTP/1.1" 200 ' in lines[1], lines[1]


def test_admin_listen_on_the_public_port_is_refused(ctx):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    for admin in ("127.0.0.1:%d" % port, "0.0.0.0:%d" % port):
        gw = ctx.gateway(start=False, server={"listen": "127.0.0.1:%d" % port,
                                              "admin_listen": admin})
        rc, _, err = gateway.check_config(ctx.bin, gw.conf_path)
        assert rc == 2, (admin, rc, err)
        assert "admin_listen: must not overlap listen" in err, err
        r = gateway.run(ctx.bin, ["serve", "-c", gw.conf_path], timeout=20)
        assert r[0] == 2 and "must not overlap listen" in r[2], r


def test_every_object_answer_says_nosniff(ctx):
    data = fixtures.random_bytes(5000, seed=3)
    name, etag = fixtures.upload(ctx.saio, data, "image/png")
    gw = ctx.gateway()
    with Raw(gw.url) as c:
        answers = [c.request("GET", "/fractal/" + name),       # miss
                   c.request("GET", "/fractal/" + name),       # hit
                   c.request("HEAD", "/fractal/" + name),
                   c.request("GET", "/fractal/" + name, {"Range": "bytes=1-2"}),
                   c.request("GET", "/fractal/" + name,
                             {"If-None-Match": '"%s"' % etag})]
    assert [r.status for r in answers] == [200, 200, 200, 206, 304], answers
    for r in answers:
        assert r.count("X-Content-Type-Options") == 1, r
        assert r.get("X-Content-Type-Options") == "nosniff", r


def test_admin_connections_have_their_own_cap(ctx):
    gw = ctx.gateway(server={"admin_max_connections": "4",
                             "max_connections": "4"})
    admins = [Raw(gw.admin_url) for _ in range(4)]
    try:
        for c in admins:
            assert c.request("GET", "/metrics").status == 200
        with Raw(gw.admin_url) as extra:
            r = extra.request("GET", "/metrics")
            assert r.status == 503 and b"too many connections" in r.body, r
        # The public listener counts its own: four clients still get in.
        public = [Raw(gw.url) for _ in range(4)]
        try:
            for c in public:
                assert c.request("GET", "/healthz").status == 200
        finally:
            for c in public:
                c.close()
    finally:
        for c in admins:
            c.close()
    assert "admin_max_connections (4) reached" in gw.stderr_text()

    def counted():
        try:
            return gw.error_count("connection_limit") >= 1
        except (OSError, AssertionError):
            return False               # a 503: the closes have not reached it yet
    wait_until(counted, 5.0)


def test_an_object_over_max_object_size_evicts_nothing(ctx):
    """The probe of the issue: a 4 MiB cache holding 20 images of 100 KiB,
    then one 3 MiB object (over max_size / 8): it is passed through
    whole, not cached, and every image is still a hit."""
    images = []
    for i in range(20):
        data = fixtures.random_bytes(100 << 10, seed=700 + i)
        images.append((fixtures.upload(ctx.saio, data, "image/png")[0], data))
    big = fixtures.random_bytes(3 << 20, seed=799)
    big_name, _ = fixtures.upload(ctx.saio, big, "image/png")
    gw = ctx.gateway(cache={"max_size": "4M"})
    for name, data in images:
        r = httputil.get(gw.url + "/fractal/" + name, timeout=30)
        assert r.status == 200 and r.body == data, r
    for _ in range(2):
        r = httputil.get(gw.url + "/fractal/" + big_name, timeout=30)
        assert r.status == 200 and r.body == big, r
        assert r.headers.get("X-Cache") == "PASS", r.headers
    hits = 0
    for name, data in images:
        r = httputil.get(gw.url + "/fractal/" + name, timeout=30)
        assert r.status == 200 and r.body == data, r
        hits += r.headers.get("X-Cache") == "HIT"
    assert hits == 20, "%d of 20 images are still hits" % hits
    assert gw.error_count("object_too_large") == 2


def test_segments_are_judged_one_by_one_against_max_object_size(ctx):
    """An SLO of two 700 KiB segments and two of 50 KiB under
    max_object_size 512K: the whole object is served (each big segment
    verified through its temp file), the small segments are cached, the
    big ones are not and are asked of Swift again on the next GET."""
    import largeobj
    prefix = fixtures.new_uuid()
    segs = largeobj.put_segments(ctx.saio, prefix,
                                 [700 << 10, 50 << 10, 700 << 10, 50 << 10], seed=7)
    name = fixtures.new_uuid()
    slo = largeobj.put_slo(ctx.saio, name, [largeobj.seg_part(s) for s in segs])
    gw = ctx.gateway(cache={"max_size": "4M", "max_object_size": "512K"})
    for round_ in range(2):
        before = ctx.saio.proxy_log_requests(settle=0.3)
        r = httputil.get(gw.url + "/fractal/" + name, timeout=30)
        assert r.status == 200 and r.body == slo.data, (round_, r)
        reqs = ctx.saio.proxy_log_requests(settle=0.3)[len(before):]
        gets = [largeobj.segment_gets(reqs, s.key) for s in segs]
        want = [1, 1, 1, 1] if round_ == 0 else [1, 0, 1, 0]
        assert gets == want, "round %d: segment GETs %s, want %s" % (round_, gets, want)
    assert gw.error_count("object_too_large") == 4
    assert gw.metrics().get("swiftgate_cache_temp_bytes") == 0
