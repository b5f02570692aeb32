"""Auth: TempAuth tokens that expire, Keystone v3, one renewal per 401."""

import threading
import time

import fixtures
import httputil
import keystone
import saio as saiolib


def _auth_requests(gw):
    """Token requests answered so far, whatever their result."""
    m = gw.metrics()
    series = [v for k, v in m.items() if k.startswith("swiftgate_auth_requests_total{")]
    assert series, m
    return int(sum(series))


def _stream(url, seconds, sleep=0.05, limit=1000):
    """GET url again and again for `seconds`; returns the statuses."""
    statuses = []
    end = time.monotonic() + seconds
    while time.monotonic() < end and len(statuses) < limit:
        statuses.append(httputil.get(url, timeout=10).status)
        time.sleep(sleep)
    return statuses


def test_tempauth_token_expiry_is_invisible(ctx):
    """token_life 3 s; 7 s of requests straight to Swift: no error, about
    one auth request per expiry.  TempAuth announces the life left in whole
    seconds, rounded down (2 for a new 3 s token), so each token serves at
    least 2 s: 7 s need at most 4 tokens, and one more may come from a
    request that meets a token's real end (401, then one renewal)."""
    with saiolib.Saio(token_life=3, base_dir=ctx.tmpdir) as swift:
        swift.put_container("fractals")
        data = fixtures.random_bytes(5000, seed=7)
        name, _ = fixtures.upload(swift, data, "image/png")
        gw = ctx.gateway(swift={"auth_url": swift.auth_url}, cache={"dir": ""})
        statuses = _stream(gw.url + "/fractal/" + name, 7.0)
        assert statuses and all(s == 200 for s in statuses), statuses
        n = _auth_requests(gw)
        assert 2 <= n <= 5, "%d auth requests in 7 s of 3 s tokens" % n
        gw.stop()


def test_one_renewal_for_many_401s(ctx):
    """Tokens die all at once (memcached restarted): 20 concurrent requests
    all succeed, and the gateway sends one auth request, not 20."""
    data = fixtures.random_bytes(3000, seed=11)
    name, _ = fixtures.upload(ctx.saio, data, "image/png")
    gw = ctx.gateway(cache={"dir": ""}, server={"workers": "2"})
    assert httputil.get(gw.url + "/fractal/" + name).status == 200
    before = _auth_requests(gw)
    ctx.saio.restart_memcached()
    results = []

    def one():
        r = httputil.get(gw.url + "/fractal/" + name, timeout=20)
        results.append((r.status, fixtures.md5_hex(r.body)))

    threads = [threading.Thread(target=one) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 20, results
    assert all(r == (200, fixtures.md5_hex(data)) for r in results), results
    renewals = _auth_requests(gw) - before
    assert 1 <= renewals <= 2, "%d auth requests after the tokens died" % renewals


def test_keystone_v3_endpoint_and_refresh(ctx):
    """Keystone v3: the internal endpoint of region r2 is used (all others
    point at a closed port), and the token is renewed as it nears its
    expires_at without any request failing."""
    data = fixtures.random_bytes(4000, seed=13)
    name, _ = fixtures.upload(ctx.saio, data, "image/png")
    with keystone.Keystone(ctx.saio, token_life=4) as ks:
        gw = ctx.gateway(swift={"auth_version": "3", "auth_url": ks.auth_url,
                                "user": keystone.USER, "key": keystone.PASSWORD,
                                "project": keystone.PROJECT, "interface": "internal",
                                "region": "r2"},
                         cache={"dir": ""})
        r = httputil.get(gw.url + "/fractal/" + name)
        assert r.status == 200, (r.status, r.body[:200])
        assert r.body == data
        statuses = _stream(gw.url + "/fractal/" + name, 9.0)
        assert all(s == 200 for s in statuses), statuses
        # 9 s of 4 s tokens (each used for 3 s, refreshed in its last tenth).
        assert 3 <= ks.count <= 6, "%d token requests" % ks.count
        assert ks.bad == 0
        assert "secret" not in gw.stderr_text()


def test_keystone_wrong_password_is_502(ctx):
    with keystone.Keystone(ctx.saio) as ks:
        gw = ctx.gateway(swift={"auth_version": "3", "auth_url": ks.auth_url,
                                "user": keystone.USER, "key": "wrong",
                                "project": keystone.PROJECT},
                         cache={"dir": ""})
        r = httputil.get(gw.url + "/fractal/" + fixtures.new_uuid())
        assert r.status == 502, r.status
        assert ks.bad >= 1
        assert "wrong" not in gw.stderr_text()
