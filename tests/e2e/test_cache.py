"""The on-disk cache against a real Swift: hits, restarts, ttl and
revalidation, stale-if-error, negative caching, purge, crash consistency
under SIGKILL, eviction under max_size, and a full disk.

Every test asserts the bytes (MD5), the headers (X-Cache, Age, ETag) and how
many requests reached Swift (counted in the proxy log).
"""

import os
import random
import re
import threading
import time

import fixtures
import httputil
from answers import assert_object, describe, get, gw_stderr
from cachecheck import (blob_bytes, fsck, fsck_summary, mount_tmpfs, parallel_gets,
                        streamed_get, umount)
from waits import wait_until

CONTAINER = "fractals"
CACHE_RESULTS = ("MISS", "HIT", "REVALIDATED", "STALE", "PASS")


# -- helpers ------------------------------------------------------------------

def swift_path_re(name, container=CONTAINER):
    """Regex of the proxy-log path of an object, with or without a query
    (the query is logged URL-quoted: %3Fmultipart-manifest%3Dget)."""
    return r"/v1/AUTH_test/%s/%s(?:%%3F\S*)?" % (re.escape(container),
                                                  re.escape(name))


def swift_count(ctx, name, method="GET", status=None):
    """Client requests for object `name` in Swift's proxy log (optionally
    only those answered `status`)."""
    path = swift_path_re(name)
    if status is not None:
        path += r" HTTP/1\.[01] %d" % status
    return ctx.saio.proxy_log_count(method, path)


def xcache(resp):
    return resp.headers.get("X-Cache")


def purge(gw, name):
    return httputil.request("DELETE", gw.admin_url + "/cache/fractal/" + name,
                            timeout=10)


def cache_dir(ctx, name="cache"):
    return os.path.join(ctx.tmpdir, name)


# -- hits ---------------------------------------------------------------------

def test_second_get_is_a_hit(ctx):
    data = fixtures.random_bytes(300 << 10, seed=101)
    name, etag = fixtures.upload(ctx.saio, data, "image/png")
    gw = ctx.gateway()
    first = get(gw, name)
    second = get(gw, name)
    head = get(gw, name, "HEAD")
    assert_object(first, data, "MISS", gw, content_type="image/png")
    n = swift_count(ctx, name, "GET|HEAD")
    assert n == 1, "Swift saw %d requests for the object, want 1 GET" % n
    assert_object(second, data, "HIT", gw, content_type="image/png")
    for field in ("ETag", "Last-Modified", "Content-Type", "Content-Length"):
        assert first.headers.get(field) == second.headers.get(field), (
            "%s differs between MISS (%s) and HIT (%s)" % (
                field, first.headers.get(field), second.headers.get(field)))
    assert_object(head, data, "HIT", gw, method="HEAD",
                  content_type="image/png")
    # The cache gauges the README promises: one entry of the object's size.
    m = gw.metrics()
    assert m["swiftgate_cache_entries"] == 1, m.get("swiftgate_cache_entries")
    assert m["swiftgate_cache_bytes"] == len(data), m.get("swiftgate_cache_bytes")


def test_sizes_around_the_hash_threshold(ctx):
    # Bodies under 1 MiB are hashed on the loop as they arrive, larger ones
    # in the thread pool from the temp file, 1 MiB at a time: each side of
    # the line and of a job's end must verify, be cached, and hit.
    mib = 1 << 20
    sizes = (mib - 1, mib, mib + 1, 2 * mib, 2 * mib + 77777)
    objs = []
    for i, size in enumerate(sizes):
        data = fixtures.random_bytes(size, seed=110 + i)
        name, _ = fixtures.upload(ctx.saio, data, "image/png")
        objs.append((name, data))
    gw = ctx.gateway()
    for name, data in objs:
        assert_object(get(gw, name), data, "MISS", gw)
    for name, data in objs:
        assert_object(get(gw, name), data, "HIT", gw)
        n = swift_count(ctx, name, "GET|HEAD")
        assert n == 1, "%d bytes: Swift saw %d requests, want 1" % (len(data), n)
    m = gw.metrics()
    assert m["swiftgate_cache_entries"] == len(sizes), m.get("swiftgate_cache_entries")
    assert m["swiftgate_cache_bytes"] == sum(sizes), m.get("swiftgate_cache_bytes")


