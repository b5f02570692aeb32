"""Crash loops: SIGKILL while 50 clients fill and evict a cache smaller than
the working set, restart on the same directory, and check what is left.

Each round: 50 client threads GET random objects of a set of 60 (64-256
KiB, about 9 MiB) through a gateway whose cache holds 3 MiB, so fills and
evictions run all the time; at a random moment (seeded, printed) the
gateway gets SIGKILL.  Then, with no gateway running:

  - fsck right after the kill finds no bad entry (the index points only at
    complete blobs; temp files and orphans may be there);
  - a gateway started on the directory sweeps it: tmp/ is empty, no entry
    is dropped; stopped again, fsck exits 0 with no bad entry and no
    orphan, and blobs/ holds exactly one file per entry;
  - a gateway started again serves every object of the set whole, with
    Swift's MD5, and keeps the cache under max_size; it takes the next
    round's load.

Every answer a client took whole before the kill had Swift's MD5 too.

`make test` runs 5 rounds; SWIFTGATE_CRASH_ROUNDS=N runs N (the soak runs
20: `make soak-crash`), SWIFTGATE_CRASH_SEED=S replays a seed.
"""

import os
import random
import re
import threading
import time

import fixtures
import httputil
from answers import describe, gw_stderr
from cachecheck import blob_bytes, fsck, fsck_summary, parallel_gets, streamed_get

OBJECTS = 60
CLIENTS = 50
MAX_SIZE = 3 << 20
# Each client stops after this many requests or this many seconds, even if
# the kill never came.
CLIENT_MAX_REQUESTS = 2000
CLIENT_MAX_SECONDS = 30.0


def rounds_wanted():
    text = os.environ.get("SWIFTGATE_CRASH_ROUNDS", "5")
    assert re.fullmatch(r"[1-9][0-9]{0,3}", text), (
        "SWIFTGATE_CRASH_ROUNDS must be a number from 1 to 9999: %r" % text)
    return int(text)


def seed_wanted():
    text = os.environ.get("SWIFTGATE_CRASH_SEED")
    if text is None:
        return random.SystemRandom().randrange(1 << 30)
    assert re.fullmatch(r"[0-9]{1,10}", text), (
        "SWIFTGATE_CRASH_SEED must be a number: %r" % text)
    return int(text)


