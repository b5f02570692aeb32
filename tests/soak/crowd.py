"""Many connections at once: N keep-alive clients all open together, and
slowloris clients that send one header byte a second while normal clients
are served.  Each returns (ok, lines) for the report."""

import asyncio
import collections
import random
import time

import aclient
import figures


async def _connect_all(host, port, n, parallel, deadline):
    """n connections, at most `parallel` connects at a time; [Conn]."""
    sem = asyncio.Semaphore(parallel)
    conns = []

    async def one():
        async with sem:
            for _ in range(20):
                if time.monotonic() > deadline:
                    break
                try:
                    conns.append(await aclient.Conn.open(host, port))
                    return
                except aclient.ClientError:
                    await asyncio.sleep(0.2)

    await asyncio.gather(*(one() for _ in range(n)))
    return conns


async def _keepalive(gw, host, port, objs, n, rounds, log):
    deadline = time.monotonic() + 300
    t0 = time.monotonic()
    conns = await _connect_all(host, port, n, 256, deadline)
    t_conn = time.monotonic() - t0
    loop = asyncio.get_running_loop()
    lat = []
    errors = collections.Counter()
    open_peak = 0

    async def use(i, conn, r):
        obj = objs[(i + r) % len(objs)]
        try:
            resp = await conn.request("GET", obj.path, timeout=120)
        except aclient.ClientError as e:
            errors[e.kind] += 1
            return
        if resp.status != 200 or resp.body != obj.data:
            errors["wrong_answer"] += 1
        elif not resp.keepalive:
            errors["not_kept_alive"] += 1
        lat.append(resp.latency)

    for r in range(rounds):
        await asyncio.gather(*(use(i, c, r) for i, c in enumerate(conns)))
        m = await loop.run_in_executor(None, gw.metrics)
        open_peak = max(open_peak, int(m["swiftgate_connections_open"]))
        log("  round %d: %d requests on %d connections, open on the "
            "gateway %d, p99 %s ms" % (r + 1, len(conns), len(conns),
                                       open_peak,
                                       figures.ms(figures.percentile(lat, 99))))
    rss = figures.rss_kib(gw.proc.pid)
    reused = sum(1 for c in conns if c.requests == rounds and not c.closed)
    for c in conns:
        c.close()
    return {"connected": len(conns), "connect_s": t_conn, "lat": lat,
            "errors": errors, "open_peak": open_peak, "reused": reused,
            "rss": rss}


def keepalive(gw, objs, n, rounds, log):
    """n connections open at once, each sending `rounds` GETs in turn
    (every connection's request of a round in flight together); every
    body checked.  Passes when all n connected, every answer was right,
    every connection was kept alive and the gateway saw n open."""
    host, port = gw.url[len("http://"):].rsplit(":", 1)
    res = asyncio.run(_keepalive(gw, host, int(port), objs, n, rounds, log))
    want = n * rounds
    lines = ["%d keep-alive connections: %d connected in %.1f s, %d "
             "requests, %d errors %s, gateway connections_open peak %d, "
             "p50 %s ms, p99 %s ms, gateway RSS %.1f MiB"
             % (n, res["connected"], res["connect_s"], len(res["lat"]),
                sum(res["errors"].values()),
                figures.kinds_text(res["errors"]), res["open_peak"],
                figures.ms(figures.percentile(res["lat"], 50)),
                figures.ms(figures.percentile(res["lat"], 99)),
                (res["rss"] or (0,))[0] / 1024.0)]
    ok = (res["connected"] == n and not res["errors"] and
          len(res["lat"]) == want and res["open_peak"] >= n and
          res["reused"] == n)
    if not ok:
        lines.append("FAIL keep-alive phase: want %d connected, %d right "
                     "answers, %d open at once, all kept alive (%d were)"
                     % (n, want, n, res["reused"]))
    return ok, lines


# -- slowloris ----------------------------------------------------------------

class Slow:
    """Counts of the slowloris clients."""

    def __init__(self):
        self.opened = 0
        self.live = 0
        self.peak = 0
        self.answers = collections.Counter()    # status or how it ended
        self.cut_after = []                     # seconds from open to 408


