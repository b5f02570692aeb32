"""Reload: SIGHUP reads the config file again.  Keys that can change take
effect for new requests, keys that need a restart are reported and kept, a
bad file changes nothing and is reported with file:line, no connection is
dropped, and the access log is still reopened.

Each reload is waited for through its log line ("reloaded; N keys changed
..."), which the gateway prints once every worker runs on the new
configuration, or through the reload counters of /metrics.
"""

import hashlib
import json
import os
import re
import signal
import socket
import threading
import time

import fixtures
import fractal
import gateway
import httputil
from rawhttp import Raw
from waits import wait_until

OK = 'swiftgate_config_reloads_total{result="ok"}'
FAILED = 'swiftgate_config_reloads_total{result="failed"}'
LAST_OK = "swiftgate_config_last_reload_successful"
LAST_OK_TS = "swiftgate_config_last_reload_success_timestamp_seconds"
DEFAULT_CC = "public, max-age=31536000, immutable"


def _conf(gw, **sections):
    """gw's config file rewritten: its defaults with sections laid over."""
    text = gateway.render_conf(gateway.merge_conf(
        gateway.default_conf(gw.dir, gw.auth_url), sections))
    with open(gw.conf_path, "w") as f:
        f.write(text)
    gw.conf_text = text
    return text


def _reloaded(gw, before, what="a reload"):
    """SIGHUP, then wait until the Nth "reloaded" line (N = before + 1)."""
    os.kill(gw.proc.pid, signal.SIGHUP)
    wait_until(lambda: gw.stderr_text().count(": reloaded; ") > before, 10,
               lambda: "%s\n%s" % (what, gateway.tail(gw.stderr_text())))
    return before + 1


def _refused(gw, before):
    """SIGHUP with a file that must be refused: wait for the failed count."""
    os.kill(gw.proc.pid, signal.SIGHUP)
    wait_until(lambda: gw.metrics().get(FAILED, 0) > before, 10,
               lambda: "a refused reload\n" + gateway.tail(gw.stderr_text()))
    return before + 1


def _gateway(ctx, **sections):
    gw = ctx.gateway(**sections)
    gw.auth_url = ctx.saio.auth_url
    return gw


def _get(url, path, headers=None):
    with Raw(url) as c:
        return c.request("GET", path, headers or {})


def test_live_keys_take_effect_for_new_requests(ctx):
    png = fractal.julia(64, 64)
    name, _ = fixtures.upload(ctx.saio, png)
    path = "/fractal/" + name
    base = {"server": {"workers": "2"}}
    gw = _gateway(ctx, **base)
    m = gw.metrics()
    assert m[OK] == 0 and m[FAILED] == 0 and m[LAST_OK] == 1, m
    started_ts = m[LAST_OK_TS]
    assert abs(started_ts - time.time()) < 60, m
    r = _get(gw.url, path, {"Origin": "https://app.example"})
    assert r.status == 200 and r.body == png and r.get("X-Cache") == "MISS", r
    assert r.get("Cache-Control") == DEFAULT_CC, r
    assert r.get("Access-Control-Allow-Origin") is None, r
    keep = Raw(gw.url)
    r = keep.request("GET", path)
    assert r.get("X-Cache") == "HIT" and r.get("Cache-Control") == DEFAULT_CC, r

    time.sleep(1.1)  # the timestamp must move
    conf = {"server": {"workers": "2", "access_log_format": "json"},
            "cache": {"cache_control": "public, max-age=60"},
            "cors": {"allow_origin": "https://app.example"}}
    _conf(gw, **conf)
    n = _reloaded(gw, 0)
    err = gw.stderr_text()
    assert "reloaded; 3 keys changed for new requests: [server] access_log_format, " \
           "[cache] cache_control, [cors] allow_origin" in err, err
    assert "[cache] cache_control: %s -> public, max-age=60" % DEFAULT_CC in err, err

    # A cached blob's head is built anew: Cache-Control is the new one.
    r = _get(gw.url, path, {"Origin": "https://app.example"})
    assert r.status == 200 and r.body == png and r.get("X-Cache") == "HIT", r
    assert r.get("Cache-Control") == "public, max-age=60", r
    assert r.get("Access-Control-Allow-Origin") == "https://app.example", r
    assert r.get("Vary") == "Origin", r
    # The connection kept alive across the reload was not dropped, and its
    # next request is a new one.
    r = keep.request("GET", path)
    assert r.status == 200 and r.body == png, r
    assert r.get("Cache-Control") == "public, max-age=60", r
    keep.close()
    m = gw.metrics()
    assert m[OK] == 1 and m[FAILED] == 0 and m[LAST_OK] == 1, m
    assert m[LAST_OK_TS] > started_ts, m

    # ttl 1s, and log_level warning: the notes of this reload are still
    # written (at info, before it takes), the next reload's are not.
    conf["server"]["log_level"] = "warning"
    conf["cache"]["ttl"] = "1s"
    _conf(gw, **conf)
    n = _reloaded(gw, n)
    err = gw.stderr_text()
    assert "[server] log_level: info -> warning" in err, err
    assert "[cache] ttl: 1h -> 1s" in err, err
    # The entry is older than 1s now: revalidated with Swift.
    r = _get(gw.url, path)
    assert r.status == 200 and r.body == png and r.get("X-Cache") == "REVALIDATED", r
    # The access log's new lines are JSON.
    wait_until(lambda: gw.access_log_lines() and
               gw.access_log_lines()[-1].startswith("{"), 3, "a JSON line")
    last = json.loads(gw.access_log_lines()[-1])
    assert last["path"] == path and last["cache"] == "REVALIDATED", last

    conf["cache"]["cache_control"] = "no-cache"
    _conf(gw, **conf)
    n = _reloaded(gw, n)
    err = gw.stderr_text()
    assert "changed for new requests: [cache] cache_control" in err, err
    assert "[cache] cache_control: public, max-age=60 -> no-cache" not in err, err
    assert "access log reopened" in err  # the first reload's, at info
    assert err.count("access log reopened") == 2, err
    r = _get(gw.url, path)
    assert r.get("Cache-Control") == "no-cache", r