def test_restart_keeps_hits(ctx):
    data = fixtures.random_bytes(200 << 10, seed=102)
    name, _ = fixtures.upload(ctx.saio, data, "image/png")
    d = cache_dir(ctx)
    gw1 = ctx.gateway(cache={"dir": d})
    assert_object(get(gw1, name), data, "MISS", gw1)
    assert_object(get(gw1, name), data, "HIT", gw1)
    gw1.stop()
    gw2 = ctx.gateway(cache={"dir": d})
    assert_object(get(gw2, name), data, "HIT", gw2)
    assert_object(get(gw2, name, "HEAD"), data, "HIT", gw2, method="HEAD")
    n = swift_count(ctx, name, "GET|HEAD")
    assert n == 1, "Swift saw %d requests for the object over a restart, " \
        "want 1" % n


# -- ttl, revalidation, stale ---------------------------------------------------

def test_ttl_expiry_revalidates_with_304(ctx):
    data = fixtures.random_bytes(150 << 10, seed=103)
    name, _ = fixtures.upload(ctx.saio, data, "image/png")
    gw = ctx.gateway(cache={"ttl": "1s"})
    assert_object(get(gw, name), data, "MISS", gw)
    assert_object(get(gw, name), data, "HIT", gw)
    time.sleep(1.2)
    assert_object(get(gw, name), data, "REVALIDATED", gw)
    # Revalidated means fresh again: the next GET is a plain hit.
    assert_object(get(gw, name), data, "HIT", gw)
    n304 = swift_count(ctx, name, status=304)
    total = swift_count(ctx, name, "GET|HEAD")
    assert n304 == 1, "Swift answered %d conditional GETs with 304, want 1" \
        % n304
    assert total == 2, "Swift saw %d requests for the object, want 2 " \
        "(the fill and one revalidation)" % total


def test_changed_object_replaced_after_ttl(ctx):
    old = fixtures.random_bytes(120 << 10, seed=104)
    new = fixtures.random_bytes(130 << 10, seed=105)
    name, _ = fixtures.upload(ctx.saio, old, "image/png")
    gw = ctx.gateway(cache={"ttl": "1s"})
    assert_object(get(gw, name), old, "MISS", gw)
    fixtures.upload(ctx.saio, new, "image/png", name=name)
    # Within ttl the old bytes are still served, from the cache.
    assert_object(get(gw, name), old, "HIT", gw)
    time.sleep(1.2)
    assert_object(get(gw, name), new, "MISS", gw)
    assert_object(get(gw, name), new, "HIT", gw)
    assert swift_count(ctx, name, status=304) == 0
    n = swift_count(ctx, name, "GET|HEAD")
    assert n == 2, "Swift saw %d requests for the object, want 2" % n


def test_stale_served_while_swift_is_down(ctx):
    data = fixtures.random_bytes(180 << 10, seed=106)
    name, _ = fixtures.upload(ctx.saio, data, "image/png")
    gw = ctx.gateway(cache={"ttl": "1s", "stale_if_error": "1h"},
                     swift={"connect_timeout": "2s"})
    assert_object(get(gw, name), data, "MISS", gw)
    time.sleep(1.2)
    ctx.saio.stop_proxy()
    try:
        t = time.monotonic()
        resp = get(gw, name, timeout=20)
        dt = time.monotonic() - t
        assert_object(resp, data, "STALE", gw)
        assert int(resp.headers["Age"]) >= 1, (
            "a stale answer is at least ttl old: %s" % describe(resp))
        assert dt < 5.0, "the stale answer took %.1f s" % dt
        assert_object(get(gw, name, "HEAD"), data, "STALE", gw,
                      method="HEAD")
    finally:
        ctx.saio.start_proxy()
    # Swift is back: the entry is revalidated and fresh again.
    assert_object(get(gw, name), data, ("REVALIDATED",), gw)