def upload_set(saio, rng):
    """OBJECTS objects of 64-256 KiB in Swift; {name: etag}."""
    sizes = [rng.randrange(64 << 10, (256 << 10) + 1) for _ in range(OBJECTS)]
    base = rng.randrange(1 << 20)
    out = {}
    lock = threading.Lock()
    todo = list(enumerate(sizes))

    def uploader():
        while True:
            with lock:
                if not todo:
                    return
                i, size = todo.pop()
            data = fixtures.random_bytes(size, seed=base + i)
            name, etag = fixtures.upload(saio, data, "image/png")
            assert etag == fixtures.md5_hex(data), (name, etag)
            with lock:
                out[name] = etag

    threads = [threading.Thread(target=uploader) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(out) == OBJECTS, "uploaded %d of %d objects" % (len(out),
                                                               OBJECTS)
    return out


def one_get(host, port, name):
    """GET /fractal/<name> on a fresh connection; (status, x_cache, length,
    received, md5, error)."""
    return streamed_get(host, port, "/fractal/" + name)


class Load:
    """CLIENTS threads GETting random objects until stop() (or their own
    bounds); each answer is kept with whether it ended before stop()."""

    def __init__(self, gw, objects, seed):
        self.host, self.port, _ = httputil.split_url(gw.url)
        self.objects = objects
        self.names = sorted(objects)
        self.seed = seed
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.answers = []      # (name, before_stop, status, xc, ...)
        self.threads = [threading.Thread(target=self._client, args=(i,))
                        for i in range(CLIENTS)]

    def _client(self, idx):
        rng = random.Random(self.seed * 1000 + idx)
        deadline = time.monotonic() + CLIENT_MAX_SECONDS
        for _ in range(CLIENT_MAX_REQUESTS):
            if self.stopping.is_set() or time.monotonic() > deadline:
                return
            name = rng.choice(self.names)
            res = one_get(self.host, self.port, name)
            before = not self.stopping.is_set()
            with self.lock:
                self.answers.append((name, before) + res)

    def start(self):
        for t in self.threads:
            t.start()

    def stop(self):
        self.stopping.set()

    def join(self):
        for t in self.threads:
            t.join(CLIENT_MAX_SECONDS + 20)
        alive = sum(t.is_alive() for t in self.threads)
        assert alive == 0, "%d clients still running" % alive

    def check(self, where):
        """Every answer whole and right before the kill; none longer than
        its length after.  Returns (whole answers, those by X-Cache)."""
        whole = 0
        by_cache = {}
        for name, before, status, xc, length, got, md5, error in self.answers:
            assert length is None or got <= length, (
                "%s: %s: %d bytes received of a Content-Length of %d"
                % (where, name, got, length))
            if status == 200 and error is None and got == length:
                assert md5 == self.objects[name], (
                    "%s: %s: a whole body with MD5 %s, Swift's is %s"
                    % (where, name, md5, self.objects[name]))
                whole += 1
                by_cache[xc] = by_cache.get(xc, 0) + 1
                assert xc in ("HIT", "MISS", "PASS"), (where, name, xc)
            elif before:
                raise AssertionError(
                    "%s: %s before the kill: status %s, %s of %s bytes, %s"
                    % (where, name, status, got, length, error))
        return whole, by_cache


def tmp_files(cache_dir):
    try:
        return sorted(os.listdir(os.path.join(cache_dir, "tmp")))
    except FileNotFoundError:
        return []


def sweep_line(gw):
    """(temp files, orphans, broken entries) the start-up sweep removed,
    from the gateway's log line."""
    m = re.search(r"swept (\d+) temp files, (\d+) orphans, (\d+) broken "
                  r"entries", gw.stderr_text())
    assert m, "no sweep line in the gateway's log%s" % gw_stderr(gw)
    return tuple(int(g) for g in m.groups())


def check_after_kill(ctx, d, conf_path, where):
    """fsck on the killed cache, the start-up sweep, fsck again; returns
    (entries, temp files before the sweep, what the sweep removed)."""
    rc, out, err = fsck(ctx.bin, conf_path)
    entries, bad, _ = fsck_summary(d, rc, out, err,
                                   where + ", fsck right after SIGKILL")
    assert bad == 0, "%s: fsck right after SIGKILL found %d bad entries:\n" \
        "%s" % (where, bad, out[-3000:])
    temps = len(tmp_files(d))
    sweeper = ctx.gateway(cache={"dir": d, "max_size": MAX_SIZE})
    swept = sweep_line(sweeper)
    left = tmp_files(d)
    sweeper.stop()
    assert not left, "%s: tmp/ after the sweep: %s" % (where, left)
    assert swept[2] == 0, "%s: the sweep dropped %d broken entries%s" % (
        where, swept[2], gw_stderr(sweeper))
    rc, out, err = fsck(ctx.bin, sweeper.conf_path)
    after, bad, orphans = fsck_summary(d, rc, out, err,
                                       where + ", fsck after the sweep")
    assert (rc, after, bad, orphans) == (0, entries, 0, 0), (
        "%s: after the sweep fsck exits %d: %d entries, %d bad, %d orphans;"
        " want 0: %d, 0, 0\n%s" % (where, rc, after, bad, orphans, entries,
                                    out[-3000:]))
    files = blob_bytes(d)[1]
    assert files == entries, "%s: %d blob files for %d entries" % (
        where, files, entries)
    return entries, temps, swept


def check_every_object(gw, objects, where):
    """Every object served whole with Swift's MD5; (hits, misses+passes)."""
    hits = others = 0
    for name, resp in parallel_gets(gw, sorted(objects), 8):
        assert isinstance(resp, httputil.Response), (
            "%s: GET %s after restart: %r%s" % (where, name, resp,
                                               gw_stderr(gw)))
        assert resp.status == 200 and \
            fixtures.md5_hex(resp.body) == objects[name], (
                "%s: %s after restart: %s, want MD5 %s%s" % (
                    where, name, describe(resp), objects[name],
                    gw_stderr(gw)))
        xc = resp.headers.get("X-Cache")
        assert xc in ("HIT", "MISS", "PASS"), describe(resp)
        if xc == "HIT":
            hits += 1
        else:
            others += 1
    m = gw.metrics()
    entries = m["swiftgate_cache_entries"]
    held = m["swiftgate_cache_bytes"]
    assert held <= MAX_SIZE, "%s: %d bytes cached over max_size %d" % (
        where, held, MAX_SIZE)
    assert entries < len(objects), (
        "%s: %d entries for %d objects through a %d-byte cache: nothing "
        "was evicted" % (where, entries, len(objects), MAX_SIZE))
    return hits, others


def test_crash_loop_with_evictions(ctx):
    rounds = rounds_wanted()
    seed = seed_wanted()
    print("     crash loop: %d rounds, seed %d (SWIFTGATE_CRASH_SEED=%d "
          "replays it)" % (rounds, seed, seed))
    rng = random.Random(seed)
    objects = upload_set(ctx.saio, rng)
    d = os.path.join(ctx.tmpdir, "cache")
    conf = {"cache": {"dir": d, "max_size": MAX_SIZE},
            "server": {"workers": "2"}}
    gw = ctx.gateway(**conf)
    lines = []
    for rnd in range(1, rounds + 1):
        where = "round %d of %d (seed %d)" % (rnd, rounds, seed)
        load = Load(gw, objects, seed + rnd)
        at = rng.uniform(0.2, 1.5)
        load.start()
        time.sleep(at)
        load.stop()
        gw.kill9()
        load.join()
        whole, by_cache = load.check(where)
        assert whole > 0, "%s: no answer at all in %.2f s%s" % (
            where, at, gw_stderr(gw))
        entries, temps, swept = check_after_kill(ctx, d, gw.conf_path, where)
        gw = ctx.gateway(**conf)
        hits, others = check_every_object(gw, objects, where)
        lines.append("%2d: kill at %.2fs after %4d whole answers (%s); %2d "
                     "entries, %2d temp files; swept %d temp, %d orphans; "
                     "then %2d hits, %2d fetched" % (
                         rnd, at, whole, " ".join(
                             "%s %d" % kv for kv in sorted(by_cache.items())),
                         entries, temps, swept[0], swept[1], hits, others))
    gw.stop()
    rc, out, err = fsck(ctx.bin, gw.conf_path)
    fsck_summary(d, rc, out, err, "after the last clean stop")
    assert rc == 0, out[-3000:]
    print("     " + "\n     ".join(lines))
