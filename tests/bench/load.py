"""Load for `make bench`: wrk runs, timed single GETs, many concurrent
clients on one object, and thousands of slow readers.  Loopback only;
every loop is bounded in count and in time."""

import errno
import hashlib
import json
import os
import resource
import selectors
import socket
import subprocess
import threading
import time

import servers

HERE = os.path.dirname(os.path.abspath(__file__))
WRK_LUA = os.path.join(HERE, "wrk.lua")


class LoadError(RuntimeError):
    pass


# ---- wrk -----------------------------------------------------------------

def run_wrk(url, duration, connections=64, threads=2, paths_file=None,
            cpus=None, timeout="10s", sample=None, sample_every=1.0,
            on_start=None):
    """wrk -t threads -c connections -d duration --latency on url.

    paths_file: random path per request (wrk.lua).  cpus: wrk's affinity.
    sample: called every sample_every seconds while wrk runs (the caller
    reads server memory there).  Returns the BENCH_JSON dict plus "text"
    (wrk's own output) and "wall_s"."""
    argv = ["wrk", "-t%d" % threads, "-c%d" % connections,
            "-d%ds" % max(1, round(duration)), "--latency",
            "--timeout", timeout, "-s", WRK_LUA, url]
    env = dict(os.environ)
    env["BENCH_PATHS"] = paths_file or ""
    t0 = time.monotonic()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    with servers.pinned(cpus):
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env=env,
                                stdin=subprocess.DEVNULL)
    if on_start is not None:
        on_start(proc.pid)
    limit = t0 + duration + 60
    out = []
    reader = threading.Thread(target=lambda: out.append(proc.stdout.read()),
                              daemon=True)
    reader.start()
    next_sample = t0 + sample_every / 2
    while proc.poll() is None:
        now = time.monotonic()
        if now > limit:
            proc.kill()
            proc.wait()
            raise LoadError("wrk ran past %d s: %s" % (duration + 60,
                                                       " ".join(argv)))
        if sample is not None and now >= next_sample:
            sample()
            next_sample += sample_every
        time.sleep(0.05)
    reader.join(10)
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    text = (out[0] if out else b"").decode("utf-8", "replace")
    for line in text.splitlines():
        if line.startswith("BENCH_JSON "):
            res = json.loads(line[len("BENCH_JSON "):])
            res["text"] = text
            res["wall_s"] = time.monotonic() - t0
            res["pid"] = proc.pid
            res["wrk_cpu_s"] = (ru1.ru_utime + ru1.ru_stime
                                - ru0.ru_utime - ru0.ru_stime)
            return res
    raise LoadError("wrk printed no summary (exit %s):\n%s"
                    % (proc.returncode, text[-2000:]))


# ---- one GET, timed ------------------------------------------------------

def _send_get(s, path, headers):
    """One GET on socket s, Connection: close, no Nagle delay."""
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    req = "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n" % path
    for k, v in (headers or {}).items():
        req += "%s: %s\r\n" % (k, v)
    req += "Connection: close\r\n\r\n"
    s.sendall(req.encode())


def _read_head(sock, deadline):
    buf = b""
    first = None
    while b"\r\n\r\n" not in buf:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            break
        if first is None:
            first = time.monotonic()
        buf += chunk
    status, headers, rest, _ = _parse_head(buf)
    return status, headers, rest, first


def timed_get(port, path, headers=None, t0=None, timeout=120.0,
              read_pause=0.0):
    """GET path from 127.0.0.1:port over a fresh connection.

    Returns a dict: status, headers (lower-case names), ttfb_s (first
    response byte), total_s (last body byte), bytes (body), complete
    (body == Content-Length).  Times count from t0 (default: just before
    the connect)."""
    deadline = time.monotonic() + timeout
    if t0 is None:
        t0 = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        _send_get(s, path, headers)
        status, hdrs, rest, first = _read_head(s, deadline)
        length = int(hdrs.get("content-length", "-1") or -1)
        got = len(rest)
        buf = bytearray(1 << 20)
        while length < 0 or got < length:
            if time.monotonic() > deadline:
                break
            if read_pause:
                time.sleep(read_pause)
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                n = s.recv_into(buf)
            except socket.timeout:
                break
            if n == 0:
                break
            got += n
        end = time.monotonic()
    finally:
        s.close()
    return {"status": status, "headers": hdrs,
            "ttfb_s": (first - t0) if first else None,
            "total_s": end - t0, "bytes": got,
            "complete": length >= 0 and got == length}