def test_restart_keys_are_reported_and_kept(ctx):
    name, _ = fixtures.upload(ctx.saio, fractal.julia(32, 32))
    gw = _gateway(ctx)
    port = httputil.free_port()
    other_cache = os.path.join(gw.dir, "elsewhere")
    _conf(gw, server={"listen": "127.0.0.1:%d" % port, "workers": "3"},
          cache={"dir": other_cache, "negative_ttl": "3s"})
    _reloaded(gw, 0)
    err = gw.stderr_text()
    assert re.search(r"\[server\] listen = 127\.0\.0\.1:%d needs a restart; "
                     r"keeping 127\.0\.0\.1:0" % port, err), err
    assert "[server] workers = 3 needs a restart; keeping 1" in err, err
    assert "[cache] dir = %s needs a restart; keeping " % other_cache in err, err
    assert "1 key changed for new requests: [cache] negative_ttl" in err, err
    # Still serving where it was, with its cache where it was.
    r = httputil.get(gw.url + "/fractal/" + name)
    assert r.status == 200, r
    assert not os.path.exists(other_cache)
    with socket.socket() as s:
        s.settimeout(2)
        assert s.connect_ex(("127.0.0.1", port)) != 0
    # check-config agrees the file is fine: a restart would take it.
    rc, _, _ = gateway.check_config(ctx.bin, gw.conf_path)
    assert rc == 0


def test_bad_file_changes_nothing(ctx):
    png = fractal.mandelbrot(40, 40)
    name, _ = fixtures.upload(ctx.saio, png)
    path = "/fractal/" + name
    gw = _gateway(ctx)
    assert _get(gw.url, path).get("Cache-Control") == DEFAULT_CC
    ts = gw.metrics()[LAST_OK_TS]

    # A syntax error, after a good change: the good one is not taken either.
    text = _conf(gw, cache={"cache_control": "no-store"})
    with open(gw.conf_path, "w") as f:
        f.write(text + "this line is no key\n")
    line = len(text.splitlines()) + 1
    n = _refused(gw, 0)
    err = gw.stderr_text()
    assert "%s:%d: syntax error" % (gw.conf_path, line) in err, err
    assert "configuration not reloaded, nothing changed" in err, err
    assert _get(gw.url, path).get("Cache-Control") == DEFAULT_CC

    # A bad value names file, line and key.
    text = _conf(gw, cache={"cache_control": "no-store", "ttl": "soon"})
    line = 1 + text.splitlines().index("ttl = soon")
    n = _refused(gw, n)
    err = gw.stderr_text()
    assert "%s:%d: ttl: " % (gw.conf_path, line) in err, err
    # A bad value of a key that needs a restart refuses the file too.
    _conf(gw, server={"workers": "lots"}, cache={"cache_control": "no-store"})
    n = _refused(gw, n)
    r = _get(gw.url, path)
    assert r.status == 200 and r.body == png and r.get("Cache-Control") == DEFAULT_CC, r
    m = gw.metrics()
    assert m[FAILED] == 3 and m[OK] == 0 and m[LAST_OK] == 0, m
    assert m[LAST_OK_TS] == ts, m

    # Fixed: it takes.
    _conf(gw, cache={"cache_control": "no-store"})
    _reloaded(gw, 0)
    assert _get(gw.url, path).get("Cache-Control") == "no-store"
    m = gw.metrics()
    assert m[OK] == 1 and m[FAILED] == 3 and m[LAST_OK] == 1, m


