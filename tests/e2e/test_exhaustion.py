"""Exhaustion: the gateway out of disk, of index, of descriptors and of
memory, under concurrent misses against the real Swift.

Whatever runs out, each client gets either the whole object with Swift's
MD5 (X-Cache MISS, HIT or PASS) or a 503 with a reason, never a cut or
corrupt body, the process does not die, and /metrics counts why
(swiftgate_errors_total kind cache_write, index_full, out_of_files or
out_of_memory).  Memory is watched against RLIMIT_AS and max_memory
(gateway/memguard.h): near either, misses and then new connections are
refused while hits go on.
"""

import os
import socket
import subprocess
import time

import fixtures
import httputil
import rawhttp
from answers import get, gw_stderr
from cachecheck import fsck, fsck_summary, mount_tmpfs, parallel_gets, umount
from waits import wait_until


def upload_many(saio, count, size, seed):
    """count objects of size bytes; {name: etag}."""
    out = {}
    for i in range(count):
        data = fixtures.random_bytes(size, seed=seed + i)
        name, etag = fixtures.upload(saio, data, "image/png")
        out[name] = etag
    return out


def judge(results, objects, where, reason=None):
    """Every answer whole and right, or (when reason is given) a 503 saying
    reason.  Returns {"MISS": n, "HIT": n, "PASS": n, "503": n}."""
    seen = {}
    for name, resp in results:
        assert isinstance(resp, httputil.Response), (
            "%s: GET %s: %r (a cut or refused answer)" % (where, name, resp))
        if resp.status == 503 and reason is not None:
            assert resp.body.decode("utf-8", "replace").strip() == \
                "503 " + reason, (where, name, resp.body[:200])
            key = "503"
        else:
            assert resp.status == 200 and \
                fixtures.md5_hex(resp.body) == objects[name], (
                    "%s: %s: %d, %d bytes, MD5 %s; want 200 with MD5 %s" % (
                        where, name, resp.status, len(resp.body),
                        fixtures.md5_hex(resp.body), objects[name]))
            key = resp.headers.get("X-Cache")
            assert key in ("MISS", "HIT", "PASS"), (where, name, key)
        seen[key] = seen.get(key, 0) + 1
    return seen


def errors(gw, *kinds):
    return tuple(int(gw.error_count(k)) for k in kinds)


# -- the disk -------------------------------------------------------------------

