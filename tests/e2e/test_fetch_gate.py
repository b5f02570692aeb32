"""The bound on requests to Swift ([swift] max_fetches), the queue in front
of it (fetch_queue, fetch_queue_timeout) and the temp bytes a fill reserves
of [cache] max_size, against the fault origin (tests/lib/faultorigin.py),
which can hold an answer back as long as a test needs: a healthy Swift on
loopback answers too fast for a queue to form.
"""

import socket
import struct
import threading
import time

import faultorigin
import fixtures
import httputil
from rawhttp import Raw, req_bytes
from waits import wait_until

CONTAINER = "fractals"
IN_FLIGHT = "swiftgate_swift_requests_in_flight"
QUEUED = "swiftgate_swift_requests_queued"
FULL = 'swiftgate_swift_requests_refused_total{reason="queue_full"}'
TIMED_OUT = 'swiftgate_swift_requests_refused_total{reason="queue_timeout"}'
TEMP = "swiftgate_cache_temp_bytes"


def _gateway(ctx, origin, swift=None, **sections):
    conf = origin.swift_conf(**(swift or {}))
    return ctx.gateway(swift=conf, **sections)


def _path(name):
    return "/fractal/" + name


def _reset(raw):
    """Close with a TCP RST, as a client that gives up does."""
    raw.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                        struct.pack("ii", 1, 0))
    raw.close()


class Sampler(threading.Thread):
    """Reads /metrics every 20 ms until stopped; keeps the largest value
    seen of each name asked for."""

    def __init__(self, gw, names):
        super().__init__(daemon=True)
        self.gw, self.names = gw, names
        self.peak = {n: 0.0 for n in names}
        self.samples = 0
        self.stop = threading.Event()

    def run(self):
        deadline = time.monotonic() + 60
        while not self.stop.is_set() and time.monotonic() < deadline:
            m = self.gw.metrics()
            self.samples += 1
            for n in self.names:
                self.peak[n] = max(self.peak[n], m.get(n, 0.0))
            time.sleep(0.02)

    def finish(self):
        self.stop.set()
        self.join(10)
        return self.peak


def test_fetches_in_flight_never_pass_max_fetches(ctx):
    """500 clients GET distinct cold objects (Swift slow to send them) and
    reset at once: Swift never sees more than max_fetches requests at a
    time, temp bytes stay within max_size, the queue empties, and a hit is
    served meanwhile without waiting for any of it."""
    size = 256 << 10
    with faultorigin.FaultOrigin() as origin:
        hot = fixtures.new_uuid()
        hot_data = fixtures.random_bytes(100 << 10, seed=1)
        origin.put(CONTAINER, hot, hot_data)
        names = [fixtures.new_uuid() for _ in range(500)]
        for i, n in enumerate(names):
            origin.put(CONTAINER, n, fixtures.random_bytes(size, seed=10 + i),
                       fault="trickle=400000")
        gw = _gateway(ctx, origin, swift={"max_fetches": "4"},
                      server={"workers": "2"},
                      cache={"max_size": "2M", "max_object_size": "1M"})
        r = httputil.get(gw.url + _path(hot))
        assert r.status == 200 and r.body == hot_data
        sampler = Sampler(gw, [IN_FLIGHT, QUEUED, TEMP])
        sampler.start()
        clients = []
        for n in names:
            raw = Raw(gw.url)
            raw.send(req_bytes("GET", _path(n)))
            clients.append(raw)
        time.sleep(0.3)
        for raw in clients:
            _reset(raw)
        # A hit does not queue behind the fetches.
        hit_ms = []
        for _ in range(5):
            t0 = time.monotonic()
            r = httputil.get(gw.url + _path(hot), timeout=10)
            hit_ms.append((time.monotonic() - t0) * 1000)
            assert r.status == 200 and r.body == hot_data
            assert r.headers.get("X-Cache") == "HIT", r.headers
        ok = wait_until(lambda: gw.metrics().get(IN_FLIGHT, 1) == 0 and
                        gw.metrics().get(QUEUED, 1) == 0, 30.0)
        peak = sampler.finish()
        print("peaks %s over %d samples; hits %s ms; origin GETs %d" % (
            peak, sampler.samples, ["%.1f" % t for t in hit_ms],
            sum(origin.count("GET", n) for n in names)))
        assert ok, "fetches still running or queued: %s" % gw.metrics()
        assert sampler.samples >= 10
        assert 1 <= peak[IN_FLIGHT] <= 4, peak
        assert peak[TEMP] <= 2 << 20, peak
        # Functional, not a speed figure: a hit that waited for a slot
        # would take the 0.6 s a trickled object holds one.
        assert max(hit_ms) < 100, hit_ms
        # Queued fills whose clients left were never sent to Swift.
        gets = sum(origin.count("GET", n) for n in names)
        assert gets < len(names), "every fill went to Swift: %d" % gets