def test_stale_while_revalidate_answers_at_once_and_revalidates_behind(ctx):
    same = fixtures.random_bytes(90 << 10, seed=130)
    old, new = (fixtures.random_bytes(95 << 10, seed=s) for s in (131, 132))
    gone = fixtures.random_bytes(60 << 10, seed=133)
    n_same, _ = fixtures.upload(ctx.saio, same, "image/png")
    n_changed, _ = fixtures.upload(ctx.saio, old, "image/png")
    n_gone, _ = fixtures.upload(ctx.saio, gone, "image/png")
    gw = ctx.gateway(cache={"ttl": "1s", "stale_while_revalidate": "1h"})
    for name, data in ((n_same, same), (n_changed, old), (n_gone, gone)):
        assert_object(get(gw, name), data, "MISS", gw)
    fixtures.upload(ctx.saio, new, "image/png", name=n_changed)
    ctx.saio.delete_object(CONTAINER, n_gone)
    time.sleep(1.2)
    # Ten clients at once on the expired entry: all answered from it at
    # once (those after the revalidation is in, as fresh hits), and one
    # revalidation reaches Swift.
    got = parallel_gets(gw, [n_same] * 10, 5)
    stale = 0
    for _, resp in got:
        assert_object(resp, same, ("STALE", "HIT"), gw)
        if xcache(resp) == "STALE":
            stale += 1
            assert "fwd=stale" in resp.headers.get("Cache-Status", ""), describe(resp)
            assert int(resp.headers["Age"]) >= 1, describe(resp)
    assert stale >= 1, [describe(r) for _, r in got]
    assert wait_until(lambda: swift_count(ctx, n_same, status=304) == 1, 10.0), \
        swift_count(ctx, n_same, status=304)
    assert_object(get(gw, n_same), same, "HIT", gw)
    # Changed in Swift: the old bytes now, the new ones once the fill behind is in.
    assert_object(get(gw, n_changed), old, "STALE", gw)
    assert wait_until(lambda: xcache(get(gw, n_changed)) == "HIT", 10.0)
    assert_object(get(gw, n_changed), new, "HIT", gw)
    # Deleted in Swift: the last stale answer, then the 404.
    assert_object(get(gw, n_gone), gone, "STALE", gw)
    assert wait_until(lambda: get(gw, n_gone).status == 404, 10.0)
    assert swift_count(ctx, n_same, "GET|HEAD") == 2  # the fill and one revalidation
    assert gw.error_count("origin_status") == 0


def test_stale_while_revalidate_window_ends(ctx):
    data = fixtures.random_bytes(70 << 10, seed=134)
    name, _ = fixtures.upload(ctx.saio, data, "image/png")
    gw = ctx.gateway(cache={"ttl": "1s", "stale_while_revalidate": "1s"})
    assert_object(get(gw, name), data, "MISS", gw)
    time.sleep(2.3)
    # Expired longer ago than the window: the client waits for Swift.
    assert_object(get(gw, name), data, "REVALIDATED", gw)


# -- negative caching, purge ------------------------------------------------------

def test_negative_caching(ctx):
    name = fixtures.new_uuid()
    gw = ctx.gateway(cache={"negative_ttl": "1s"})
    for i in range(2):
        r = get(gw, name)
        assert r.status == 404, "GET %d of a missing object: %s" % (
            i + 1, describe(r))
    n = swift_count(ctx, name, "GET|HEAD")
    assert n == 1, "two GETs of a missing object within negative_ttl made " \
        "%d Swift requests, want 1" % n
    r = get(gw, name, "HEAD")
    assert r.status == 404, describe(r)
    n = swift_count(ctx, name, "GET|HEAD")
    assert n == 1, "a HEAD within negative_ttl reached Swift (%d)" % n
    # After negative_ttl Swift is asked again; meanwhile the object appeared.
    data = fixtures.random_bytes(64 << 10, seed=107)
    fixtures.upload(ctx.saio, data, "image/png", name=name)
    time.sleep(1.2)
    assert_object(get(gw, name), data, "MISS", gw)
    n = swift_count(ctx, name, "GET|HEAD")
    assert n == 2, "after negative_ttl: %d Swift requests, want 2" % n


def test_purge_forces_refetch(ctx):
    data = fixtures.random_bytes(100 << 10, seed=108)
    name, _ = fixtures.upload(ctx.saio, data, "image/png")
    gw = ctx.gateway()
    never = fixtures.new_uuid()
    r = purge(gw, never)
    assert r.status == 404, "purge of an uncached uuid: want 404, got %r" % r
    assert_object(get(gw, name), data, "MISS", gw)
    assert_object(get(gw, name), data, "HIT", gw)
    r = purge(gw, name)
    assert r.status == 200, "purge: want 200, got %r %r" % (r, r.body[:200])
    r = purge(gw, name)
    assert r.status == 404, "second purge: want 404, got %r" % r
    assert_object(get(gw, name), data, "MISS", gw)
    assert_object(get(gw, name), data, "HIT", gw)
    n = swift_count(ctx, name, "GET|HEAD")
    assert n == 2, "Swift saw %d requests for the object, want 2 (the " \
        "fill, the refetch after the purge)" % n
    # Varnish's spelling: PURGE /fractal/<uuid> on the admin listener.
    r = httputil.request("PURGE", gw.admin_url + "/fractal/" + name, timeout=10)
    assert r.status == 200, "PURGE: want 200, got %r" % r
    assert_object(get(gw, name), data, "MISS", gw)


# -- crash consistency --------------------------------------------------------------

def _client(host, port, path, out, idx, timeout=15.0):
    """GET over http.client; out[idx] = (status, content_length, received,
    md5, error)."""
    status, _, length, got, md5, error = streamed_get(host, port, path, timeout)
    out[idx] = (status, length, got, md5, error)


