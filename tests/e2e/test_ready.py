"""Readiness: the gateway asks Swift for a token as it starts, without
waiting for it; /healthz is 503 with the reason until it has one and while
auth fails (unless it still holds a valid token), and 200 otherwise;
`check-config --connect` authenticates once and HEADs the container."""

import os
import signal
import socket
import time

import fixtures
import gateway
import httputil
import keystone
from waits import wait_until

AUTH_REFUSED = "swift auth: 401 Unauthorized from "
# The public listener's 503 body: the reason is for the admin listener only.
PUBLIC_REASON = "swift auth not ready"


def _healthz(url):
    """(status, reason, Retry-After) of GET url/healthz."""
    r = httputil.get(url + "/healthz", timeout=10)
    body = r.body.decode("utf-8", "replace").strip()
    return r.status, body.split(" ", 1)[1] if " " in body else body, \
        r.headers.get("Retry-After")


def _metric(gw, name):
    return gw.metrics().get(name)


def _auth_requests(gw):
    """Auth requests sent, whatever their result."""
    return sum(v for k, v in gw.metrics().items()
               if k.startswith("swiftgate_auth_requests_total{"))


def _object_fetches(gw):
    return sum(v for k, v in gw.metrics().items()
               if k.startswith('swiftgate_origin_requests_total{kind="object"'))


def test_good_credentials_ready_without_a_request(ctx):
    """A gateway with good credentials says 200 on /healthz, on both
    listeners, after its first token, and no client request asked for it."""
    gw = ctx.gateway(start=False)
    gw.start(wait_auth=False)
    wait_until(lambda: _healthz(gw.url)[0] == 200, 10,
               lambda: "/healthz 200, not %r" % (_healthz(gw.url),))
    assert _healthz(gw.admin_url)[0] == 200
    assert _metric(gw, "swiftgate_ready") == 1
    assert _auth_requests(gw) == 1
    assert _object_fetches(gw) == 0
    assert not any("/fractal/" in line for line in gw.access_log_lines())
    assert "authenticated as test:tester" in gw.stderr_text()


def test_wrong_credentials_stay_503_with_the_reason(ctx):
    """Wrong key: /healthz is 503 with Swift's refusal and a Retry-After on
    both listeners, never 200; misses are 502 as before; the gateway asks
    again with a growing delay, not in a tight loop."""
    gw = ctx.gateway(swift={"key": "wrong-" + os.urandom(4).hex()})
    statuses = set()
    for url in (gw.url, gw.admin_url) * 5:
        status, reason, retry = _healthz(url)
        statuses.add(status)
        assert status == 503, (status, reason)
        want = AUTH_REFUSED + ctx.saio.auth_url if url == gw.admin_url else PUBLIC_REASON
        assert reason == want, (url, reason)
        assert retry is not None and 1 <= int(retry) <= 30, retry
    r = httputil.get(gw.url + "/fractal/" + fixtures.new_uuid())
    assert r.status == 502, r
    assert _metric(gw, "swiftgate_ready") == 0
    rc, out, err = gateway.run(ctx.bin, ["healthcheck", gw.admin_url])
    assert rc == 1 and "HTTP 503: " + AUTH_REFUSED in err, (rc, out, err)
    rc, out, err = gateway.run(ctx.bin, ["healthcheck", gw.url])
    assert rc == 1 and "HTTP 503: " + PUBLIC_REASON in err, (rc, out, err)
    assert ctx.saio.auth_url not in err, err
    # Retries 1 s, then 2 s after a failure: within 2.5 s of the first
    # refusal, 2 or 3 requests of the keeper's and one of the miss's.
    first = _auth_requests(gw)
    time.sleep(2.5)
    n = _auth_requests(gw)
    assert 1 <= n - first <= 4, (first, n)
    for url in (gw.url, gw.admin_url):
        assert _healthz(url)[0] == 503


def test_auth_down_at_start_then_up(ctx):
    """Swift's proxy (its auth with it) is down when the gateway starts:
    /healthz says 503 with what curl saw; once the proxy is back the
    gateway turns 200 by itself, no client request needed, and serves."""
    name, _ = fixtures.upload(ctx.saio, fixtures.random_bytes(3000, seed=3),
                              "image/png")
    ctx.saio.stop_proxy()
    try:
        gw = ctx.gateway()
        status, reason, _ = _healthz(gw.admin_url)
        assert status == 503 and reason.startswith(
            "swift auth: %s: " % ctx.saio.auth_url), (status, reason)
        assert "onnect" in reason, reason
        assert _healthz(gw.url)[:2] == (503, PUBLIC_REASON), _healthz(gw.url)
    finally:
        ctx.saio.start_proxy()
    wait_until(lambda: _healthz(gw.url)[0] == 200, 40,
               lambda: "/healthz 200, not %r" % (_healthz(gw.url),))
    assert _object_fetches(gw) == 0
    assert httputil.get(gw.url + "/fractal/" + name).status == 200