def timed_get_body(port, path, headers=None, timeout=60.0,
                   max_bytes=256 << 20, digest=True):
    """timed_get() that also keeps the body, to check it: the bytes go
    into one buffer allocated before the clock runs out (Content-Length)
    or grow one as they come (chunked, or no length: until EOF), and the
    MD5 is taken after the last byte, so hashing is not in the time.

    Returns timed_get()'s dict plus "md5" (hex of the body as received,
    chunked framing removed; None if there was none or it was cut short)
    and "error" (None, or what went wrong: connect, timeout, framing).
    digest=False: no "md5" but "body", the bytes, for the caller to hash
    (after it has read the CPU clocks, say)."""
    deadline = time.monotonic() + timeout
    t0 = time.monotonic()
    out = {"status": 0, "headers": {}, "ttfb_s": None, "total_s": None,
           "bytes": 0, "complete": False, "md5": None, "error": None}
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except OSError as e:
        out["error"] = "connect: %s" % e
        out["total_s"] = time.monotonic() - t0
        return out
    body = None
    chunked = False
    try:
        _send_get(s, path, headers)
        status, hdrs, rest, first = _read_head(s, deadline)
        out.update(status=status, headers=hdrs,
                   ttfb_s=(first - t0) if first else None)
        chunked = "chunked" in hdrs.get("transfer-encoding", "").lower()
        length = -1 if chunked else int(hdrs.get("content-length", "-1")
                                        or -1)
        if length > max_bytes:
            raise LoadError("Content-Length %d over the %d-byte limit"
                            % (length, max_bytes))
        if length >= 0:
            body = bytearray(length)
            view = memoryview(body)
            got = min(len(rest), length)
            view[:got] = rest[:got]
            while got < length:
                if time.monotonic() > deadline:
                    raise socket.timeout("timed out")
                s.settimeout(max(0.01, deadline - time.monotonic()))
                n = s.recv_into(view[got:])
                if n == 0:
                    break
                got += n
            view.release()
        else:
            body = bytearray(rest)
            buf = bytearray(1 << 20)
            while len(body) <= max_bytes + (1 << 20):
                if time.monotonic() > deadline:
                    raise socket.timeout("timed out")
                s.settimeout(max(0.01, deadline - time.monotonic()))
                n = s.recv_into(buf)
                if n == 0:
                    break
                body += buf[:n]
                if chunked and body.endswith(b"0\r\n\r\n") and \
                        _dechunk(body) is not None:
                    break
            got = len(body)
        out["total_s"] = time.monotonic() - t0
        if chunked:
            raw = body
            body = _dechunk(raw)
            if body is None:
                out["error"] = "chunked body cut short or malformed " \
                               "(%d bytes of framing and data)" % len(raw)
                out["bytes"] = len(raw)
                return out
            got = len(body)
            out["complete"] = True
        else:
            out["complete"] = length >= 0 and got == length
        out["bytes"] = got
        if length >= 0 and got < length:
            out["error"] = "closed after %d of %d bytes" % (got, length)
    except (OSError, LoadError) as e:
        out["total_s"] = time.monotonic() - t0
        out["error"] = "%s: %s" % (type(e).__name__, e)
        return out
    finally:
        s.close()
    if out["complete"]:
        if digest:
            out["md5"] = hashlib.md5(body[:out["bytes"]]).hexdigest()
        else:
            out["body"] = body
    return out


def _dechunk(raw):
    """The data of a whole chunked body (trailers dropped), or None if it
    is cut short or malformed."""
    out = bytearray()
    pos = 0
    for _ in range(10_000_000):
        eol = raw.find(b"\r\n", pos)
        if eol < 0:
            return None
        try:
            size = int(bytes(raw[pos:eol]).split(b";", 1)[0].strip(), 16)
        except ValueError:
            return None
        pos = eol + 2
        if size == 0:
            return out if raw.find(b"\r\n\r\n", eol) >= 0 or \
                raw[pos:pos + 2] == b"\r\n" else None
        if pos + size + 2 > len(raw) or raw[pos + size:pos + size + 2] \
                != b"\r\n":
            return None
        out += raw[pos:pos + size]
        pos += size + 2
    return None


def concurrent_gets(port, path, n, headers=None, timeout=120.0):
    """n clients GET the same path at once, from one thread: connect all
    n first, then send the n requests back to back, then read every
    response with a selector (one recv per ready socket per round, so no
    client's first byte waits behind another's body).  Threads would add
    their own wake-up jitter to the first-byte times.

    Returns one dict per client as timed_get() does, times counted from
    just before the first request was sent; "sent_s" is when this
    client's request went out."""
    deadline = time.monotonic() + timeout
    extra = "".join("%s: %s\r\n" % kv for kv in (headers or {}).items())
    req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%sConnection: close"
           "\r\n\r\n" % (path, extra)).encode()
    clients = []
    sel = selectors.DefaultSelector()
    try:
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            clients.append({"sock": s, "head": b"", "status": 0,
                            "headers": {}, "length": -1, "bytes": 0,
                            "first": None, "end": None, "done": False})
        t0 = time.monotonic()
        for c in clients:
            c["sock"].sendall(req)
            c["sent"] = time.monotonic() - t0
            c["sock"].setblocking(False)
            sel.register(c["sock"], selectors.EVENT_READ, c)
        buf = bytearray(256 << 10)
        left = n
        while left and time.monotonic() < deadline:
            events = sel.select(timeout=0.5)
            # One timestamp for the whole batch: the data of every socket
            # in it had arrived when select returned.
            now = time.monotonic()
            for key, _ in events:
                c = key.data
                try:
                    k = c["sock"].recv_into(buf)
                except BlockingIOError:
                    continue
                except OSError:
                    k = 0
                if k and c["first"] is None:
                    c["first"] = now - t0
                if k and c["length"] < 0 and not c["status"]:
                    c["head"] += bytes(buf[:k])
                    if b"\r\n\r\n" in c["head"]:
                        st, hd, rest, _ = _parse_head(c["head"])
                        c["status"], c["headers"] = st, hd
                        c["length"] = int(hd.get("content-length", "-1")
                                          or -1)
                        c["bytes"] = len(rest)
                        c["head"] = b""
                elif k:
                    c["bytes"] += k
                finished = (k == 0 or (c["length"] >= 0
                                       and c["bytes"] >= c["length"]))
                if finished:
                    c["end"] = now - t0
                    c["done"] = True
                    sel.unregister(c["sock"])
                    left -= 1
    finally:
        for c in clients:
            c["sock"].close()
        sel.close()
    return [{"status": c["status"], "headers": c["headers"],
             "ttfb_s": c["first"], "total_s": c["end"], "bytes": c["bytes"],
             "sent_s": c.get("sent"),
             "complete": c["length"] >= 0 and c["bytes"] == c["length"],
             "error": None if c["done"] else "timed out"}
            for c in clients]