def test_sigkill_during_fills(ctx):
    rng = random.Random()
    seed = rng.randrange(1 << 30)
    rng.seed(seed)
    objects = {}
    for i in range(50):
        data = fixtures.random_bytes(rng.randrange(256 << 10, (1 << 20) + 1),
                                     seed=1000 + i)
        name, etag = fixtures.upload(ctx.saio, data, "image/png")
        objects[name] = etag
    names = list(objects)
    d = cache_dir(ctx)
    rounds = 10
    summary = []
    kept = set()    # hits of the last round that were not purged after it
    for rnd in range(rounds):
        where = "round %d (seed %d)" % (rnd + 1, seed)
        gw = ctx.gateway(cache={"dir": d}, server={"workers": "2"})
        host, port, _ = httputil.split_url(gw.url)
        out = [None] * len(names)
        barrier = threading.Barrier(len(names) + 1)

        def client(i):
            try:
                barrier.wait(10)
            except threading.BrokenBarrierError:
                pass
            _client(host, port, "/fractal/" + names[i], out, i)

        threads = [threading.Thread(target=client, args=(i,))
                   for i in range(len(names))]
        for t in threads:
            t.start()
        barrier.wait(10)
        # 0-300 ms, biased early so that most rounds cut fills short.
        time.sleep(0.3 * rng.random() ** 2)
        gw.kill9()
        for t in threads:
            t.join(20)
        complete = 0
        for i, o in enumerate(out):
            assert o is not None, "%s: client %d did not finish" % (where, i)
            status, length, got, md5, error = o
            if status == 200 and length is not None and got == length:
                complete += 1
                assert md5 == objects[names[i]], (
                    "%s: a complete body with the wrong MD5: %s, want %s"
                    % (where, md5, objects[names[i]]))
            assert length is None or got <= length, o
        # Right after SIGKILL, before any sweep: the index may only point
        # at complete blobs (temp files and orphans are allowed here).
        rc, fout, ferr = fsck(ctx.bin, gw.conf_path)
        entries, bad, _ = fsck_summary(
            d, rc, fout, ferr, where + ", fsck right after SIGKILL")
        assert bad == 0, (
            "%s: fsck right after SIGKILL found %d bad entries:\n%s%s"
            % (where, bad, fout[-3000:], ferr[-1000:]))
        # Start (sweeps), stop cleanly: then fsck must find nothing, and
        # every entry is still there (none was bad, so none was dropped).
        sweeper = ctx.gateway(cache={"dir": d})
        sweeper.stop()
        rc, fout, ferr = fsck(ctx.bin, sweeper.conf_path)
        swept, bad, orphans = fsck_summary(
            d, rc, fout, ferr, where + ", fsck after the start-up sweep")
        assert (swept, bad, orphans) == (entries, 0, 0), (
            "%s: after the start-up sweep fsck says %d entries, %d bad, %d "
            "orphan files; want %d, 0, 0:\n%s%s%s" % (
                where, swept, bad, orphans, entries, fout[-3000:],
                ferr[-1000:], gw_stderr(sweeper)))
        # Every object is served whole and right: a HIT exactly for each
        # entry of the index, among them every object kept from the last
        # round's hits; a MISS for the others, each one fetch from Swift.
        check = ctx.gateway(cache={"dir": d}, server={"workers": "2"})
        seen = {}
        for name, resp in parallel_gets(check, names, 8):
            assert isinstance(resp, httputil.Response), (
                "%s: GET %s after restart failed: %r%s" % (where, name, resp,
                                                          gw_stderr(check)))
            assert resp.status == 200 and \
                fixtures.md5_hex(resp.body) == objects[name], (
                    "%s: %s after restart: %s, want md5 %s%s" % (
                        where, name, describe(resp), objects[name],
                        gw_stderr(check)))
            assert xcache(resp) in ("MISS", "HIT"), describe(resp)
            seen[name] = xcache(resp)
        hit_names = {n for n, x in seen.items() if x == "HIT"}
        hits = len(hit_names)
        assert hits == swept, (
            "%s: %d hits after restart, but the index holds %d entries%s"
            % (where, hits, swept, gw_stderr(check)))
        assert kept <= hit_names, (
            "%s: objects cached before the round and never purged were not "
            "hits: %s" % (where, sorted(kept - hit_names)))
        m = check.metrics()
        counted = tuple(int(m.get(k, 0)) for k in (
            'swiftgate_requests_total{status="200",cache="HIT"}',
            'swiftgate_requests_total{status="200",cache="MISS"}',
            'swiftgate_origin_requests_total{kind="object",class="2xx"}'))
        want = (hits, len(names) - hits, len(names) - hits)
        assert counted == want, (
            "%s: the gateway counted %d HIT, %d MISS and %d object fetches "
            "from Swift; want %d, %d, %d" % ((where,) + counted + want))
        # Purge most of them so the next round has fills to interrupt; an
        # object that was a hit is in the index, so its purge finds it.
        kept = set()
        for i, name in enumerate(names):
            if i % 5 != rnd % 5:
                r = purge(check, name)
                want = (200,) if name in hit_names else (200, 404)
                assert r.status in want, (where, name, seen[name], r)
            elif name in hit_names:
                kept.add(name)
        check.stop()
        summary.append("%d/%d" % (complete, hits))
    print("rounds (complete bodies before SIGKILL / hits after restart): %s"
          % " ".join(summary))