def test_failed_refresh_with_a_valid_token_stays_ready(ctx):
    """Keystone goes down while the gateway holds a token: the background
    refresh near its end fails, and /healthz stays 200 while that token
    lives; once it has expired, 503 with Keystone's answer; when Keystone is
    back, 200 again without any client request."""
    with keystone.Keystone(ctx.saio, token_life=12) as ks:
        gw = ctx.gateway(swift={"auth_version": "3", "auth_url": ks.auth_url,
                                "user": keystone.USER, "key": keystone.PASSWORD,
                                "project": keystone.PROJECT,
                                "interface": "internal", "region": "r2"},
                         cache={"dir": ""})
        assert _healthz(gw.url)[0] == 200
        ks.down = True
        # A miss in the token's last 1.1 s starts a refresh, which fails.
        wait_until(lambda: httputil.get(gw.url + "/fractal/" + fixtures.new_uuid())
                   and ks.refused >= 1, 15, "a refresh refused by Keystone",
                   step=0.1)
        assert _healthz(gw.url)[0] == 200, _healthz(gw.url)
        wait_until(lambda: _healthz(gw.url)[0] == 503, 3,
                   "/healthz 503 once the token expired")
        assert _healthz(gw.admin_url)[1] == ("swift auth: 503 Service Unavailable from "
                                             + ks.auth_url)
        assert _healthz(gw.url)[1] == PUBLIC_REASON
        ks.down = False
        before = len(gw.access_log_lines())
        wait_until(lambda: _healthz(gw.url)[0] == 200, 35, "/healthz 200 again")
        assert not any("/fractal/" in line
                       for line in gw.access_log_lines()[before:])


def test_reload_to_other_credentials(ctx):
    """A reload (SIGHUP) that changes the key: the gateway asks for a token
    with it at once, and /healthz follows without any client request: 503
    with Swift's refusal for a wrong key, 200 again with the right one."""
    gw = ctx.gateway()
    assert _healthz(gw.url)[0] == 200
    for key, want in (("wrong-" + os.urandom(4).hex(), 503), ("testing", 200)):
        gw.conf_text = gateway.render_conf(gateway.merge_conf(gateway.default_conf(
            gw.dir, ctx.saio.auth_url), {"swift": {"key": key}}))
        with open(gw.conf_path, "w") as f:
            f.write(gw.conf_text)
        os.kill(gw.proc.pid, signal.SIGHUP)
        wait_until(lambda: _healthz(gw.url)[0] == want, 10,
                   lambda: "/healthz %d, not %r" % (want, _healthz(gw.url),))
        if want == 503:
            # First "waiting for the first token" (the old one is dropped),
            # then Swift's refusal of the new key.
            wait_until(lambda: _healthz(gw.admin_url)[1].startswith(AUTH_REFUSED), 10,
                       lambda: "admin /healthz %r" % (_healthz(gw.admin_url),))
    assert _healthz(gw.admin_url)[:2] == (200, "ok"), _healthz(gw.admin_url)
    assert _object_fetches(gw) == 0


def test_service_manager_hears_the_auth_state(ctx):
    """Under a service manager, READY=1 comes at once even with wrong
    credentials, and a STATUS= line says why the gateway is not ready."""
    path = os.path.join(ctx.tmpdir, "ready-notify.sock")
    want = "STATUS=not ready: " + AUTH_REFUSED + ctx.saio.auth_url
    got = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        sock.settimeout(0.5)
        ctx.gateway(env={"NOTIFY_SOCKET": path},
                    swift={"key": "wrong-" + os.urandom(4).hex()})
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and not any(want in g for g in got):
            try:
                got.append(sock.recv(4096).decode())
            except socket.timeout:
                pass
    assert got and got[0].startswith("READY=1\nSTATUS="), got
    assert any(g.endswith(want) for g in got), got


def _check_connect(ctx, **sections):
    """`check-config --connect` of a config over this Swift; (rc, out, err)."""
    gw = ctx.gateway(start=False, **sections)
    return gateway.run(ctx.bin, ["check-config", "--connect", "-c", gw.conf_path],
                       timeout=90)


def test_check_config_connect(ctx):
    """--connect: exit 0 after a token and a HEAD of the container; 1 with
    the reason for a wrong key, a missing container and an auth endpoint
    nobody listens on; 2 for a bad config, as without it."""
    rc, out, err = _check_connect(ctx)
    assert rc == 0, (rc, out, err)
    assert "# connect: auth TempAuth v1.0 at %s as test:tester" % ctx.saio.auth_url in out
    assert "# connect: auth ok" in out, out
    assert "# connect: HEAD %s/fractals\n" % ctx.saio.storage_url in out, out
    assert "# connect: container fractals: 204 No Content" in out, out

    rc, out, err = _check_connect(ctx, swift={"key": "wrong-" + os.urandom(4).hex()})
    assert rc == 1 and "--connect: " + AUTH_REFUSED + ctx.saio.auth_url in err, (rc, err)
    assert "HEAD" not in out, out

    missing = "missing-" + os.urandom(4).hex()
    rc, out, err = _check_connect(ctx, swift={"container": missing})
    assert rc == 1, (rc, out, err)
    assert "container %s does not exist (404 from %s/%s)" % (
        missing, ctx.saio.storage_url, missing) in err, err

    dead = "http://127.0.0.1:%d/auth/v1.0" % httputil.free_port()
    rc, out, err = _check_connect(ctx, swift={"auth_url": dead})
    assert rc == 1 and "--connect: swift auth: %s: " % dead in err, (rc, err)
    assert "onnect" in err.split(dead, 1)[1], err

    rc, out, err = _check_connect(ctx, swift={"auth_version": "7"})
    assert rc == 2 and "auth_version" in err, (rc, err)
