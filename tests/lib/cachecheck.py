"""What a cache directory must hold after a crash, a sweep or a full disk,
as fsck and the files themselves tell it; and many GETs at once.

    rc, out, err = fsck(bin, conf_path)
    entries, bad, orphans = fsck_summary(cache_dir, rc, out, err, where)
    total, files = blob_bytes(cache_dir)
    for name, resp in parallel_gets(gw, names, 8): ...
    status, x_cache, length, got, md5, error = streamed_get(host, port, path)
    mount_tmpfs(mnt, "1m"); ...; umount(mnt)

Shared by the modules that kill, fill and starve the gateway.
"""

import hashlib
import http.client
import os
import re
import subprocess
import threading

import gateway
from answers import get


def fsck(bin, conf_path, repair=False):
    """`swiftgate fsck -c conf_path`; returns (rc, stdout, stderr)."""
    args = ["fsck", "-c", conf_path] + (["--repair"] if repair else [])
    return gateway.run(bin, args, timeout=60)


def blob_bytes(cache_dir):
    """Sum of the file sizes under <cache_dir>/blobs, and the file count."""
    total = files = 0
    root = os.path.join(cache_dir, "blobs")
    for dirpath, _dirs, names in os.walk(root):
        for n in names:
            try:
                total += os.stat(os.path.join(dirpath, n)).st_size
                files += 1
            except FileNotFoundError:
                pass
    return total, files


def fsck_summary(cache_dir, rc, out, err, where):
    """(entries, bad, orphans) from the last line fsck printed:
    "<dir>: N entries checked, N bad, N orphan files".  The line must be
    there, name cache_dir, and agree with the exit status (0 when nothing
    is bad and nothing orphaned, else 1)."""
    lines = out.rstrip("\n").splitlines()
    m = re.fullmatch(r"(.*): (\d+) entries checked, (\d+) bad, "
                     r"(\d+) orphan files", lines[-1] if lines else "")
    assert m, "%s: no fsck summary line (rc %d):\n%s%s" % (
        where, rc, out[-3000:], err[-1000:])
    assert m.group(1) == cache_dir, "%s: fsck checked %s, not %s" % (
        where, m.group(1), cache_dir)
    entries, bad, orphans = (int(g) for g in m.group(2, 3, 4))
    want_rc = 0 if bad == 0 and orphans == 0 else 1
    assert rc == want_rc, "%s: fsck exited %d after %r, want %d:\n%s%s" % (
        where, rc, lines[-1], want_rc, out[-3000:], err[-1000:])
    return entries, bad, orphans


def parallel_gets(gw, names, nthreads):
    """GET every name with nthreads threads; [(name, Response or error)]."""
    results = [None] * len(names)
    lock = threading.Lock()
    todo = list(range(len(names)))

    def worker():
        while True:
            with lock:
                if not todo:
                    return
                i = todo.pop()
            try:
                results[i] = get(gw, names[i], timeout=30)
            except (OSError, http.client.HTTPException) as e:
                results[i] = e

    threads = [threading.Thread(target=worker) for _ in range(nthreads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return list(zip(names, results))


def streamed_get(host, port, path, timeout=15.0):
    """GET path on a fresh connection, the body read in pieces and hashed as
    it comes, so a cut answer shows what it held; returns (status, x_cache,
    content_length, received, md5 hex, error): error is None,
    "IncompleteRead" or the name of what was raised."""
    status = length = xc = None
    md5 = hashlib.md5()
    got = 0
    error = None
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        status = resp.status
        xc = resp.getheader("X-Cache")
        cl = resp.getheader("Content-Length")
        length = int(cl) if cl is not None else None
        for _ in range(100000):
            chunk = resp.read(65536)
            if not chunk:
                break
            md5.update(chunk)
            got += len(chunk)
    except http.client.IncompleteRead as e:
        md5.update(e.partial)
        got += len(e.partial)
        error = "IncompleteRead"
    except (OSError, http.client.HTTPException) as e:
        error = type(e).__name__
    finally:
        conn.close()
    return status, xc, length, got, md5.hexdigest(), error


def mount_tmpfs(path, size):
    """A tmpfs of `size` ("1m") on path, made here; needs root."""
    if os.geteuid() != 0:
        raise AssertionError("needs root to mount a tmpfs")
    os.makedirs(path)
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=" + size, "tmpfs",
                          path], capture_output=True, text=True, timeout=20)
    assert res.returncode == 0, "mount tmpfs: %s" % res.stderr


def umount(path):
    """Unmount path, lazily if something still holds it."""
    res = subprocess.run(["umount", path], capture_output=True, text=True, timeout=20)
    if res.returncode != 0:
        subprocess.run(["umount", "-l", path], capture_output=True, timeout=20)
