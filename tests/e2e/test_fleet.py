"""Two gateways behind a real HAProxy, as operators run them: consistent
hashing on the URI sends each object to one gateway, warming through the
balancer lands each object where it will be asked for, and a gateway that
drains is taken out by HAProxy's health check without a failed request."""

import os
import signal
import subprocess
import threading
import time

import fixtures
import httputil
import procs
from waits import wait_until

HAPROXY = "/usr/sbin/haproxy"


def _haproxy(ctx, backends):
    """Start HAProxy on a free port in front of backends [(name, url)]."""
    port = httputil.free_port()
    lines = [
        "global", "    maxconn 1000",
        "defaults", "    mode http", "    timeout connect 2s", "    timeout client 30s",
        "    timeout server 30s", "    option http-keep-alive",
        "frontend fractals", "    bind 127.0.0.1:%d" % port, "    default_backend gateways",
        "backend gateways", "    balance uri", "    hash-type consistent",
        "    option httpchk GET /healthz", "    http-check expect status 200",
        "    default-server inter 200ms fall 1 rise 2",
    ]
    for name, url in backends:
        lines.append("    server %s %s check" % (name, url[len("http://"):]))
    cfg = os.path.join(ctx.tmpdir, "haproxy.cfg")
    with open(cfg, "w") as f:
        f.write("\n".join(lines) + "\n")
    log = open(os.path.join(ctx.tmpdir, "haproxy.log"), "wb")
    proc = subprocess.Popen([HAPROXY, "-db", "-f", cfg], stdout=log, stderr=log)
    url = "http://127.0.0.1:%d" % port

    def up():
        try:
            return httputil.get(url + "/healthz", timeout=2).status == 200
        except OSError:
            return False
    if not wait_until(up, 10.0, step=0.1):
        proc.kill()
        raise AssertionError("haproxy did not come up")
    time.sleep(0.6)  # both servers seen up by the checks (rise 2)
    return proc, url


def _stop(proc):
    proc.send_signal(signal.SIGUSR1)  # soft stop
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def _worker_requests(gw):
    return sum(int(v) for k, v in gw.metrics().items()
               if k.startswith("swiftgate_worker_requests_total{"))


def _objects(ctx, n, seed):
    objs = []
    for i in range(n):
        data = fixtures.random_bytes(20000 + i, seed=seed + i)
        name, _ = fixtures.upload(ctx.saio, data, "image/png")
        objs.append((name, data))
    return objs


def test_uri_hashing_sends_each_object_to_one_gateway(ctx):
    a = ctx.gateway()
    b = ctx.gateway()
    proc, url = _haproxy(ctx, [("a", a.url), ("b", b.url)])
    try:
        objs = _objects(ctx, 30, 300)
        for name, data in objs:
            r = httputil.get(url + "/fractal/" + name)
            assert r.status == 200 and r.body == data, r.status
            assert r.headers.get("X-Cache") == "MISS", r.headers
        for name, data in objs:
            r = httputil.get(url + "/fractal/" + name)
            assert r.body == data and r.headers.get("X-Cache") == "HIT", r.headers
        for i, (name, _) in enumerate(objs):
            n = ctx.saio.proxy_log_count("GET", "/v1/AUTH_test/fractals/" + name,
                                         settle=0.3 if i == 0 else 0.0)
            assert n == 1, "%s fetched %d times from Swift" % (name, n)
        ra, rb = _worker_requests(a), _worker_requests(b)
        assert ra > 0 and rb > 0, (ra, rb)
        print("requests: gateway a %d, gateway b %d" % (ra, rb))
    finally:
        _stop(proc)


def test_warm_through_the_balancer_lands_where_asked(ctx):
    a = ctx.gateway()
    b = ctx.gateway()
    proc, url = _haproxy(ctx, [("a", a.url), ("b", b.url)])
    try:
        objs = _objects(ctx, 20, 400)
        for name, _ in objs:
            r = httputil.get(url + "/fractal/" + name, {"X-Swiftgate-Warm": "1"})
            assert r.status == 204 and r.body == b"", (r.status, r.body[:100])
            assert r.headers.get("X-Cache") == "MISS", r.headers
        for name, data in objs:
            r = httputil.get(url + "/fractal/" + name)
            assert r.body == data and r.headers.get("X-Cache") == "HIT", r.headers
    finally:
        _stop(proc)


def test_draining_gateway_leaves_the_fleet_without_errors(ctx):
    """SIGTERM to one gateway with drain_delay: /healthz turns 503 while it
    still serves, HAProxy's check takes it out, its objects move to the
    other gateway; no client request fails meanwhile."""
    a = ctx.gateway(server={"drain_delay": "1s", "shutdown_grace": "5s"})
    b = ctx.gateway()
    proc, url = _haproxy(ctx, [("a", a.url), ("b", b.url)])
    try:
        objs = _objects(ctx, 20, 500)
        for name, _ in objs:
            assert httputil.get(url + "/fractal/" + name).status == 200
        statuses = []
        stop = threading.Event()

        def load():
            i = 0
            while not stop.is_set() and len(statuses) < 2000:
                name, data = objs[i % len(objs)]
                try:
                    r = httputil.get(url + "/fractal/" + name, timeout=10)
                    statuses.append(r.status if r.body == data else -1)
                except OSError as e:
                    statuses.append(str(e))
                i += 1

        t = threading.Thread(target=load)
        t.start()
        time.sleep(0.3)
        a.proc.send_signal(signal.SIGTERM)
        rc = a.proc.wait(15)
        time.sleep(0.5)
        stop.set()
        t.join(15)
        assert rc == 0, rc
        bad = [s for s in statuses if s != 200]
        assert statuses and not bad, "%d of %d requests failed: %r" % (
            len(bad), len(statuses), bad[:5])
        print("%d requests while gateway a drained, none failed" % len(statuses))
        # Every object is served by b now.
        for name, data in objs:
            r = httputil.get(url + "/fractal/" + name)
            assert r.status == 200 and r.body == data
    finally:
        _stop(proc)