def test_full_disk_under_concurrent_fills(ctx):
    """A 2 MiB tmpfs for a cache whose max_size is 64M: 24 objects of 200
    KiB, 16 clients at once, twice; then SIGKILL and a restart on the full
    disk, which must sweep, pass fsck and serve again."""
    mnt = os.path.join(ctx.tmpdir, "small")
    mount_tmpfs(mnt, "2m")
    gws = []
    try:
        objects = upload_many(ctx.saio, 24, 200 << 10, 9100)
        names = sorted(objects)
        d = os.path.join(mnt, "cache")
        conf = {"cache": {"dir": d, "max_size": "64M"},
                "server": {"workers": "2"}}
        gw = ctx.gateway(**conf)
        gws.append(gw)
        seen = {}
        for rnd in range(2):
            got = judge(parallel_gets(gw, names, 16), objects,
                        "full disk, pass %d" % (rnd + 1))
            for k, v in got.items():
                seen[k] = seen.get(k, 0) + v
        cache_write, no_files = errors(gw, "cache_write", "out_of_files")
        st = os.statvfs(mnt)
        free = st.f_bavail * st.f_frsize
        print("     2 MiB tmpfs, 48 GETs: %s; cache_write %d; %d KiB free"
              % (seen, cache_write, free // 1024))
        assert seen.get("PASS", 0) > 0 and cache_write > 0, (
            "the disk never filled: %s, cache_write %d%s"
            % (seen, cache_write, gw_stderr(gw)))
        assert no_files == 0, no_files
        gw.kill9()
        gw = ctx.gateway(**conf)
        gws.append(gw)
        assert not os.listdir(os.path.join(d, "tmp"))
        got = judge(parallel_gets(gw, names, 16), objects,
                    "full disk, after SIGKILL and restart")
        gw.stop()
        rc, out, err = fsck(ctx.bin, gw.conf_path)
        entries, bad, orphans = fsck_summary(d, rc, out, err,
                                             "full disk, fsck")
        assert (rc, bad, orphans) == (0, 0, 0), out[-2000:]
        print("     after SIGKILL on the full disk: %s; fsck: %d entries"
              % (got, entries))
    finally:
        try:
            for g in gws:
                g.stop()
        finally:
            umount(mnt)


# -- the index ------------------------------------------------------------------

def test_index_map_full(ctx):
    """index_size 64K (the least) holds a few dozen entries: 120 objects
    through it are all served whole, the map-full commits are counted as
    index_full, and after a restart every entry the index kept is a hit."""
    objects = upload_many(ctx.saio, 120, 1000, 9300)
    names = sorted(objects)
    d = os.path.join(ctx.tmpdir, "cache")
    conf = {"cache": {"dir": d, "index_size": "64K"},
            "server": {"workers": "2"}}
    gw = ctx.gateway(**conf)
    seen = judge(parallel_gets(gw, names, 16), objects, "index full")
    again = judge(parallel_gets(gw, names, 16), objects,
                  "index full, second pass")
    full, cache_write = errors(gw, "index_full", "cache_write")
    entries = int(gw.metrics()["swiftgate_cache_entries"])
    print("     index_size 64K, 2 x 120 GETs: %s then %s; index_full %d, "
          "cache_write %d; %d entries" % (seen, again, full, cache_write,
                                          entries))
    assert full > 0, "the map never filled%s" % gw_stderr(gw)
    assert 0 < entries < len(names), entries
    assert "index full (raise index_size)" in gw.stderr_text()
    gw.stop()
    rc, out, err = fsck(ctx.bin, gw.conf_path)
    kept, bad, orphans = fsck_summary(d, rc, out, err, "index full, fsck")
    assert (rc, bad, orphans) == (0, 0, 0) and kept == entries, out[-2000:]
    gw = ctx.gateway(**conf)
    assert gw.metrics()["swiftgate_cache_entries"] == kept
    # A purge finds what the index kept (200) or nothing (404); on a map
    # too full even to delete from after evicting a tenth, it is refused
    # with a reason (503), never a 500.
    statuses = {}
    for n in names:
        r = httputil.request("DELETE", gw.admin_url + "/cache/fractal/" + n,
                             timeout=10)
        if r.status == 503:
            assert r.body == b"503 cache index full; try again\n", r.body
        else:
            assert r.status in (200, 404), (n, r, r.body[:200])
        statuses[r.status] = statuses.get(r.status, 0) + 1
    assert statuses.get(200, 0) + statuses.get(503, 0) >= 1, statuses
    assert statuses.get(200, 0) <= kept, (statuses, kept)
    after = judge(parallel_gets(gw, names, 16), objects,
                  "index full, restart")
    print("     after a restart: purges %s; %s" % (statuses, after))


# -- descriptors --------------------------------------------------------------------

def test_out_of_descriptors_while_filling(ctx):
    """RLIMIT_NOFILE of the running gateway set to what it holds plus 30,
    then 40 clients miss at once: temp files, followers' copies of them
    and sockets to Swift run short.  Each answer is whole or a 503 saying
    why, counted as out_of_files; with the limit back, all are served."""
    objects = upload_many(ctx.saio, 60, 100 << 10, 9500)
    names = sorted(objects)
    gw = ctx.gateway(server={"workers": "1"})
    judge([(names[0], get(gw, names[0]))], objects, "warm-up")
    pid = gw.proc.pid
    before = subprocess.run(["prlimit", "--pid", str(pid), "--nofile", "--raw",
                             "--noheadings", "--output=SOFT,HARD"],
                            capture_output=True, text=True, check=True,
                            timeout=10).stdout.split()
    held = len(os.listdir("/proc/%d/fd" % pid))
    limit = held + 30
    # The soft limit only: a hard one lowered cannot be raised again
    # without CAP_SYS_RESOURCE.
    subprocess.run(["prlimit", "--pid", str(pid),
                    "--nofile=%d:%s" % (limit, before[1])], check=True,
                   timeout=10)
    seen = judge(parallel_gets(gw, names, 40), objects,
                 "%d descriptors" % limit, "out of file descriptors; try again")
    no_files, = errors(gw, "out_of_files")
    print("     RLIMIT_NOFILE %d (%d held), 40 clients, 60 cold objects: %s;"
          " out_of_files %d" % (limit, held, seen, no_files))
    assert seen.get("503", 0) + seen.get("PASS", 0) > 0 and no_files > 0, (
        "descriptors never ran out: %s%s" % (seen, gw_stderr(gw)))
    subprocess.run(["prlimit", "--pid", str(pid), "--nofile=%s:%s" % tuple(
        before)], check=True, timeout=10)
    judge(parallel_gets(gw, names, 8), objects, "descriptors back")


# -- memory ---------------------------------------------------------------------------

OOM = "out of memory; try again"


def sanitized(bin):
    """Whether bin is an ASan build (it cannot run under RLIMIT_AS)."""
    with open(bin, "rb") as f:
        return b"AddressSanitizer" in f.read()


def vm_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s in /proc/%d/status" % (field, pid))


def set_as_limit(pid, soft, hard):
    """RLIMIT_AS of the running process; then a wait past the gateway's
    sample period (50 ms), after which its level follows the new limit."""
    subprocess.run(["prlimit", "--pid", str(pid), "--as=%s:%s" % (soft, hard)],
                   check=True, timeout=10)
    time.sleep(0.1)


def gw_addr(gw):
    host, port, _ = httputil.split_url(gw.url)
    return host, port


def refused_for_memory(resp):
    """A 503 saying out of memory, with Retry-After (an httputil or a
    rawhttp response)."""
    fields = getattr(resp, "headers", resp)
    return (resp.status == 503 and fields.get("Retry-After") == "1"
            and resp.body == ("503 %s\n" % OOM).encode())


def hit_on(conn, name, objects, where):
    """GET name on a kept-alive rawhttp.Raw: a whole HIT."""
    r = conn.request("GET", "/fractal/" + name)
    assert r.status == 200 and r.get("X-Cache") == "HIT" and \
        fixtures.md5_hex(r.body) == objects[name], (where, r)


def test_bounded_memory_under_an_address_space_limit(ctx):
    """RLIMIT_AS of the running gateway set to its size plus 32 MiB, then
    40 clients at once on 40 cold 1 MiB objects, then on them again: what
    a busy gateway needs fits, so every answer is whole (a 503 out of
    memory would be allowed, but is not expected) and the process alive."""
    if sanitized(ctx.bin):
        print("     skipped: an ASan build cannot run under RLIMIT_AS")
        return
    objects = upload_many(ctx.saio, 40, 1 << 20, 9750)
    names = sorted(objects)
    gw = ctx.gateway(server={"workers": "2"})
    judge([(names[0], get(gw, names[0]))], objects, "warm-up")
    pid = gw.proc.pid
    size = vm_kib(pid, "VmSize")
    limit = (size << 10) + (32 << 20)
    set_as_limit(pid, limit, limit)
    seen = {}
    for rnd in range(2):
        got = judge(parallel_gets(gw, names, 40), objects,
                    "RLIMIT_AS, pass %d" % (rnd + 1), OOM)
        for k, v in got.items():
            seen[k] = seen.get(k, 0) + v
    assert gw.proc.poll() is None, gw_stderr(gw)
    print("     RLIMIT_AS VmSize+32 MiB (%d MiB): 80 GETs of 1 MiB: %s; "
          "VmSize %d -> %d KiB, VmHWM %d KiB" % (
              limit >> 20, seen, size, vm_kib(pid, "VmSize"),
              vm_kib(pid, "VmHWM")))
    # The warmed-up object is a hit; every other one was fetched once.
    assert seen.get("MISS", 0) + seen.get("PASS", 0) >= len(names) - 1, seen


def misses_served(gw, names, objects):
    """GET names at once: True when all are whole, False while some are
    refused for memory (a 503 saying so, or a connection closed before the
    request was read)."""
    results = parallel_gets(gw, names, len(names))
    if not all(isinstance(r, httputil.Response) for _, r in results):
        return False
    return judge(results, objects, "recovery", OOM).get("503", 0) == 0


def test_address_space_limit_sheds_load_and_recovers(ctx):
    """RLIMIT_AS set on the running gateway (prlimit), in three steps.
    12 MiB of address space left (under the 16 MiB reserve): 24 clients
    missing at once all get 503 out of memory with Retry-After, while a
    kept-alive client and new connections get hits.  4 MiB left (under 8):
    new connections get the same 503 and a close, the kept-alive client
    still gets hits, /metrics still answers.  The limit lifted: every
    object is served whole.  The process never dies; SIGTERM ends it with
    0 (checked after the test)."""
    if sanitized(ctx.bin):
        print("     skipped: an ASan build cannot run under RLIMIT_AS")
        return
    objects = upload_many(ctx.saio, 25, 256 << 10, 9700)
    names = sorted(objects)
    hot, cold = names[0], names[1:]
    gw = ctx.gateway(server={"workers": "2"})
    judge([(hot, get(gw, hot))], objects, "warm-up")
    kept = rawhttp.Raw(gw_addr(gw))
    hit_on(kept, hot, objects, "before the limit")
    pid = gw.proc.pid
    hard = subprocess.run(["prlimit", "--pid", str(pid), "--as", "--raw",
                           "--noheadings", "--output=HARD"], capture_output=True,
                          text=True, check=True, timeout=10).stdout.strip()

    set_as_limit(pid, (vm_kib(pid, "VmSize") << 10) + (12 << 20), hard)
    got = judge(parallel_gets(gw, cold, 24), objects, "12 MiB left", OOM)
    assert got == {"503": len(cold)}, got
    judge(parallel_gets(gw, [hot] * 8, 8), objects, "12 MiB left, hits")
    hit_on(kept, hot, objects, "12 MiB left")
    assert int(gw.error_count("out_of_memory")) == len(cold)

    set_as_limit(pid, (vm_kib(pid, "VmSize") << 10) + (4 << 20), hard)
    refused = 0
    for _ in range(8):
        with rawhttp.Raw(gw_addr(gw)) as c:
            r = c.request("GET", "/fractal/" + hot)
            assert refused_for_memory(r) and r.get("Connection") == "close", r
            assert c.closed(), "a refused connection stays open"
            refused += 1
    hit_on(kept, hot, objects, "4 MiB left")
    oom = int(gw.error_count("out_of_memory"))
    assert oom == len(cold) + refused, (oom, len(cold), refused)
    assert "refusing new misses and new connections" in gw.stderr_text()

    set_as_limit(pid, hard, hard)
    wait_until(lambda: misses_served(gw, cold[:4], objects), 5.0,
               "misses served again after the limit went")
    seen = judge(parallel_gets(gw, cold, 8), objects, "the limit lifted")
    hit_on(kept, hot, objects, "the limit lifted")
    kept.close()
    print("     RLIMIT_AS VmSize+12 MiB: %d misses refused, hits served; "
          "VmSize+4 MiB: %d connections refused; lifted: %s; out_of_memory "
          "%d" % (len(cold), refused, seen, oom))
    assert gw.proc.poll() is None, gw_stderr(gw)


def open_until_refused(gw, most, deadline_s):
    """Open connections (sending nothing) until the gateway answers one
    with its out-of-memory 503, most of them or deadline_s at most.
    Returns (open sockets, the refusal's bytes or None)."""
    socks = []
    t_end = time.monotonic() + deadline_s
    while len(socks) < most and time.monotonic() < t_end:
        batch = [socket.create_connection(gw_addr(gw), timeout=10)
                 for _ in range(50)]
        socks += batch
        time.sleep(0.1)     # past a sample period: the level is fresh
        for s in batch:
            s.setblocking(False)
            try:
                data = s.recv(4096)
            except BlockingIOError:
                continue
            return socks, data
    return socks, None


def test_max_memory_refuses_what_does_not_fit(ctx):
    """max_memory a few MiB above what a warmed-up gateway holds; then idle
    connections opened 50 at a time, until the resident memory they take
    passes the watermarks: a client connected before gets hits but its
    misses 503 out of memory, new connections get the 503 and a close,
    all counted as out_of_memory.  The idle connections closed, the
    gateway takes misses and connections again (its free heap pages go
    back to the kernel at the next upkeep)."""
    objects = upload_many(ctx.saio, 4, 64 << 10, 9800)
    names = sorted(objects)
    hot, cold = names[0], names[1:]
    probe = ctx.gateway(server={"workers": "2"})
    judge([(hot, get(probe, hot))], objects, "probe")
    base = vm_kib(probe.proc.pid, "RssAnon") << 10
    probe.stop()
    # Misses stop at 7/8 of max_memory: base + 4 MiB.
    budget = (base + (4 << 20)) * 8 // 7
    gw = ctx.gateway(server={"workers": "2", "max_memory": str(budget)})
    judge([(hot, get(gw, hot))], objects, "warm-up")
    kept = rawhttp.Raw(gw_addr(gw))
    hit_on(kept, hot, objects, "before the load")
    socks, refusal = open_until_refused(gw, 6000, 60.0)
    try:
        anon = vm_kib(gw.proc.pid, "RssAnon")
        assert refusal is not None, (
            "%d idle connections, RssAnon %d KiB of max_memory %d KiB: "
            "never refused%s" % (len(socks), anon, budget >> 10, gw_stderr(gw)))
        assert refusal.startswith(b"HTTP/1.1 503 ") and \
            refusal.endswith(("\r\n\r\n503 %s\n" % OOM).encode()), refusal
        hit_on(kept, hot, objects, "at the watermark")
        r = kept.request("GET", "/fractal/" + cold[0])
        assert refused_for_memory(r), r
        oom = int(gw.error_count("out_of_memory"))
        assert oom >= 2, oom
    finally:
        for s in socks:
            s.close()
    if sanitized(ctx.bin):
        # ASan's allocator keeps what was freed resident (its quarantine,
        # its own free lists): the usage never drops, nothing to judge.
        print("     RssAnon %d KiB after %d idle connections, refused; "
              "recovery not judged under ASan" % (anon, len(socks)))
        kept.close()
        return
    served = wait_until(lambda: misses_served(gw, cold, objects), 10.0)
    print("     max_memory %d KiB (RssAnon %d KiB at the start): refused "
          "after %d idle connections at RssAnon %d KiB; out_of_memory %d; "
          "misses served after they closed: %s" % (
              budget >> 10, base >> 10, len(socks), anon, oom, served))
    assert served, "misses still refused after the connections closed%s" % (
        gw_stderr(gw))
    hit_on(kept, hot, objects, "after the load")
    kept.close()
