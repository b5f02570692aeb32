"""First slice of swiftgate: CLI, config, and GET/HEAD /fractal/<uuid>.

The gateway fetches /fractal/<uuid> from Swift container `fractals`,
object <uuid>, and passes the body through byte for byte with a quoted
ETag, Swift's Last-Modified and a Content-Type that is sniffed when Swift
says application/octet-stream.
"""

import configparser
import hashlib
import http.client
import os
import re
import socket

import fixtures
import fractal
import gateway
import httputil

# -- helpers ---------------------------------------------------------------

def _write_conf(ctx, text, name="swiftgate.conf"):
    path = os.path.join(ctx.tmpdir, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def _default_conf_text(ctx, **overrides):
    """The default gateway config as text, with section overrides."""
    return gateway.render_conf(gateway.merge_conf(
        gateway.default_conf(ctx.tmpdir, ctx.saio.auth_url), overrides))


def _line_of(text, prefix):
    """1-based number of the first line of text starting with prefix."""
    for i, line in enumerate(text.splitlines(), 1):
        if line.startswith(prefix):
            return i
    raise AssertionError("no line starts with %r" % prefix)


def _swift_head(ctx, name):
    status, headers = ctx.saio.head_object("fractals", name)
    assert status == 200, status
    return headers


def _assert_served(resp, data, swift_headers, content_type, method="GET"):
    """The gateway's answer carries the object as Swift has it."""
    assert resp.status == 200, resp
    h = resp.headers
    assert h.get("Content-Length") == str(len(data)), h
    assert h.get("ETag") == '"%s"' % fixtures.md5_hex(data), h
    assert h.get("ETag") == '"%s"' % swift_headers["Etag"], h
    assert h.get("Last-Modified") == swift_headers["Last-Modified"], h
    assert h.get("Content-Type") == content_type, h
    if method == "GET":
        assert resp.body == data, "body differs (%d bytes, want %d)" % (
            len(resp.body), len(data))
    else:
        assert resp.body == b"", resp.body[:100]


# -- command line and config ------------------------------------------------

def test_version(ctx):
    rc, out, _ = gateway.run(ctx.bin, ["--version"])
    assert rc == 0, rc
    assert re.match(r"swiftgate \S+\n?$", out), repr(out)


def test_help(ctx):
    rc, out, _ = gateway.run(ctx.bin, ["--help"])
    assert rc == 0, rc
    assert "usage" in out.lower(), out
    for word in ("serve", "check-config"):
        assert word in out, out


def test_unknown_command(ctx):
    rc, out, err = gateway.run(ctx.bin, ["frobnicate"])
    assert rc == 2, rc
    assert "usage" in err.lower(), err


def test_check_config_good(ctx):
    text = _default_conf_text(ctx, swift={"key": "s3cr3t-k3y"})
    path = _write_conf(ctx, text)
    rc, out, err = gateway.check_config(ctx.bin, path)
    assert rc == 0, (rc, err)
    cp = configparser.ConfigParser(interpolation=None)
    cp.read_string(out)
    assert cp.get("server", "listen") == "127.0.0.1:0", out
    assert cp.get("swift", "container") == "fractals", out
    assert cp.get("swift", "auth_url") == ctx.saio.auth_url, out
    assert "s3cr3t-k3y" not in out + err, "the key is printed"


def test_check_config_unknown_key(ctx):
    text = _default_conf_text(ctx, swift={"bogus_key": "1"})
    path = _write_conf(ctx, text)
    rc, _, err = gateway.check_config(ctx.bin, path)
    assert rc == 2, rc
    want = "%s:%d: bogus_key:" % (path, _line_of(text, "bogus_key"))
    assert want in err, (want, err)


def test_check_config_bad_values(ctx):
    bad = [("server", "workers", "lots"),
           ("server", "listen", "127.0.0.1:99999"),
           ("swift", "auth_version", "7")]
    for section, key, value in bad:
        text = _default_conf_text(ctx, **{section: {key: value}})
        path = _write_conf(ctx, text, "bad-%s.conf" % key)
        rc, _, err = gateway.check_config(ctx.bin, path)
        assert rc == 2, (key, rc, err)
        want = "%s:%d: %s:" % (path, _line_of(text, key + " ="), key)
        assert want in err, (want, err)


def test_check_config_missing_key(ctx):
    path = _write_conf(ctx, _default_conf_text(ctx, swift={"key": None}))
    rc, _, err = gateway.check_config(ctx.bin, path)
    assert rc == 2, rc
    assert "[swift] key" in err, err


def test_serve_refuses_bad_config(ctx):
    text = _default_conf_text(ctx, server={"bogus_key": "1"})
    gw = ctx.gateway(text=text, start=False)
    try:
        gw.start(timeout=10)
    except gateway.GatewayError:
        pass
    else:
        raise AssertionError("serve started with an unknown key")
    assert gw.returncode == 2, gw.returncode
    assert "%s:%d: bogus_key:" % (gw.conf_path, _line_of(text, "bogus_key")) \
        in gw.stderr_text(), gw.stderr_text()


def test_ready_line(ctx):
    gw = ctx.gateway()
    m = re.search(r"ready listen=127\.0\.0\.1:(\d+) admin=127\.0\.0\.1:(\d+)",
                  gw.stderr_text())
    assert m, gw.stderr_text()
    assert int(m.group(1)) > 0 and int(m.group(2)) > 0, m.group(0)
    assert m.group(1) != m.group(2), m.group(0)


# -- serving -----------------------------------------------------------------

def test_get_png(ctx):
    data = fractal.julia(128, 128)
    name, _ = fixtures.upload(ctx.saio, data, "image/png")
    gw = ctx.gateway()
    resp = httputil.get(gw.url + "/fractal/" + name)
    _assert_served(resp, data, _swift_head(ctx, name), "image/png")


def test_head_png(ctx):
    data = fractal.mandelbrot(128, 96)
    name, _ = fixtures.upload(ctx.saio, data, "image/png")
    gw = ctx.gateway()
    resp = httputil.head(gw.url + "/fractal/" + name)
    _assert_served(resp, data, _swift_head(ctx, name), "image/png", "HEAD")


def test_content_type_sniffed_from_octet_stream(ctx):
    pad = fixtures.random_bytes(3000, seed=1)
    cases = [(fractal.julia(64, 64), "image/png"),
             (fixtures.JPEG_MAGIC + pad, "image/jpeg"),
             (fixtures.GIF_MAGIC + pad, "image/gif"),
             (fixtures.WEBP_MAGIC + pad, "image/webp"),
             (b"just some bytes" + pad, "application/octet-stream")]
    octet = "application/octet-stream"
    uploaded = [(fixtures.upload(ctx.saio, data, octet)[0], data, want)
                for data, want in cases]
    gw = ctx.gateway()
    for name, data, want in uploaded:
        for method in ("GET", "HEAD"):
            resp = httputil.request(method, gw.url + "/fractal/" + name)
            _assert_served(resp, data, _swift_head(ctx, name), want, method)


def test_content_type_passed_through(ctx):
    data = fractal.julia(64, 64)
    name, _ = fixtures.upload(ctx.saio, data, "text/plain")
    gw = ctx.gateway()
    resp = httputil.get(gw.url + "/fractal/" + name)
    _assert_served(resp, data, _swift_head(ctx, name), "text/plain")


def test_uppercase_uuid(ctx):
    """The uuid is matched case-insensitively and used as the object name."""
    data = fractal.julia(64, 64)
    name, _ = fixtures.upload(ctx.saio, data, name=fixtures.new_uuid().upper())
    gw = ctx.gateway()
    resp = httputil.get(gw.url + "/fractal/" + name)
    _assert_served(resp, data, _swift_head(ctx, name), "image/png")


def test_missing_object_is_404(ctx):
    gw = ctx.gateway()
    name = fixtures.new_uuid()
    for method in ("GET", "HEAD"):
        resp = httputil.request(method, gw.url + "/fractal/" + name)
        assert resp.status == 404, (method, resp)


def test_bad_paths_never_reach_swift(ctx):
    data = fractal.julia(32, 32)
    name, _ = fixtures.upload(ctx.saio, data)
    gw = ctx.gateway()
    bad = ["/fractal/abc", "/fractal/../x", "/fractal/%2e%2e%2fx",
           "/fractal/%2e%2e/x", "/fractal/" + name + "/extra",
           "/fractal/" + name + "/", "/fractal/" + name + "%2fextra",
           "/fractal/" + name + "x", "/fractal/" + name[:-1],
           "/fractal/" + name.replace("-", ""),
           "/fractal/" + "g" + name[1:], "/fractal/", "/fractal",
           "/fractals/" + name, "/other", "/"]
    before = ctx.saio.proxy_log_count(r"\S+", r"/v1/\S*")
    for path in bad:
        for method in ("GET", "HEAD"):
            resp = httputil.request(method, gw.url + path)
            assert resp.status in (400, 404), (method, path, resp)
    after = ctx.saio.proxy_log_count(r"\S+", r"/v1/\S*")
    assert after == before, "%d Swift requests for bad paths" % (
        after - before)


def test_large_object_streamed(ctx):
    data = fixtures.random_bytes(16 << 20, seed=16)
    name, _ = fixtures.upload(ctx.saio, data, "application/octet-stream")
    gw = ctx.gateway()
    host, port, _ = httputil.split_url(gw.url)
    conn = http.client.HTTPConnection(host, port, timeout=60)
    try:
        conn.request("GET", "/fractal/" + name)
        resp = conn.getresponse()
        assert resp.status == 200, resp.status
        assert resp.getheader("Content-Length") == str(len(data))
        md5 = hashlib.md5()
        total = 0
        for _ in range(len(data) // 65536 + 2):
            chunk = resp.read(65536)
            if not chunk:
                break
            md5.update(chunk)
            total += len(chunk)
    finally:
        conn.close()
    assert total == len(data), total
    assert md5.hexdigest() == fixtures.md5_hex(data)


def test_wrong_key_is_502(ctx):
    name, _ = fixtures.upload(ctx.saio, fractal.julia(32, 32))
    gw = ctx.gateway(swift={"key": "wrong"})
    resp = httputil.get(gw.url + "/fractal/" + name)
    assert resp.status == 502, resp


def test_env_key_overrides_file(ctx):
    data = fractal.julia(48, 48)
    name, _ = fixtures.upload(ctx.saio, data)
    good = ctx.gateway(swift={"key": "wrong"},
                       env={"SWIFTGATE_SWIFT_KEY": "testing"})
    resp = httputil.get(good.url + "/fractal/" + name)
    _assert_served(resp, data, _swift_head(ctx, name), "image/png")
    bad = ctx.gateway(env={"SWIFTGATE_SWIFT_KEY": "wrong"})
    resp = httputil.get(bad.url + "/fractal/" + name)
    assert resp.status == 502, resp


def test_sigterm_with_idle_keepalive_client(ctx):
    """SIGTERM exits 0 (checked by ctx) even with an idle client open."""
    data = fractal.julia(32, 32)
    name, _ = fixtures.upload(ctx.saio, data)
    gw = ctx.gateway()
    host, port, _ = httputil.split_url(gw.url)
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request("GET", "/fractal/" + name)
        resp = conn.getresponse()
        assert resp.read() == data
        gw.stop()
    finally:
        conn.close()
    assert gw.returncode == 0, gw.returncode
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError:
        return
    raise AssertionError("still accepting connections after exit")


def test_libcloud_upload_served(ctx):
    """Objects uploaded the First App way (libcloud, TempAuth v1.0)."""
    from libcloud.storage.providers import get_driver
    from libcloud.storage.types import ObjectHashMismatchError, Provider

    storage_url, _ = ctx.saio.auth()
    driver = get_driver(Provider.OPENSTACK_SWIFT)(
        "test:tester", "testing", ex_force_auth_version="1.0",
        ex_force_auth_url=ctx.saio.auth_url, ex_force_base_url=storage_url)
    container = driver.get_container("fractals")
    data = fractal.mandelbrot(200, 150)
    path = os.path.join(ctx.tmpdir, "fractal")    # no extension to guess
    with open(path, "wb") as f:
        f.write(data)

    by_file = fixtures.new_uuid()
    driver.upload_object(path, container, by_file)
    by_stream = fixtures.new_uuid()
    chunks = (data[i:i + 4096] for i in range(0, len(data), 4096))
    try:   # the tutorial streams a generator; libcloud 3.4.1 then
        driver.upload_object_via_stream(chunks, container, by_stream)
    except ObjectHashMismatchError:   # wrongly reports a mismatch
        pass

    gw = ctx.gateway()
    for name in (by_file, by_stream):
        swift = _swift_head(ctx, name)
        assert swift["Content-Type"] == "application/octet-stream", swift
        assert swift["Etag"] == fixtures.md5_hex(data), swift
        resp = httputil.get(gw.url + "/fractal/" + name)
        _assert_served(resp, data, swift, "image/png")
