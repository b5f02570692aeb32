"""The shipped conf/haproxy.cfg: HAProxy accepts it where its server names
do not resolve, and a fleet of three gateways behind it, run with the file
as shipped but for its addresses, keeps one copy of each object, loses no
request to a gateway that dies but those it was answering, and takes the
gateway back with its cache when it returns."""

import collections
import csv
import http.client
import json
import os
import random
import re
import socket
import subprocess
import threading
import time

import fixtures
import httputil
import procs
from fractals_api import FractalsApi
from haproxycfg import rewrite_addresses, servers_of
from waits import wait_until

HAPROXY = "/usr/sbin/haproxy"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
SHIPPED = os.path.join(ROOT, "conf", "haproxy.cfg")

_SERVER_RE = re.compile(r"^\s*server\s+(\S+)\s+(\S+)", re.MULTILINE)


def _resolves(host):
    try:
        socket.getaddrinfo(host, None)
        return True
    except OSError:
        return False


def test_shipped_haproxy_cfg_passes_haproxy_check():
    """`haproxy -c` exits 0, and its only warnings are the server names
    that do not resolve on this machine (init-addr last,libc,none: such a
    server starts in maintenance instead of stopping HAProxy)."""
    with open(SHIPPED) as f:
        servers = _SERVER_RE.findall(f.read())
    assert servers, "no server line in %s" % SHIPPED
    hosts = {addr.rsplit(":", 1)[0] for _, addr in servers}
    unresolved = {h for h in hosts if not _resolves(h)}
    res = subprocess.run([HAPROXY, "-c", "-f", SHIPPED], capture_output=True,
                         timeout=30, stdin=subprocess.DEVNULL)
    out = (res.stdout + res.stderr).decode("utf-8", "replace")
    print(out.rstrip())
    assert res.returncode == 0, "haproxy -c exited %d\n%s" % (
        res.returncode, out)
    assert "Configuration file is valid" in out, out
    complaints = [line for line in out.splitlines()
                  if "[WARNING]" in line or "[ALERT]" in line]
    expected = [line for line in complaints
                if re.search(r"could not resolve address '([^']+)'", line)
                and re.search(r"could not resolve address '([^']+)'",
                              line).group(1) in unresolved]
    assert complaints == expected, "unexpected warnings:\n%s" % "\n".join(
        c for c in complaints if c not in expected)
    assert len(expected) == len([s for s in servers
                                 if s[1].rsplit(":", 1)[0] in unresolved])
    print("%d servers, %d of their names unresolved here"
          % (len(servers), len(expected)))


# -- a fleet behind the shipped file -----------------------------------------
#
# The test's copy of conf/haproxy.cfg differs only in addresses: each
# `server NAME ADDR` and each frontend's `bind ADDR` gets a port of this
# test on 127.0.0.1.  The shipped file logs to stdout, which is the log read
# here; nothing else is rewritten, and the test checks that.

N_OBJECTS = 300
N_CLIENTS = 8
MAX_PER_CLIENT = 20000

# option httplog, as HAProxy 2.6 writes it:
#   127.0.0.1:40000 [24/Nov/2026:17:20:01.123] web swiftgate/swiftgate1
#   0/0/0/1/1 200 5000 - - ---- 8/8/0/1/+1 0/0 "GET /fractal/<uuid>?c=1.2 HTTP/1.1"
_HTTPLOG = re.compile(r'^\S+ \[[^\]]+\] (\S+) (\S+)/(\S+) \S+ (-?\d+) \S+ \S+ \S+ '
                      r'(\S{4}) \d+/\d+/\d+/\d+/(\+?\d+) \S+ "(\S+) (\S+)')


