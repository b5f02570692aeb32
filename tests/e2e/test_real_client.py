"""[server] trusted_proxies: behind HAProxy the access log names the
client from X-Forwarded-For, believed only from a trusted peer and only as
far as the chain of trusted proxies goes."""

import json

import fixtures
import fractal
from rawhttp import Raw
from waits import wait_until

CASES = [
    # (X-Forwarded-For, client logged)
    ("203.0.113.9", "203.0.113.9"),
    ("198.51.100.1, 10.1.2.3", "198.51.100.1"),     # through a trusted 10/8 hop
    ("1.2.3.4, 203.0.113.9", "203.0.113.9"),        # the client's own claim is not believed
    ("2001:db8::1", "2001:db8::1"),
    ("not-an-address", "127.0.0.1"),
    (None, "127.0.0.1"),
]


def _clients(gw, name, cases):
    with Raw(gw.url) as c:
        for xff, _ in cases:
            r = c.request("GET", "/fractal/" + name, {"X-Forwarded-For": xff} if xff else None)
            assert r.status == 200, r
    assert wait_until(lambda: len(gw.access_log_lines()) == len(cases), 5.0)
    return [json.loads(line)["client"] for line in gw.access_log_lines()]


def test_client_from_trusted_proxies(ctx):
    name, _ = fixtures.upload(ctx.saio, fractal.julia(16, 16))
    gw = ctx.gateway(server={"access_log_format": "json",
                             "trusted_proxies": "127.0.0.1, 10.0.0.0/8"})
    assert _clients(gw, name, CASES) == [want for _, want in CASES]


def test_client_is_the_peer_without_trusted_proxies(ctx):
    name, _ = fixtures.upload(ctx.saio, fractal.julia(16, 16))
    gw = ctx.gateway(server={"access_log_format": "json"})
    assert _clients(gw, name, CASES) == ["127.0.0.1"] * len(CASES)