def test_a_full_queue_answers_503_with_retry_after(ctx):
    with faultorigin.FaultOrigin() as origin:
        slow = fixtures.new_uuid()
        origin.put(CONTAINER, slow, b"slow" * 100, fault="delay=2")
        waiting = [fixtures.new_uuid() for _ in range(2)]
        for n in waiting:
            origin.put(CONTAINER, n, n.encode() * 10)
        extra = fixtures.new_uuid()
        origin.put(CONTAINER, extra, b"x" * 100)
        gw = _gateway(ctx, origin, swift={"max_fetches": "1", "fetch_queue": "2"},
                      server={"workers": "1"})
        holder = Raw(gw.url, timeout=15)
        holder.send(req_bytes("GET", _path(slow)))
        assert wait_until(lambda: gw.metrics()[IN_FLIGHT] == 1, 5.0)
        queued = []
        for n in waiting:
            raw = Raw(gw.url, timeout=15)
            raw.send(req_bytes("GET", _path(n)))
            queued.append(raw)
        assert wait_until(lambda: gw.metrics()[QUEUED] == 2, 5.0), gw.metrics()
        t0 = time.monotonic()
        with Raw(gw.url) as raw:
            r = raw.request("GET", _path(extra))
        took = time.monotonic() - t0
        assert r.status == 503, r
        assert r.get("Retry-After") == "1", r
        assert b"too many requests to Swift" in r.body, r.body
        assert took < 1.5, "the refusal waited %.2f s" % took
        assert origin.count("GET", extra) == 0
        m = gw.metrics()
        assert m[FULL] == 1 and m['swiftgate_errors_total{kind="fetch_busy"}'] == 1, m
        # Those that waited are answered once the slot frees.
        assert holder.read_response().status == 200
        for raw, n in zip(queued, waiting):
            r = raw.read_response()
            assert r.status == 200 and r.body == n.encode() * 10, r
            raw.close()
        holder.close()


def test_a_request_waits_no_longer_than_fetch_queue_timeout(ctx):
    with faultorigin.FaultOrigin() as origin:
        slow, late = fixtures.new_uuid(), fixtures.new_uuid()
        origin.put(CONTAINER, slow, b"s" * 100, fault="delay=3")
        origin.put(CONTAINER, late, b"l" * 100)
        gw = _gateway(ctx, origin, swift={"max_fetches": "1",
                                          "fetch_queue_timeout": "500ms"},
                      server={"workers": "1"})
        holder = Raw(gw.url, timeout=15)
        holder.send(req_bytes("GET", _path(slow)))
        assert wait_until(lambda: gw.metrics()[IN_FLIGHT] == 1, 5.0)
        t0 = time.monotonic()
        with Raw(gw.url) as raw:
            r = raw.request("GET", _path(late))
        took = time.monotonic() - t0
        assert r.status == 503 and r.get("Retry-After") == "1", r
        assert 0.4 <= took < 2.5, "answered after %.2f s" % took
        assert gw.metrics()[TIMED_OUT] == 1
        assert origin.count("GET", late) == 0
        assert holder.read_response().status == 200
        holder.close()
        # The slot is free again: the same object is fetched now.
        r = httputil.get(gw.url + _path(late))
        assert r.status == 200 and r.body == b"l" * 100


def test_a_client_that_leaves_the_queue_costs_swift_nothing(ctx):
    with faultorigin.FaultOrigin() as origin:
        slow, gone = fixtures.new_uuid(), fixtures.new_uuid()
        origin.put(CONTAINER, slow, b"s" * 100, fault="delay=1.5")
        origin.put(CONTAINER, gone, b"g" * 100)
        gw = _gateway(ctx, origin, swift={"max_fetches": "1"},
                      server={"workers": "1"})
        holder = Raw(gw.url, timeout=15)
        holder.send(req_bytes("GET", _path(slow)))
        assert wait_until(lambda: gw.metrics()[IN_FLIGHT] == 1, 5.0)
        raw = Raw(gw.url)
        raw.send(req_bytes("GET", _path(gone)))
        assert wait_until(lambda: gw.metrics()[QUEUED] == 1, 5.0)
        _reset(raw)
        assert holder.read_response().status == 200
        holder.close()
        assert wait_until(lambda: gw.metrics()[QUEUED] == 0 and
                          gw.metrics()[IN_FLIGHT] == 0, 5.0), gw.metrics()
        time.sleep(0.3)
        assert origin.count("GET", gone) == 0


