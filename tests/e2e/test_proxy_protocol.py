"""[server] proxy_protocol: the public listener reads HAProxy's PROXY header
(v1, v2 or either) before any HTTP.  Through the real HAProxy with
`send-proxy` and `send-proxy-v2`, an object is served and the access log
names the client HAProxy saw (127.0.0.3), not HAProxy's own source
(127.0.0.2), and HAProxy's health checks, which send the header too, find
/healthz healthy.  A connection without the header, with a bad or
truncated one, with a version not accepted, or with one that stalls past
header_timeout is closed with no answer at all and counted as
bad_proxy_header.  The admin listener speaks plain HTTP as ever."""

import os
import re
import signal
import socket
import struct
import time

import fixtures
import gateway
import httputil
import procs
from rawhttp import Raw, req_bytes
from waits import wait_until

HAPROXY = "/usr/sbin/haproxy"
CLIENT_ADDR = "127.0.0.3"     # where the test's clients connect from
HAPROXY_SOURCE = "127.0.0.2"  # where HAProxy connects to the gateway from

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"

_HAPROXY_CFG = """\
global
    log stdout format raw local0
defaults
    mode http
    log global
    option httplog
    timeout connect 2s
    timeout client 10s
    timeout server 10s
    timeout check 1s
frontend web
    bind 127.0.0.1:{port}
    default_backend gw
backend gw
    option httpchk GET /healthz
    http-check expect status 200
    server g1 {gateway} source {source} {send} check check-send-proxy inter 300ms rise 1 fall 1
frontend stats
    bind 127.0.0.1:{stats}
    stats enable
    stats uri /stats
"""


class HAProxy:
    """HAProxy in front of one gateway, sending it `send` (send-proxy or
    send-proxy-v2) on every connection, health checks included."""

    def __init__(self, ctx, gw, send):
        self.port = httputil.free_port()
        self.stats_port = httputil.free_port()
        cfg = os.path.join(ctx.tmpdir, "haproxy-%s.cfg" % send)
        with open(cfg, "w") as f:
            f.write(_HAPROXY_CFG.format(port=self.port, stats=self.stats_port, send=send,
                                        gateway=gw.url[len("http://"):],
                                        source=HAPROXY_SOURCE))
        err = os.path.join(ctx.tmpdir, "haproxy-%s.err" % send)
        self.proc = procs.spawn([HAPROXY, "-db", "-f", cfg], err,
                                stdout_path=os.path.join(ctx.tmpdir, "haproxy-%s.log" % send))
        self.url = "http://127.0.0.1:%d" % self.port
        try:
            wait_until(lambda: self.proc.poll() is not None or self.state() == "UP", 10.0,
                       lambda: "HAProxy to find the gateway UP (%r)" % self.state())
        except AssertionError:
            self.stop()
            raise
        assert self.proc.poll() is None, open(err).read()

    def state(self):
        """The gateway's status in HAProxy's /stats;csv ("UP", "DOWN", ...)."""
        try:
            r = httputil.get("http://127.0.0.1:%d/stats;csv" % self.stats_port, timeout=2)
        except OSError:
            return None
        rows = [line.split(",") for line in r.body.decode().lstrip("# ").splitlines()]
        col = rows[0].index("status")
        return next((row[col] for row in rows[1:] if row[:2] == ["gw", "g1"]), None)

    def stop(self):
        procs.stop(self.proc, grace=10.0)


def _get_from_client_addr(url, path):
    """GET url+path from CLIENT_ADDR: (status, body)."""
    with Raw(url, source=CLIENT_ADDR) as r:
        resp = r.request("GET", path, {"Connection": "close"})
    return resp.status, resp.body


def _log_clients(gw, path):
    """The client of each access log line for path, in order."""
    out = []
    for line in gw.access_log_lines():
        m = re.match(r'(\S+) \S+ "GET (\S+) ', line)
        if m and m.group(2) == path:
            out.append(m.group(1))
    return out


def _through_haproxy(ctx, mode, sends):
    """A gateway with proxy_protocol = mode behind HAProxy with each of
    sends in turn: an object and /healthz through it, from CLIENT_ADDR."""
    data = fixtures.random_bytes(30000, seed=41)
    name, _ = fixtures.upload(ctx.saio, data)
    gw = ctx.gateway(server={"proxy_protocol": mode})
    for i, send in enumerate(sends):
        hap = HAProxy(ctx, gw, send)
        try:
            status, body = _get_from_client_addr(hap.url, "/fractal/" + name)
            assert status == 200 and body == data, (send, status, len(body))
            status, _ = _get_from_client_addr(hap.url, "/healthz")
            assert status == 200, (send, status)
        finally:
            hap.stop()
        # The client HAProxy accepted, not HAProxy's own address.
        assert wait_until(lambda: len(_log_clients(gw, "/fractal/" + name)) == i + 1, 5.0)
        assert _log_clients(gw, "/fractal/" + name)[-1] == CLIENT_ADDR, gw.access_log_lines()
    # HAProxy's checks got their 200s (it found the gateway UP), from its own address.
    checks = [c for c in _log_clients(gw, "/healthz") if c != CLIENT_ADDR]
    assert checks and set(checks) == {HAPROXY_SOURCE}, gw.access_log_lines()
    assert gw.error_count("bad_proxy_header") == 0
    # The admin listener never expects a header.
    r = httputil.get(gw.admin_url + "/metrics", timeout=5)
    assert r.status == 200