async def _slow_one(host, port, st, deadline, stop):
    """One slowloris connection: a request line, then one header byte a
    second until the gateway answers or closes, or the phase ends."""
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        st.answers["connect_failed"] += 1
        return
    st.opened += 1
    st.live += 1
    st.peak = max(st.peak, st.live)
    t0 = time.monotonic()
    writer.write(b"GET /fractal/00000000-0000-4000-8000-000000000000 "
                 b"HTTP/1.1\r\nHost: soak\r\nX-Slow: ")
    answer = asyncio.ensure_future(reader.read(4096))
    try:
        while not stop.is_set() and time.monotonic() < deadline:
            done, _ = await asyncio.wait({answer}, timeout=1.0)
            if done:
                break
            writer.write(b"a")
        if answer.done():
            data = answer.result()
            if data.startswith(b"HTTP/1.1 408"):
                st.answers["408"] += 1
                st.cut_after.append(time.monotonic() - t0)
            else:
                st.answers[data[:12].decode("latin-1") or "closed"] += 1
        else:
            st.answers["open_at_end"] += 1
    except (ConnectionError, OSError):
        st.answers["reset"] += 1
    finally:
        answer.cancel()
        writer.transport.abort()
        st.live -= 1


async def _slowloris(gw, host, port, objs, n, seconds, normal, log):
    st = Slow()
    stop = asyncio.Event()
    t_end = time.monotonic() + seconds

    async def keep_one():
        # Open a new slow connection when one is cut, while time is left.
        while time.monotonic() < t_end - 2 and not stop.is_set():
            await _slow_one(host, port, st, t_end, stop)

    slow = [asyncio.create_task(keep_one()) for _ in range(n)]
    lat = []
    errors = collections.Counter()

    async def client(i):
        rnd = random.Random(i)
        conn = None
        while time.monotonic() < t_end:
            obj = rnd.choice(objs)
            try:
                if conn is None or conn.closed:
                    conn = await aclient.Conn.open(host, port)
                resp = await conn.request("GET", obj.path, timeout=30)
            except aclient.ClientError as e:
                errors[e.kind] += 1
                conn = None
                continue
            if resp.status != 200 or resp.body != obj.data:
                errors["wrong_answer"] += 1
            lat.append(resp.latency)
            await asyncio.sleep(0.01)
        if conn:
            conn.close()

    await asyncio.gather(*(client(i) for i in range(normal)))
    stop.set()
    await asyncio.wait(slow, timeout=30)
    return st, lat, errors


def slowloris(gw, objs, n, seconds, normal, header_timeout, log):
    """n slowloris connections for `seconds`, each replaced when the
    gateway cuts it, while `normal` clients GET cached objects.  Passes
    when every normal request got the right bytes, the slow connections
    were all open together, every one cut was answered 408 about
    header_timeout after it opened, and the gateway counted each as a
    client_timeout."""
    host, port = gw.url[len("http://"):].rsplit(":", 1)
    before = gw.error_count("client_timeout")
    st, lat, errors = asyncio.run(_slowloris(
        gw, host, int(port), objs, n, seconds, normal, log))
    counted = gw.error_count("client_timeout") - before
    cut = sorted(st.cut_after)
    lines = ["%d slowloris connections for %d s (%d opened, %d at once): "
             "answers %s, cut after %s-%s s (header_timeout %d s); "
             "gateway client_timeout +%d" % (
                 n, seconds, st.opened, st.peak,
                 figures.kinds_text(st.answers),
                 "%.1f" % cut[0] if cut else "-",
                 "%.1f" % cut[-1] if cut else "-", header_timeout, counted),
             "  meanwhile %d normal clients: %d requests, %d errors %s, "
             "p50 %s ms, p99 %s ms" % (
                 normal, len(lat), sum(errors.values()),
                 figures.kinds_text(errors),
                 figures.ms(figures.percentile(lat, 50)),
                 figures.ms(figures.percentile(lat, 99)))]
    unexpected = {k: v for k, v in st.answers.items()
                  if k not in ("408", "open_at_end")}
    # A connection the gateway cut as the phase ended may be counted there
    # and not seen here.
    ok = (not errors and lat and st.peak >= n and st.answers["408"] >= n
          and not unexpected and st.answers["408"] <= counted
          <= st.answers["408"] + st.answers["open_at_end"]
          and cut[0] >= header_timeout - 1
          and cut[-1] <= header_timeout + 10)
    if not ok:
        lines.append("FAIL slowloris phase")
    return ok, lines