def test_temp_bytes_count_against_max_size(ctx):
    """Three trickled 600 KiB objects at once under a 1 MiB cache: only
    one temp file fits; the others are served whole without the cache."""
    size = 600 << 10
    with faultorigin.FaultOrigin() as origin:
        names = [fixtures.new_uuid() for _ in range(3)]
        datas = [fixtures.random_bytes(size, seed=40 + i) for i in range(3)]
        for n, d in zip(names, datas):
            origin.put(CONTAINER, n, d, fault="trickle=1000000")
        gw = _gateway(ctx, origin, cache={"max_size": "1M",
                                          "max_object_size": "1M"})
        sampler = Sampler(gw, [TEMP])
        sampler.start()
        results = [None] * 3

        def get(i):
            results[i] = httputil.get(gw.url + _path(names[i]), timeout=20)

        threads = [threading.Thread(target=get, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        peak = sampler.finish()
        for r, d in zip(results, datas):
            assert r is not None and r.status == 200 and r.body == d, r
        caches = sorted(r.headers.get("X-Cache") for r in results)
        assert caches == ["MISS", "PASS", "PASS"], caches
        assert 0 < peak[TEMP] <= 1 << 20, peak
        assert wait_until(lambda: gw.metrics()[TEMP] == 0, 5.0)


def test_a_full_queue_gives_up_first_the_fetches_nobody_waits_for(ctx):
    """max_fetches 1, fetch_queue 2: two queued clients leave; the next
    request takes one of their places instead of a 503, and neither of
    the deserted fetches ever reaches Swift."""
    with faultorigin.FaultOrigin() as origin:
        slow, late = fixtures.new_uuid(), fixtures.new_uuid()
        gone = [fixtures.new_uuid() for _ in range(2)]
        origin.put(CONTAINER, slow, b"s" * 100, fault="delay=1.5")
        origin.put(CONTAINER, late, b"l" * 100)
        for n in gone:
            origin.put(CONTAINER, n, b"g" * 100)
        gw = _gateway(ctx, origin, swift={"max_fetches": "1", "fetch_queue": "2"},
                      server={"workers": "1"})
        holder = Raw(gw.url, timeout=15)
        holder.send(req_bytes("GET", _path(slow)))
        assert wait_until(lambda: gw.metrics()[IN_FLIGHT] == 1, 5.0)
        for n in gone:
            raw = Raw(gw.url)
            raw.send(req_bytes("GET", _path(n)))
            assert wait_until(lambda: gw.metrics()[QUEUED] >= 1, 5.0)
            _reset(raw)
        assert wait_until(lambda: gw.metrics()[QUEUED] == 2, 5.0), gw.metrics()
        with Raw(gw.url, timeout=15) as raw:
            r = raw.request("GET", _path(late))
        assert r.status == 200 and r.body == b"l" * 100, r
        assert holder.read_response().status == 200
        holder.close()
        assert gw.metrics()[FULL] == 0, gw.metrics()
        assert wait_until(lambda: gw.metrics()[QUEUED] == 0, 5.0)
        assert [origin.count("GET", n) for n in gone] == [0, 0]


def test_a_segment_not_kept_stops_when_its_client_leaves(ctx):
    """A segment over max_object_size is fetched only for its readers: when
    the client of its large object leaves, the fill stops instead of
    reading the rest from Swift for nobody."""
    with faultorigin.FaultOrigin() as origin:
        seg = fixtures.random_bytes(1 << 20, seed=77)
        origin.put("fractals_segments", "big/0", seg, "application/octet-stream",
                   fault="trickle=200000")
        name = fixtures.new_uuid()
        origin.put_slo(CONTAINER, name, [("fractals_segments", "big/0")])
        gw = _gateway(ctx, origin, cache={"max_size": "4M",
                                          "max_object_size": "256K"})
        raw = Raw(gw.url, timeout=15)
        raw.send(req_bytes("GET", _path(name)))
        r = raw.read_response(head=True)
        assert r.status == 200, r
        assert wait_until(lambda: gw.metrics()[TEMP] > 0, 5.0)
        t0 = time.monotonic()
        _reset(raw)
        # Trickled, the whole segment takes 5 s: a fill that stopped is
        # gone well before.
        assert wait_until(lambda: gw.metrics()["swiftgate_fills_in_flight"] == 0, 4.0), \
            gw.metrics()
        print("fill stopped %.2f s after its client left" % (time.monotonic() - t0))
        assert gw.metrics()[TEMP] == 0
        assert gw.error_count("object_too_large") == 1