def test_haproxy_send_proxy_v1(ctx):
    _through_haproxy(ctx, "v1", ["send-proxy"])


def test_haproxy_send_proxy_v2(ctx):
    _through_haproxy(ctx, "v2", ["send-proxy-v2"])


def test_haproxy_either_version_with_both(ctx):
    _through_haproxy(ctx, "both", ["send-proxy", "send-proxy-v2"])


# -- raw clients ---------------------------------------------------------------

def _v1(src, dst="127.0.0.1", sport=40000, dport=80):
    family = "TCP6" if ":" in src else "TCP4"
    return ("PROXY %s %s %s %d %d\r\n" % (family, src, dst, sport, dport)).encode()


def _v2_tcp4(src, dst="127.0.0.1", sport=40000, dport=80, tlvs=b""):
    block = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
    block += tlvs
    return V2_SIG + bytes([0x21, 0x11]) + struct.pack("!H", len(block)) + block


def _v2_local():
    return V2_SIG + bytes([0x20, 0x00, 0x00, 0x00])


def _refused(gw, data, shut=False, timeout=5.0):
    """Send data to gw's public listener: True when it closes without
    answering a byte (shut: our write side is closed after data)."""
    with Raw(gw.url) as c:
        if data:
            c.send(data)
        if shut:
            c.sock.shutdown(socket.SHUT_WR)
        return c.closed(timeout) and c.buf == b""


def test_header_then_http_in_one_packet(ctx):
    """The header and the request in one send: the request is answered,
    the next one on the connection too, each logged with the header's
    client; TLVs are skipped; v2 LOCAL keeps the socket's own peer."""
    gw = ctx.gateway(server={"proxy_protocol": "both"})
    get = req_bytes("GET", "/healthz")
    tlvs = b"\x01\x00\x08http/1.1" + b"\x04\x00\x03abc"
    for header, client in ((_v1("192.0.2.7"), "192.0.2.7"),
                           (_v1("2001:db8::9", "::1"), "2001:db8::9"),
                           (_v2_tcp4("198.51.100.4", tlvs=tlvs), "198.51.100.4"),
                           (_v2_local(), "127.0.0.1")):
        with Raw(gw.url) as c:
            c.send(header + get)
            assert c.read_response().status == 200, header
            assert c.request("GET", "/healthz").status == 200, header
        assert wait_until(lambda: _log_clients(gw, "/healthz")[-2:] == [client, client], 5.0), \
            (client, gw.access_log_lines())
    # Byte by byte: the header arrives in pieces, the request after it.
    with Raw(gw.url) as c:
        for i in range(0, len(_v1("192.0.2.8"))):
            c.send(_v1("192.0.2.8")[i:i + 1])
            time.sleep(0.005)
        assert c.request("GET", "/healthz").status == 200
    assert wait_until(lambda: _log_clients(gw, "/healthz")[-1:] == ["192.0.2.8"], 5.0)
    assert gw.error_count("bad_proxy_header") == 0


def test_missing_or_bad_header_is_closed_without_answer(ctx):
    gw = ctx.gateway(server={"proxy_protocol": "both"})
    get = req_bytes("GET", "/healthz")
    cases = [
        ("plain HTTP", get, False),
        ("a bad v1 line", b"PROXY TCP4 192.0.2.7 127.0.0.1 99999 80\r\n" + get, False),
        ("an over-long v1 line", b"PROXY UNKNOWN " + b"x" * 120 + b"\r\n" + get, False),
        ("a v1 line cut short", b"PROXY TCP4 192.0.2.7 127.0", True),
        ("a truncated v2 header", _v2_tcp4("192.0.2.7")[:20], True),
        ("a v2 header with a TLV past its end",
         V2_SIG + b"\x21\x11\x00\x0f" + _v2_tcp4("192.0.2.7")[16:] + b"\x01\x00\x05" + get,
         False),
        ("v2 signature, version 1", V2_SIG + b"\x11\x11\x00\x0c" + b"\x00" * 12 + get, False),
    ]
    for n, (what, data, shut) in enumerate(cases, 1):
        assert _refused(gw, data, shut), what
        wait_until(lambda: gw.error_count("bad_proxy_header") == n, 5.0,
                   "bad_proxy_header to count %s" % what)
    # An EOF before any byte is no header at all, and not counted.
    assert _refused(gw, b"", shut=True)
    time.sleep(0.2)
    assert gw.error_count("bad_proxy_header") == len(cases)
    assert "connection closed: no PROXY protocol header" in gw.stderr_text()
    # Nothing of it reached the HTTP side: no request was logged.
    assert _log_clients(gw, "/healthz") == [], gw.access_log_lines()
    # The admin listener is plain HTTP.
    assert httputil.get(gw.admin_url + "/metrics", timeout=5).status == 200


