"""Exhaustion: the gateway out of disk, of index, of descriptors and of
address space, under concurrent misses against the real Swift.

Whatever runs out, each client gets either the whole object with Swift's
MD5 (X-Cache MISS, HIT or PASS) or a 503 with a reason, never a cut or
corrupt body, the process does not die, and /metrics counts why
(swiftgate_errors_total kind cache_write, index_full or out_of_files).
Out of memory is the exception by design: an allocation that fails aborts
(the gateway dies rather than run on in a broken state), so that case
checks that the memory a busy gateway needs is bounded, not what happens
past the bound.
"""

import os
import subprocess

import fixtures
import httputil
from answers import get, gw_stderr
from cachecheck import fsck, fsck_summary, mount_tmpfs, parallel_gets, umount


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


def test_bounded_memory_under_an_address_space_limit(ctx):
    """RLIMIT_AS of the running gateway set to its size plus 32 MiB, then
    40 clients at once on 40 cold 1 MiB objects, then on them again: every
    answer whole, the process alive.  (Past the bound, a failed allocation
    aborts by design; nothing to count.)"""
    if sanitized(ctx.bin):
        print("     skipped: an ASan build cannot run under RLIMIT_AS")
        return
    objects = upload_many(ctx.saio, 40, 1 << 20, 9700)
    names = sorted(objects)
    gw = ctx.gateway(server={"workers": "2"})
    judge([(names[0], get(gw, names[0]))], objects, "warm-up")
    pid = gw.proc.pid
    size = vm_kib(pid, "VmSize")
    limit = (size << 10) + (32 << 20)
    subprocess.run(["prlimit", "--pid", str(pid), "--as=%d:%d" % (limit,
                                                                   limit)],
                   check=True, timeout=10)
    seen = {}
    for rnd in range(2):
        got = judge(parallel_gets(gw, names, 40), objects,
                    "RLIMIT_AS, pass %d" % (rnd + 1))
        for k, v in got.items():
            seen[k] = seen.get(k, 0) + v
    assert gw.proc.poll() is None, gw_stderr(gw)
    print("     RLIMIT_AS VmSize+32 MiB (%d MiB): 80 GETs of 1 MiB: %s; "
          "VmSize %d -> %d KiB, VmHWM %d KiB" % (
              limit >> 20, seen, size, vm_kib(pid, "VmSize"),
              vm_kib(pid, "VmHWM")))
    # The warmed-up object is a hit; every other one was fetched once.
    assert seen.get("MISS", 0) + seen.get("PASS", 0) >= len(names) - 1, seen