def test_new_credentials_are_used_by_the_next_miss(ctx):
    gw = _gateway(ctx)
    a, _ = fixtures.upload(ctx.saio, fractal.julia(24, 24))
    assert httputil.get(gw.url + "/fractal/" + a).status == 200
    _conf(gw, swift={"key": "wrong"})
    n = _reloaded(gw, 0)
    assert "[swift] key: (set) -> (set)" in gw.stderr_text()
    # A hit needs no Swift; a miss asks for a token with the wrong key.
    assert httputil.get(gw.url + "/fractal/" + a).status == 200
    b, _ = fixtures.upload(ctx.saio, fractal.julia(25, 25))
    r = httputil.get(gw.url + "/fractal/" + b)
    assert r.status >= 500, r
    assert "refused for user test:tester" in gw.stderr_text()
    _conf(gw, swift={"key": "testing"})
    _reloaded(gw, n)
    r = httputil.get(gw.url + "/fractal/" + b)
    assert r.status == 200 and r.headers.get("X-Cache") == "MISS", r


def _slow_download(url, path, rcvbuf):
    """A GET sent on a connection with a small receive buffer: nothing is
    read until the caller reads it."""
    c = Raw(url, timeout=60, rcvbuf=rcvbuf)
    c.send(b"GET %s HTTP/1.1\r\nHost: gw\r\n\r\n" % path.encode())
    return c


def test_connections_survive_reloads(ctx):
    """A large body read slowly while the config changes under it, and a
    kept-alive connection: both finish whole, nothing is dropped."""
    data = fixtures.random_bytes(24 << 20, seed=11)
    name, _ = fixtures.upload(ctx.saio, data, "application/octet-stream")
    path = "/fractal/" + name
    gw = _gateway(ctx, server={"workers": "2", "write_buffer": "64K"})
    assert httputil.get(gw.url + path).status == 200  # cached
    slow = _slow_download(gw.url, path, 16384)
    while b"\r\n\r\n" not in slow.buf:
        slow._fill(time.monotonic() + 10)
    head, body = slow.buf.split(b"\r\n\r\n", 1)
    assert b" 200 " in head.split(b"\r\n")[0], head
    digest = hashlib.md5(body)
    got = len(body)
    keep = Raw(gw.url)
    assert keep.request("GET", "/healthz").status == 200
    slow.sock.settimeout(30)
    n = 0
    for i in range(4):
        _conf(gw, server={"workers": "2", "write_buffer": "64K",
                          "send_timeout": "30s", "keepalive_timeout": "60s"},
              cache={"cache_control": "max-age=%d" % (i + 1)})
        n = _reloaded(gw, n)
        chunk = slow.sock.recv(65536)
        assert chunk, "the slow download was cut at %d bytes" % got
        digest.update(chunk)
        got += len(chunk)
        r = keep.request("GET", "/healthz")
        assert r.status == 200, r
    assert got < len(data) // 2, got  # it really was in the middle
    slow.sock.settimeout(60)
    while got < len(data):
        chunk = slow.sock.recv(1 << 20)
        assert chunk, "cut at %d of %d bytes" % (got, len(data))
        digest.update(chunk)
        got += len(chunk)
    assert got == len(data) and digest.hexdigest() == fixtures.md5_hex(data)
    slow.close()
    r = keep.request("GET", path)
    assert r.status == 200 and r.body == data and r.get("Cache-Control") == "max-age=4", r
    keep.close()


def test_a_bigger_max_fetches_lets_waiters_go(ctx):
    """max_fetches 1, held by a passed-through Range whose client reads
    nothing; a second miss waits for the slot.  A reload to 2 lets it go at
    once, long before fetch_queue_timeout."""
    big = fixtures.random_bytes(16 << 20, seed=5)
    held, _ = fixtures.upload(ctx.saio, big, "application/octet-stream")
    small = fractal.julia(30, 30)
    waiting, _ = fixtures.upload(ctx.saio, small)
    swift = {"max_fetches": "1", "fetch_queue_timeout": "60s", "stall_timeout": "60s"}
    cache = {"range_passthrough": "1M", "range_fill": "no"}
    gw = _gateway(ctx, swift=swift, cache=cache)
    hold = Raw(gw.url, timeout=30, rcvbuf=4096)
    hold.send(b"GET /fractal/%s HTTP/1.1\r\nHost: gw\r\nRange: bytes=2097152-\r\n\r\n"
              % held.encode())
    wait_until(lambda: gw.metrics().get("swiftgate_swift_requests_in_flight") == 1, 10,
               "the held fetch")
    result = {}

    def miss():
        result["r"] = httputil.get(gw.url + "/fractal/" + waiting, timeout=30)
    t = threading.Thread(target=miss)
    t.start()
    wait_until(lambda: gw.metrics().get("swiftgate_swift_requests_queued") == 1, 10,
               "the second request to queue")
    time.sleep(0.5)
    assert "r" not in result, result
    _conf(gw, swift=dict(swift, max_fetches="2"), cache=cache)
    _reloaded(gw, 0)
    t.join(10)
    assert not t.is_alive(), "the waiter is still waiting after the reload"
    r = result["r"]
    assert r.status == 200 and r.body == small, r
    assert gw.metrics()["swiftgate_swift_requests_max"] == 2
    hold.close()