def address_changes(old, new):
    """The lines of new that differ from old, each checked to differ in its
    address word alone; returns [(old_line, new_line)]."""
    a, b = old.split("\n"), new.split("\n")
    assert len(a) == len(b), "the copy has %d lines, the file %d" % (
        len(b), len(a))
    changes = []
    for x, y in zip(a, b):
        if x == y:
            continue
        wx, wy = x.split(), y.split()
        differ = [i for i in range(max(len(wx), len(wy)))
                  if i >= len(wx) or i >= len(wy) or wx[i] != wy[i]]
        where = {"server": 2, "bind": 1}.get(wx[0] if wx else "")
        assert differ == [where] and x.index(wx[where]) == y.index(wy[where]), \
            "more than an address changed:\n- %s\n+ %s" % (x, y)
        changes.append((x, y))
    return changes


class Fleet:
    """HAProxy with the test's copy of the shipped file, in front of the
    gateways given for the swiftgate backend's servers (in file order) and
    a stand-in Fractals API for the other backend's."""

    def __init__(self, ctx, gateways, api):
        with open(SHIPPED) as f:
            shipped = f.read()
        names = servers_of(shipped, "swiftgate")
        assert len(names) == len(gateways), names
        self.names = names
        self.port = httputil.free_port()
        self.stats_port = httputil.free_port()
        api_addr = api.url[len("http://"):]
        servers = {n: gw.url[len("http://"):] for n, gw in zip(names, gateways)}
        servers.update((n, api_addr) for n in servers_of(shipped, "fractals_api"))
        text = rewrite_addresses(shipped, servers, {
            "web": "127.0.0.1:%d" % self.port,
            "stats": "127.0.0.1:%d" % self.stats_port})
        self.changes = address_changes(shipped, text)
        self.cfg = os.path.join(ctx.tmpdir, "haproxy.cfg")
        with open(self.cfg, "w") as f:
            f.write(text)
        self.log_path = os.path.join(ctx.tmpdir, "haproxy.log")
        err = os.path.join(ctx.tmpdir, "haproxy.err")
        self.proc = procs.spawn([HAPROXY, "-db", "-f", self.cfg], err,
                                stdout_path=self.log_path)
        self.url = "http://127.0.0.1:%d" % self.port
        wait_until(lambda: self.proc.poll() is not None or self.states(), 10.0)
        if self.proc.poll() is not None or not self.states():
            self.stop()
            with open(err) as f:
                raise AssertionError("haproxy did not start:\n" + f.read())

    def stop(self):
        procs.stop(self.proc, grace=10.0)

    def states(self):
        """{server: status} of the swiftgate backend, from /stats;csv."""
        try:
            r = httputil.get("http://127.0.0.1:%d/stats;csv" % self.stats_port,
                             timeout=5)
        except OSError:
            return {}
        rows = list(csv.reader(r.body.decode().lstrip("# ").splitlines()))
        col = rows[0].index("status")
        return {row[1]: row[col] for row in rows[1:]
                if row and row[0] == "swiftgate" and row[1] in self.names}

    def wait_state(self, name, state, timeout):
        wait_until(lambda: self.states().get(name) == state, timeout,
                   lambda: "%s %s (states %r)" % (name, state, self.states()))
        return time.monotonic()

    def log(self):
        """[(frontend, backend, server, status, termination, retries, path)]
        of the requests logged so far."""
        with open(self.log_path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        out = []
        for line in text.splitlines():
            m = _HTTPLOG.match(line)
            if m:
                out.append(m.group(1, 2, 3, 4, 5, 6, 8))
        return out

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")


def _access_requests(gw):
    """[(path, status, cache result)] of a gateway's access log."""
    out = []
    for line in gw.access_log_lines():
        m = re.search(r'"GET (\S+) HTTP/1\.1" (\d+) \d+ (\S+)', line)
        if m:
            out.append((m.group(1), int(m.group(2)), m.group(3)))
    return out


def _uuid_of(path):
    return path.split("?")[0][len("/fractal/"):]


def _upload_objects(saio, n):
    """n small objects in Swift, uploaded four at a time: {uuid: bytes}."""
    objs, lock = {}, threading.Lock()

    def put(start):
        for i in range(start, n, 4):
            data = fixtures.random_bytes(2000 + (i * 37) % 10000, seed=9000 + i)
            name, _ = fixtures.upload(saio, data, "image/png")
            with lock:
                objs[name] = data
    threads = [threading.Thread(target=put, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(objs) == n, len(objs)
    return objs


class Client(threading.Thread):
    """One client looping over the objects in its own order on a kept-alive
    connection (a new one after any error), until stop is set, for at most
    MAX_PER_CLIENT requests or `limit` seconds.  Each request carries
    ?c=<client>.<n>, which neither HAProxy (balance uri hashes the path)
    nor the gateway uses, so that HAProxy's log line of each one is known.
    records: (id, uuid, start, end, error or None), monotonic times."""

    def __init__(self, idx, port, objs, stop, limit):
        super().__init__(name="client-%d" % idx, daemon=True)
        self.idx, self.port, self.stop, self.limit = idx, port, stop, limit
        self.order = sorted(objs)
        random.Random(idx).shuffle(self.order)
        self.objs = objs
        self.records = []

    def one(self, conn, rid, name):
        conn.request("GET", "/fractal/%s?c=%s" % (name, rid))
        r = conn.getresponse()
        body = r.read()
        if r.status != 200 or body != self.objs[name]:
            return "HTTP %d, %d bytes" % (r.status, len(body))
        return None

    def run(self):
        deadline = time.monotonic() + self.limit
        conn = None
        n = 0
        while not self.stop.is_set() and n < MAX_PER_CLIENT \
                and time.monotonic() < deadline:
            name = self.order[n % len(self.order)]
            rid = "%d.%d" % (self.idx, n)
            t0 = time.monotonic()
            try:
                conn = conn or http.client.HTTPConnection("127.0.0.1", self.port,
                                                          timeout=15)
                error = self.one(conn, rid, name)
            except (OSError, http.client.HTTPException) as e:
                error = "%s: %s" % (type(e).__name__, e)
            if error:
                conn.close()
                conn = None
            self.records.append((rid, name, t0, time.monotonic(), error))
            n += 1
        if conn:
            conn.close()


def _get(conn, path):
    conn.request("GET", path)
    r = conn.getresponse()
    return r, r.read()


def _check_api_route(fleet, api, gws):
    """Everything but /fractal/ goes to the Fractals API."""
    r = httputil.get(fleet.url + "/v1/fractal?results_per_page=5")
    assert r.status == 200, r
    assert json.loads(r.body)["num_results"] == N_OBJECTS, r.body[:200]
    assert [p for p, _ in api.requests] == ["/v1/fractal"], api.requests
    for gw in gws:
        assert not [p for p, _, _ in _access_requests(gw) if p.startswith("/v1")]


def _warm(ctx, fleet, gws, objs):
    """Every object once through HAProxy, one at a time; checks that Swift
    served each exactly once and that the gateways' shares are disjoint;
    returns them, [set of uuids] in server order."""
    conn = http.client.HTTPConnection("127.0.0.1", fleet.port, timeout=30)
    for name in sorted(objs):
        r, body = _get(conn, "/fractal/" + name)
        assert r.status == 200 and body == objs[name], (name, r.status)
        assert r.getheader("X-Cache") == "MISS", r.getheaders()
    conn.close()
    gets = collections.Counter()
    for method, path, _, _ in ctx.saio.proxy_log_requests():
        m = re.match(r"/v1/AUTH_test/fractals/([0-9a-f-]{36})"
                     r"(?:%3Fmultipart-manifest%3Dget)?$", path)
        # The log holds every test's requests to this Swift: only ours count.
        if method == "GET" and m and m.group(1) in objs:
            gets[m.group(1)] += 1
    assert set(gets) == set(objs) and set(gets.values()) == {1}, \
        "Swift GETs per object: %r" % collections.Counter(gets.values())
    def fractal_lines(gw):
        return [x for x in _access_requests(gw) if x[0].startswith("/fractal/")]
    # A gateway writes its access log line once the answer is sent.
    wait_until(lambda: sum(len(fractal_lines(gw)) for gw in gws) >= N_OBJECTS,
               5.0, "an access log line for each object")
    shares = []
    for gw in gws:
        reqs = fractal_lines(gw)
        assert all(st == 200 and cache == "MISS" for _, st, cache in reqs), reqs
        shares.append({_uuid_of(p) for p, _, _ in reqs})
        assert len(shares[-1]) == len(reqs), "an object asked twice of one gateway"
    assert sum(map(len, shares)) == N_OBJECTS and set.union(*shares) == set(objs)
    # Index commits are batched, so a gateway's count may lag its answers.
    want = [len(s) for s in shares]

    def entries():
        return [gw.metrics()["swiftgate_cache_entries"] for gw in gws]
    wait_until(lambda: entries() == want, 5.0,
               lambda: "cache entries %r, shares %r" % (entries(), want))
    fetched = sum(v for gw in gws for k, v in gw.metrics().items()
                  if k.startswith('swiftgate_origin_requests_total{kind="object"'))
    assert fetched == N_OBJECTS, fetched
    owner = {u: i for i, s in enumerate(shares) for u in s}
    for _, backend, server, _, _, _, path in fleet.log():
        if backend == "swiftgate":
            assert server == fleet.names[owner[_uuid_of(path)]], (server, path)
    return shares


def _load_with_kill_and_restart(ctx, fleet, gws, victim, objs):
    """N_CLIENTS clients loop over the objects; the victim gateway is
    killed (SIGKILL), taken out by HAProxy, started again on its cache dir
    and taken back in.  Returns (clients' records, the restarted gateway,
    its cache entries at start, times)."""
    stop = threading.Event()
    clients = [Client(i, fleet.port, objs, stop, 60.0) for i in range(N_CLIENTS)]
    for c in clients:
        c.start()
    name, gw = fleet.names[victim], gws[victim]
    try:
        time.sleep(1.5)
        t = {"kill0": time.monotonic()}
        gw.kill9()
        t["kill1"] = time.monotonic()
        t["down"] = fleet.wait_state(name, "DOWN", 15.0)
        time.sleep(1.0)
        t["restart"] = time.monotonic()
        back = ctx.gateway(text=gw.conf_text)
        assert back.url == gw.url, (back.url, gw.url)
        entries = back.metrics()["swiftgate_cache_entries"]
        t["up"] = fleet.wait_state(name, "UP", 15.0)
        time.sleep(1.5)
    finally:
        stop.set()
        for c in clients:
            c.join(30)
    assert not [c for c in clients if c.is_alive()], "a client did not stop"
    return [r for c in clients for r in c.records], back, entries, t


def _logged(fleet, records):
    """{request id: HAProxy's log entry} of the records, read until every
    one is there or for 3 s (a line is written when its request ends).
    HAProxy drops a line rather than wait when two of its threads write the
    log at once, so a few may be missing: at most one in a thousand, and
    none of a failed request's, whose line says where it failed."""
    ids = {r[0] for r in records}

    def read():
        return {e[6].split("?c=")[1]: e for e in fleet.log() if "?c=" in e[6]}
    wait_until(lambda: ids <= set(read()), 3.0)
    out = read()
    missing = ids - set(out)
    assert len(missing) <= len(ids) // 1000, "%d of %d requests not logged" % (
        len(missing), len(ids))
    lost = [r for r in records if r[4] and r[0] in missing]
    assert not lost, "failed requests HAProxy did not log: %r" % lost
    return out, len(missing)


def _hits_after_restart(fleet, back, share, objs):
    """The restarted gateway's share, one at a time through HAProxy: each
    is sent to it and is a hit."""
    before = len(_access_requests(back))
    conn = http.client.HTTPConnection("127.0.0.1", fleet.port, timeout=30)
    for i, name in enumerate(sorted(share)):
        r, body = _get(conn, "/fractal/%s?c=post.%d" % (name, i))
        assert r.status == 200 and body == objs[name], (name, r.status)
        assert r.getheader("X-Cache") == "HIT", (name, r.getheaders())
    conn.close()
    served = wait_until(lambda: _access_requests(back)[before:]
                        if len(_access_requests(back)) >= before + len(share)
                        else None, 5.0, "the access log of the restarted gateway")
    assert {_uuid_of(p) for p, _, _ in served} == share, "not all sent to it"
    assert all(st == 200 and c == "HIT" for _, st, c in served), served
    return len(served)


def _judge_kill(fleet, records, t, victim, shares):
    """Check the clients' records against HAProxy's log: an error only for
    a request the killed gateway was answering when it died, nothing else
    but 200s, requests resent, its share served by the others while it was
    down.  Returns the figures."""
    log, unlogged = _logged(fleet, records)
    vname = fleet.names[victim]
    owner = {u: i for i, s in enumerate(shares) for u in s}
    errors = [r for r in records if r[4]]
    # Requests under way from SIGKILL until the process was reaped.
    inflight = [r for r in records if r[2] <= t["kill1"] and r[3] >= t["kill0"]]
    # HAProxy's retries field starts with "+" when it sent the request to
    # another server.
    resent = [r for r in records if r[0] in log and log[r[0]][5][0] == "+"]
    on_victim = [r for r in inflight if r[0] in log and
                 (log[r[0]][2] == vname or log[r[0]][5][0] == "+")]
    for r in errors:
        print("  error: %s %s -> %r" % (r[0], r[4], log[r[0]]))
        _, _, server, _, term, _, _ = log[r[0]]
        assert r in inflight and server == vname and term[0] == "S", (
            "an error not explained by the kill: %r, logged %r" % (r, log[r[0]]))
    assert len(errors) <= len(on_victim) and len(errors) <= N_CLIENTS
    bad_log = [log[r[0]] for r in records if not r[4] and r[0] in log
               and (log[r[0]][3] != "200" or log[r[0]][4] != "----")]
    assert not bad_log, bad_log[:5]
    assert resent, "HAProxy sent no request to another gateway"
    moved = [r for r in records if owner[r[1]] == victim and r[0] in log
             and r[2] >= t["down"] and r[3] <= t["restart"]]
    assert moved and all(log[r[0]][2] != vname for r in moved)
    before_kill = [r for r in records if r[3] < t["kill0"] and r[0] in log]
    spilled = [r for r in before_kill if log[r[0]][2] != fleet.names[owner[r[1]]]]
    return {"requests": len(records), "errors": len(errors),
            "inflight": len(inflight), "on_victim": len(on_victim),
            "resent": len(resent), "moved": len(moved), "spilled": len(spilled),
            "before_kill": len(before_kill), "unlogged": unlogged}


def _drain_under_load(fleet, gw, name, objs):
    """SIGTERM to a gateway whose drain_delay is paired with the shipped
    checks (inter 2s x fall 3 = 6s; 7s) while N_CLIENTS clients loop: HAProxy
    takes it out on its 503 before it stops accepting, and no request
    fails.  Returns (requests, seconds from SIGTERM to exit)."""
    stop = threading.Event()
    clients = [Client(100 + i, fleet.port, objs, stop, 60.0)
               for i in range(N_CLIENTS)]
    for c in clients:
        c.start()
    try:
        time.sleep(1.0)
        t0 = time.monotonic()
        rc = gw.stop(timeout=20.0)
        took = time.monotonic() - t0
        time.sleep(0.5)
    finally:
        stop.set()
        for c in clients:
            c.join(30)
    assert not [c for c in clients if c.is_alive()], "a client did not stop"
    assert rc == 0, rc
    records = [r for c in clients for r in c.records]
    errors = [r for r in records if r[4]]
    assert records and not errors, "%d of %d failed: %r" % (
        len(errors), len(records), errors[:5])
    assert re.search(r"Server swiftgate/%s is DOWN, reason: Layer7 wrong status, "
                     r"code: 503" % name, fleet.log_text()), "not taken out on 503"
    return len(records), took


def test_three_gateways_behind_the_shipped_haproxy_cfg(ctx):
    """Warming 300 objects through HAProxy fetches each from Swift once and
    leaves each gateway holding its own share.  SIGKILL one gateway under
    8 clients: only requests it was sending may fail, and HAProxy's log
    says so of each; its share is served by the others until it is back on
    the same cache dir, where it passes the check, takes its share back
    and serves it as hits.  Then SIGTERM to another, with drain_delay set
    to match the shipped checks, costs no request at all."""
    objs = _upload_objects(ctx.saio, N_OBJECTS)
    # The first gateway is the one drained at the end: the others keep
    # drain_delay 0s, so that stopping them after the test takes no time.
    gws = [ctx.gateway(server={"listen": "127.0.0.1:%d" % httputil.free_port(),
                               "drain_delay": "7s" if i == 0 else "0s"})
           for i in range(3)]
    api = FractalsApi(sorted(objs)).start()
    fleet = None
    try:
        fleet = Fleet(ctx, gws, api)
        print("the test's copy differs from the shipped file in:")
        for old, new in fleet.changes:
            print("  %s  ->  %s" % (old.strip(), new.split()[1 if "bind" in new else 2]))
        for name in fleet.names:
            fleet.wait_state(name, "UP", 10.0)
        _check_api_route(fleet, api, gws)
        r = httputil.get("http://127.0.0.1:%d/metrics" % fleet.stats_port)
        assert r.status == 200 and b"haproxy_server_status" in r.body, r
        shares = _warm(ctx, fleet, gws, objs)
        victim = max((1, 2), key=lambda i: len(shares[i]))
        vname = fleet.names[victim]
        records, back, entries, t = _load_with_kill_and_restart(
            ctx, fleet, gws, victim, objs)
        f = _judge_kill(fleet, records, t, victim, shares)
        assert entries >= len(shares[victim]), (entries, len(shares[victim]))
        text = fleet.log_text()
        assert re.search(r"Server swiftgate/%s is DOWN" % vname, text), text[-2000:]
        assert re.search(r"Server swiftgate/%s is UP" % vname, text), text[-2000:]
        hits = _hits_after_restart(fleet, back, shares[victim], objs)
        print("objects %d, Swift GETs per object 1; shares %s; killed %s"
              % (N_OBJECTS, "/".join(str(len(s)) for s in shares), vname))
        print("under load: %(requests)d requests, %(errors)d errors; %(inflight)d "
              "under way during the kill, %(on_victim)d of them on the killed "
              "gateway; resent by HAProxy %(resent)d; %(moved)d of its share "
              "served by the others while it was down; %(spilled)d of "
              "%(before_kill)d requests before the kill went past their gateway "
              "(hash-balance-factor); %(unlogged)d missing from HAProxy's log" % f)
        print("down %.1f s after the kill, up %.1f s after the restart; then %d "
              "entries in its cache, %d of %d of its share HIT" % (
                  t["down"] - t["kill1"], t["up"] - t["restart"], entries, hits,
                  len(shares[victim])))
        n, took = _drain_under_load(fleet, gws[0], fleet.names[0], objs)
        print("SIGTERM to %s (drain_delay 7s): %d requests meanwhile, none "
              "failed; it exited 0 after %.1f s" % (fleet.names[0], n, took))
    finally:
        if fleet:
            fleet.stop()
        api.stop()