def test_each_version_alone_refuses_the_other(ctx):
    get = req_bytes("GET", "/healthz")
    v1 = ctx.gateway(server={"proxy_protocol": "v1"})
    assert _refused(v1, _v2_tcp4("192.0.2.7") + get)
    assert _refused(v1, _v2_local() + get)
    with Raw(v1.url) as c:
        c.send(_v1("192.0.2.7") + get)
        assert c.read_response().status == 200
    v2 = ctx.gateway(server={"proxy_protocol": "v2"})
    assert _refused(v2, _v1("192.0.2.7") + get)
    assert _refused(v2, b"PROXY UNKNOWN\r\n" + get)
    with Raw(v2.url) as c:
        c.send(_v2_tcp4("192.0.2.7") + get)
        assert c.read_response().status == 200
    wait_until(lambda: v1.error_count("bad_proxy_header") == 2, 5.0, "v1's two refusals")
    wait_until(lambda: v2.error_count("bad_proxy_header") == 2, 5.0, "v2's two refusals")
    assert "accepts version 1 only" in v1.stderr_text()
    assert "accepts version 2 only" in v2.stderr_text()


def test_stalled_header_is_closed_after_header_timeout(ctx):
    gw = ctx.gateway(server={"proxy_protocol": "v1", "header_timeout": "1s"})
    for data in (b"", b"PROXY TCP4 192.0.2.7 "):
        with Raw(gw.url) as c:
            c.send(data)
            t0 = time.monotonic()
            assert c.closed(6.0) and c.buf == b"", data
            took = time.monotonic() - t0
        assert 0.8 <= took <= 4.0, "closed after %.2f s" % took
    wait_until(lambda: gw.error_count("bad_proxy_header") == 2, 5.0, "two stalls counted")
    assert "no PROXY header within header_timeout" in gw.stderr_text()
    assert "PROXY header incomplete after header_timeout" in gw.stderr_text()


def test_header_client_and_trusted_proxies(ctx):
    """The header's client is the peer trusted_proxies judges: trusted,
    its X-Forwarded-For names the client; not, the header's address is."""
    gw = ctx.gateway(server={"proxy_protocol": "v1", "trusted_proxies": "192.0.2.0/24"})
    xff = req_bytes("GET", "/healthz", {"X-Forwarded-For": "203.0.113.5"})
    for src, client in (("192.0.2.7", "203.0.113.5"), ("198.51.100.4", "198.51.100.4")):
        with Raw(gw.url) as c:
            c.send(_v1(src) + xff)
            assert c.read_response().status == 200
        assert wait_until(lambda: _log_clients(gw, "/healthz")[-1:] == [client], 5.0), \
            (src, gw.access_log_lines())


def test_healthcheck_command_sends_a_v1_header(ctx):
    """`swiftgate healthcheck -c FILE` sends a version 1 header when FILE's
    listener expects one, and says why it cannot when v2 alone is taken."""
    gw = ctx.gateway(server={"proxy_protocol": "both"})
    port = gw.url.rsplit(":", 1)[1]
    for mode, want_rc in (("both", 0), ("v1", 0), ("v2", 2), ("off", 1)):
        conf = os.path.join(ctx.tmpdir, "hc-%s.conf" % mode)
        with open(conf, "w") as f:
            f.write(gw.conf_text.replace("listen = 127.0.0.1:0", "listen = 127.0.0.1:" + port, 1)
                    .replace("proxy_protocol = both", "proxy_protocol = " + mode, 1))
        rc, out, err = gateway.run(ctx.bin, ["healthcheck", "-t", "3s", "-c", conf], timeout=20)
        assert rc == want_rc, (mode, rc, out, err)
        if mode == "v2":
            assert "proxy_protocol = v2" in err, err
    # "off" spoke plain HTTP to a listener that wants a header: refused.
    wait_until(lambda: gw.error_count("bad_proxy_header") == 1, 5.0, "the plain probe counted")
    assert _log_clients(gw, "/healthz") == ["127.0.0.1", "127.0.0.1"], gw.access_log_lines()


def test_drain_closes_connections_waiting_for_a_header(ctx):
    """SIGTERM: a connection still waiting for its header is closed with
    the listeners, and the gateway exits at once, not after header_timeout."""
    gw = ctx.gateway(server={"proxy_protocol": "v1", "header_timeout": "60s"})
    with Raw(gw.url) as stalled, Raw(gw.url) as empty:
        stalled.send(b"PROXY TCP4 192.0.2.7 ")
        time.sleep(0.2)  # both are accepted and waiting
        t0 = time.monotonic()
        gw.proc.send_signal(signal.SIGTERM)
        assert stalled.closed(10.0) and stalled.buf == b""
        assert empty.closed(10.0) and empty.buf == b""
        assert gw.proc.wait(timeout=10) == 0
        took = time.monotonic() - t0
    assert took < 5.0, "exit took %.1f s" % took
    gw.stop()  # checks the exit was clean