def test_many_reloads_under_requests(ctx):
    """20 reloads while clients loop over hits, 404s and ranges passed
    through to Swift: every answer whole and right, and (under the
    sanitizer build) no report when the old configurations are freed."""
    objs = []
    for i in range(6):
        data = fractal.julia(20 + i, 20 + i)
        name, _ = fixtures.upload(ctx.saio, data)
        objs.append((name, data))
    far = fixtures.random_bytes(256 << 10, seed=3)
    far_name, _ = fixtures.upload(ctx.saio, far, "application/octet-stream")
    cache = {"range_passthrough": "64K", "range_fill": "no"}
    gw = _gateway(ctx, server={"workers": "2"}, cache=cache)
    stop = threading.Event()
    errors, counts = [], {"n": 0}

    def client(seed):
        i = seed
        while not stop.is_set() and counts["n"] < 20000:
            i += 1
            try:
                if i % 5 == 0:
                    r = httputil.get(gw.url + "/fractal/" + fixtures.new_uuid(), timeout=10)
                    ok = r.status == 404
                elif i % 7 == 0:  # never cached: a request to Swift each time
                    r = httputil.get(gw.url + "/fractal/" + far_name, timeout=10,
                                     headers={"Range": "bytes=100000-100999"})
                    ok = r.status == 206 and r.body == far[100000:101000]
                else:
                    name, data = objs[i % len(objs)]
                    r = httputil.get(gw.url + "/fractal/" + name, timeout=10)
                    ok = r.status == 200 and r.body == data
                if not ok:
                    errors.append(r)
            except Exception as e:  # noqa: BLE001 - every failure is reported
                errors.append(e)
            counts["n"] += 1
    threads = [threading.Thread(target=client, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    n = 0
    try:
        for i in range(20):
            _conf(gw, server={"workers": "2", "log_level": ("info", "debug")[i % 2]},
                  cache=dict(cache, cache_control="max-age=%d" % i, ttl="%ds" % (1 + i % 3),
                             negative_ttl="%ds" % (1 + i % 2)),
                  swift={"max_fetches": str(8 + i)},
                  cors={"allow_origin": ("*", "")[i % 2]})
            n = _reloaded(gw, n)
            time.sleep(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert not errors, errors[:5]
    assert counts["n"] > 40, counts
    m = gw.metrics()
    assert m[OK] == 20 and m[FAILED] == 0, m
    passed = sum(v for k, v in m.items()
                 if k.startswith('swiftgate_requests_total{') and 'cache="PASS"' in k)
    assert passed > 0, "no range was passed through to Swift"
    r = httputil.get(gw.url + "/fractal/" + objs[0][0])
    assert r.headers.get("Cache-Control") == "max-age=19", r


def test_timeouts_and_trusted_proxies_take_effect(ctx):
    """header_timeout 30s -> 1s: a new connection that sends half a head
    gets its 408 after a second.  trusted_proxies "" -> 127.0.0.1: the
    access log's client comes from X-Forwarded-For from then on."""
    gw = _gateway(ctx)
    xff = {"X-Forwarded-For": "203.0.113.7"}
    assert _get(gw.url, "/healthz", xff).status == 200
    _conf(gw, server={"header_timeout": "1s", "trusted_proxies": "127.0.0.1"})
    _reloaded(gw, 0)
    with Raw(gw.url, timeout=10) as c:
        start = time.monotonic()
        c.send(b"GET /healthz HTTP/1.1\r\nHost: gw\r\n")
        r = c.read_response(timeout=8)
        took = time.monotonic() - start
    assert r.status == 408 and 0.8 < took < 5, (r, took)
    assert _get(gw.url, "/healthz", xff).status == 200
    wait_until(lambda: len(gw.access_log_lines()) >= 3, 3, "three access log lines")
    lines = gw.access_log_lines()
    assert lines[0].startswith("127.0.0.1 "), lines
    assert lines[-1].startswith("203.0.113.7 "), lines