# -- eviction, full disk --------------------------------------------------------------

def test_eviction_keeps_under_max_size(ctx):
    size = 2 << 20
    count = 100
    cap = 50 << 20
    objects = {}
    for i in range(count):
        data = fixtures.random_bytes(size, seed=5000 + i)
        name, etag = fixtures.upload(ctx.saio, data, "image/png")
        objects[name] = etag
    names = list(objects)
    d = cache_dir(ctx)
    gw = ctx.gateway(cache={"dir": d, "max_size": "50M"},
                     server={"workers": "2"})
    peak = 0
    for start in range(0, count, 4):
        batch = names[start:start + 4]
        for name, resp in parallel_gets(gw, batch, 4):
            assert isinstance(resp, httputil.Response), (name, resp)
            assert resp.status == 200 and \
                fixtures.md5_hex(resp.body) == objects[name], (
                    "%s: %s, want md5 %s%s" % (name, describe(resp),
                                               objects[name], gw_stderr(gw)))
        peak = max(peak, blob_bytes(d)[0])
    limit = cap + size
    # Give eviction up to 3 s to get under max_size; the bound asserted
    # allows one object more.
    wait_until(lambda: blob_bytes(d)[0] <= cap, 3.0)
    total, files = blob_bytes(d)
    assert total <= limit, (
        "blobs hold %d bytes in %d files after 200 MiB through a 50 MiB "
        "cache (limit %d; peak seen %d)%s" % (total, files, limit, peak,
                                             gw_stderr(gw)))
    assert files > 0, "nothing cached at all"
    m = gw.metrics()
    assert m["swiftgate_cache_bytes"] <= limit, (
        "swiftgate_cache_bytes %d > %d" % (m["swiftgate_cache_bytes"], limit))
    # The most recently fetched object is still cached.
    last = names[-1]
    r = get(gw, last)
    assert r.status == 200 and fixtures.md5_hex(r.body) == objects[last], \
        describe(r)
    assert xcache(r) == "HIT", (
        "the last object fetched was evicted: %s" % describe(r))
    print("blobs: %d bytes in %d files (peak %d)" % (total, files, peak))


def test_full_disk_serves_from_swift(ctx):
    mnt = os.path.join(ctx.tmpdir, "tiny")
    mount_tmpfs(mnt, "1m")
    gw = None
    try:
        objects = {}
        for i in range(8):
            data = fixtures.random_bytes(300 << 10, seed=7000 + i)
            name, _ = fixtures.upload(ctx.saio, data, "image/png")
            objects[name] = data
        d = os.path.join(mnt, "cache")
        gw = ctx.gateway(cache={"dir": d})
        seen = []
        for rnd in range(2):
            for name, data in objects.items():
                resp = get(gw, name)
                assert resp.status == 200 and resp.body == data, (
                    "round %d, %s on a full cache disk: %s, want %d bytes "
                    "md5 %s%s" % (rnd + 1, name, describe(resp), len(data),
                                  fixtures.md5_hex(data), gw_stderr(gw)))
                seen.append(xcache(resp))
        bad = [x for x in seen if x not in ("MISS", "HIT", "PASS")]
        assert not bad, "every answer right, but X-Cache was %s (want " \
            "MISS|HIT|PASS on each)" % seen
        st = os.statvfs(mnt)
        free = st.f_bavail * st.f_frsize
        print("tmpfs: %d KiB free at the end" % (free // 1024))
        # Else the test did not test a full disk at all.
        assert free < (300 << 10), (
            "the 1 MiB cache disk never filled up (%d KiB free): nothing "
            "was cached?%s" % (free // 1024, gw_stderr(gw)))
    finally:
        try:
            if gw is not None:
                gw.stop()
        finally:
            umount(mnt)