def _parse_head(buf):
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = 0
    if lines and lines[0].startswith(b"HTTP/"):
        try:
            status = int(lines[0].split(b" ", 2)[1])
        except (IndexError, ValueError):
            status = 0
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers[k.strip().decode("latin-1").lower()] = \
            v.strip().decode("latin-1")
    return status, headers, rest, None


# ---- slow readers --------------------------------------------------------

def slow_readers(port, paths, n, read_bytes=64 << 10, hold_s=3.0,
                 connect_budget_s=20.0, sample=None):
    """Open n connections to 127.0.0.1:port, each GETting one of paths
    (round robin), read the head and read_bytes of the body, then stop
    reading.  hold_s after the last one got its bytes (or the budget ran
    out), call sample() and close them all (RST).

    Returns {"opened", "answered" (status line seen), "status" {code: n},
    "reading" (got read_bytes), "sample" (what sample() returned),
    "elapsed_s"}."""
    sel = selectors.DefaultSelector()
    conns = {}
    t0 = time.monotonic()
    deadline = t0 + connect_budget_s
    stats = {"opened": 0, "answered": 0, "status": {}, "reading": 0,
             "errors": 0}
    batch = 256
    pending = list(range(n))
    result = None
    try:
        while (pending or any(not c["done"] for c in conns.values())) \
                and time.monotonic() < deadline:
            # Open a batch of connections while few are mid-connect.
            inflight = sum(1 for c in conns.values() if c["state"] < 2)
            while pending and inflight < batch:
                i = pending.pop(0)
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
                s.setblocking(False)
                rc = s.connect_ex(("127.0.0.1", port))
                if rc not in (0, errno.EINPROGRESS):
                    s.close()
                    stats["errors"] += 1
                    continue
                c = {"sock": s, "state": 0, "buf": b"", "got": 0,
                     "done": False,
                     "req": ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                             % paths[i % len(paths)]).encode()}
                conns[s.fileno()] = c
                sel.register(s, selectors.EVENT_WRITE, c)
                inflight += 1
            for key, ev in sel.select(timeout=0.05):
                c = key.data
                s = c["sock"]
                try:
                    if c["state"] == 0:
                        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                        if err:
                            raise OSError(err, os.strerror(err))
                        stats["opened"] += 1
                        s.send(c["req"])
                        c["state"] = 1
                        sel.modify(s, selectors.EVENT_READ, c)
                    else:
                        data = s.recv(65536)
                        if not data:
                            raise OSError("closed by the server")
                        if c["state"] == 1:
                            c["buf"] += data
                            if b"\r\n\r\n" in c["buf"]:
                                head, _, rest = c["buf"].partition(b"\r\n\r\n")
                                parts = head.split(b" ", 2)
                                code = int(parts[1]) if len(parts) > 1 else 0
                                stats["answered"] += 1
                                stats["status"][code] = \
                                    stats["status"].get(code, 0) + 1
                                c["state"] = 2
                                c["got"] = len(rest)
                                c["buf"] = b""
                        else:
                            c["got"] += len(data)
                        if c["state"] == 2 and c["got"] >= read_bytes:
                            c["done"] = True
                            stats["reading"] += 1
                            sel.unregister(s)   # stall: read no more
                except OSError:
                    stats["errors"] += 1
                    c["done"] = True
                    c["state"] = 3
                    try:
                        sel.unregister(s)
                    except (KeyError, ValueError):
                        pass
        settle_end = time.monotonic() + hold_s
        while time.monotonic() < settle_end:
            time.sleep(0.1)
        if sample is not None:
            result = sample()
    finally:
        for c in conns.values():
            s = c["sock"]
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                             b"\x01\x00\x00\x00\x00\x00\x00\x00")
            except OSError:
                pass
            s.close()
        sel.close()
    stats["sample"] = result
    stats["elapsed_s"] = time.monotonic() - t0
    return stats
