"""The "cold 64 MiB SLO" scenario of `make bench`: one GET of a whole
Static Large Object that nobody has read yet, put together by swiftgate
(empty cache: it fetches the manifest and up to `[swift]
segment_parallelism` segments at once, verifying each) against the same
GET answered by Swift itself (its slo middleware, same URL with the token).

Each round uploads a fresh object, so every swiftgate GET is cold:

    fractals_segments/<uuid>/00000000 ... /00000063   1 MiB of random bytes
    fractals/<uuid>   manifest, PUT ?multipart-manifest=put, a JSON list of
                      {"path": "/fractals_segments/<uuid>/%08d",
                       "etag": md5, "size_bytes": 1048576}

then GETs it from Swift directly and through swiftgate (which goes first
alternates from round to round), then once more through swiftgate (the
warm GET, for reference).  Every answer must be a 200 with the 67,108,864
bytes uploaded (MD5 of the body) and the ETag Swift gives an SLO (the MD5
of the segments' ETags, quoted), the same from both.  A GET that fails is
recorded with its reason and left out of the medians; the scenario never
raises past run().

nginx proxy_cache and Varnish take no part: they do not reassemble SLOs
(on a miss they pass on Swift's reassembled body; the Swift phase's
"Segmented" table has them).

    run(bench, rounds[, parallelism, swift_workers])
        -> fills bench.results["slo_cold"]
"""

import hashlib
import json
import os
import random
import statistics
import time
import urllib.parse
import uuid

import load
import saio
import servers

MiB = 1 << 20
SEGMENTS = 64
SEGMENT_BYTES = MiB
TOTAL_BYTES = SEGMENTS * SEGMENT_BYTES
CONTAINER = "fractals"
SEG_CONTAINER = "fractals_segments"
GET_TIMEOUT = 60.0          # one GET of the whole object
MAX_ROUNDS = 50
# The rounds stop starting once the scenario has run this long.
BUDGET_S = 300.0
BUDGET_QUICK_S = 120.0
# swiftgate is restarted at most this many times after it dies.
MAX_RESTARTS = 2


def log(msg):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def gateway_reassembles(bin_path, workdir):
    """Does this swiftgate know `[swift] segment_parallelism` (the SLO
    reassembly)?  (True/False, what check-config said)."""
    conf = os.path.join(workdir, "probe.conf")
    with open(conf, "w") as f:
        f.write("[swift]\nauth_version = static\n"
                "storage_url = http://127.0.0.1:9/v1/AUTH_test\n"
                "token = x\nsegment_parallelism = 4\n")
    try:
        import gateway
        rc, out, err = gateway.check_config(bin_path, conf)
    except Exception as e:  # noqa: BLE001 - reported, not fatal
        return False, "check-config failed: %r" % (e,)
    text = (err or out or "").strip().splitlines()
    if rc == 0:
        said = "accepted"
    else:
        said = text[-1] if text else "check-config exited %d" % rc
    return rc == 0, said.replace(conf, "FILE")


def upload_slo(sw, rnd, segments=SEGMENTS, seg_bytes=SEGMENT_BYTES):
    """Upload fresh segments and an SLO manifest naming them.  Returns
    {"name", "bytes", "md5" (of the whole body), "etag" (Swift's SLO ETag:
    MD5 of the segment ETags), "upload_s"}."""
    t0 = time.monotonic()
    name = str(uuid.uuid4())
    whole = hashlib.md5()
    manifest, seg_etags = [], []
    for i in range(segments):
        data = rnd.randbytes(seg_bytes)
        whole.update(data)
        md5 = hashlib.md5(data).hexdigest()
        sname = "%s/%08d" % (name, i)
        etag = sw.put_object(SEG_CONTAINER, sname, data,
                             "application/octet-stream")
        if etag.strip('"') != md5:
            raise saio.SaioError("segment %s: Swift's ETag %s, MD5 %s"
                                 % (sname, etag, md5))
        manifest.append({"path": "/%s/%s" % (SEG_CONTAINER, sname),
                         "etag": md5, "size_bytes": seg_bytes})
        seg_etags.append(md5)
    url = sw.object_url(CONTAINER, name) + "?multipart-manifest=put"
    r = sw.request("PUT", url, {"Content-Type": "image/png"},
                   json.dumps(manifest).encode())
    if r.status != 201:
        raise saio.SaioError("SLO manifest PUT %s: HTTP %d %r"
                             % (name, r.status, r.body[:200]))
    return {"name": name, "bytes": segments * seg_bytes,
            "md5": whole.hexdigest(),
            "etag": hashlib.md5("".join(seg_etags).encode()).hexdigest(),
            "upload_s": round(time.monotonic() - t0, 2)}


def _etag(headers):
    v = (headers or {}).get("etag")
    if v is None:
        return None
    v = v.strip()
    if v.startswith("W/"):
        v = v[2:]
    return v.strip('"')


def check(r, obj):
    """None if r is a 200 with obj's bytes and ETag, else what is wrong."""
    if r.get("error"):
        return r["error"] + (" (HTTP %d)" % r["status"] if r["status"]
                             else "")
    if r["status"] != 200:
        return "HTTP %d" % r["status"]
    if not r["complete"] or r["bytes"] != obj["bytes"]:
        return "%d of %d bytes%s" % (r["bytes"], obj["bytes"],
                                     "" if r["complete"] else ", cut short")
    if r["md5"] != obj["md5"]:
        return "body MD5 %s, uploaded %s" % (r["md5"], obj["md5"])
    if _etag(r["headers"]) != obj["etag"]:
        return "ETag %r, want the SLO's \"%s\"" % (
            r["headers"].get("etag"), obj["etag"])
    return None


def _row(r, obj, srv=None):
    bad = check(r, obj)
    row = {"ok": bad is None, "error": bad, "status": r["status"],
           "bytes": r["bytes"],
           "ttfb_ms": round(r["ttfb_s"] * 1000, 2)
           if r["ttfb_s"] is not None else None,
           "total_ms": round(r["total_s"] * 1000, 2)
           if r["total_s"] is not None else None,
           "md5": r["md5"], "etag": (r["headers"] or {}).get("etag")}
    if row["ok"] and r["total_s"]:
        row["mbps"] = round(r["bytes"] / 1e6 / r["total_s"], 1)
    if r.get("cpu_s"):
        row["cpu_s"] = r["cpu_s"]
    if r.get("foreign_cpu_s") is not None:
        row["foreign_cpu_s"] = round(r["foreign_cpu_s"], 3)
        row["disturbed"] = bool(r["total_s"]) and r["foreign_cpu_s"] > \
            NOISE_SHARE * r["total_s"] * (os.cpu_count() or 1)
    if srv is not None:
        row["cache"] = (r["headers"] or {}).get("x-cache")
    return row


# A GET during which other processes (not the bench, not its servers) used
# more than this share of the machine's CPU is "disturbed": left out of the
# medians when an undisturbed one of the same column exists.
NOISE_SHARE = 0.05


def _mine():
    """The bench and every process it started (Swift, memcached,
    swiftgate): what is not "other" load."""
    return set(servers.process_tree(os.getpid()))


def wait_quiet(bench, limit_s=10.0):
    """While other processes use more than 10% of a core, wait (at most
    limit_s here, and the bench's quiet budget in all).  Returns the
    seconds waited."""
    waited = 0.0
    mine = _mine()
    for _ in range(int(limit_s / 1.3) + 1):
        a = servers.user_process_ticks()
        time.sleep(0.3)
        busy = servers.foreign_cpu_seconds(
            a, servers.user_process_ticks(), mine) / 0.3
        if busy <= 0.10 or waited >= limit_s or \
                getattr(bench, "quiet_budget", 0) <= 0:
            break
        time.sleep(1.0)
        waited += 1.3
        bench.quiet_budget -= 1.3
    return waited


def timed(fn, groups):
    """fn() (a timed_get_body(digest=False)), with the CPU seconds other
    processes used meanwhile as r["foreign_cpu_s"], and those of each group
    of our own processes ({name: [pid, ...]}) as r["cpu_s"] {name:
    seconds}; the body's MD5 is taken after the clocks are read."""
    mine = _mine()
    t0 = servers.user_process_ticks()
    r = fn()
    t1 = servers.user_process_ticks()
    r["foreign_cpu_s"] = servers.foreign_cpu_seconds(t0, t1, mine)
    r["cpu_s"] = {name: round(sum(max(0, t1.get(p, 0) - t0.get(p, 0))
                                  for p in pids) / servers.CLK_TCK, 3)
                  for name, pids in groups.items()}
    body = r.pop("body", None)
    if body is not None:
        r["md5"] = hashlib.md5(body).hexdigest()
    return r


def cpu_groups(sw, sg=None):
    """The processes whose CPU time a GET is charged with: the client
    (this process), Swift's proxy and object servers, swiftgate."""
    out = {"client": [os.getpid()]}
    for name in ("proxy", "object"):
        proc = sw._procs.get(name)
        if proc is not None:     # with its forked workers, if any
            out["swift " + name] = servers.process_tree(proc.pid)
    if sg is not None:
        out["swiftgate"] = servers.process_tree(sg.proc.pid)
    return out


def _origin_requests(m):
    return sum(v for (name, _), v in m.items()
               if name == "swiftgate_origin_requests_total")


def usable(rows):
    """(the verified rows to take medians of, all_disturbed): the
    undisturbed ones if there are any, else all of them."""
    ok = [r for r in rows if r.get("ok")]
    clean = [r for r in ok if not r.get("disturbed")]
    return (clean, False) if clean else (ok, bool(ok))


def _median(rows, key):
    rows, _ = usable(rows)
    xs = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(xs) if xs else None


class _Gate:
    """The swiftgate under test, restarted (bounded) if it dies."""

    def __init__(self, bench, base, swift_conf, extra,
                 what="cold 64 MiB SLO"):
        self.bench, self.base = bench, base
        self.swift_conf, self.extra = swift_conf, extra
        self.what = what
        self.sg = None
        self.starts = 0
        self.dead_note = None

    def start(self, small_path):
        self.starts += 1
        sg = servers.Swiftgate(os.path.join(self.base, "swiftgate-%d"
                                            % self.starts), self.bench.bin)
        sg.start(self.swift_conf, workers="auto", extra=self.extra)
        self.bench.live.append(sg)
        self.sg = sg
        # Token and connections to Swift in place before anything is timed.
        r = load.timed_get(sg.port, sg.path(small_path), timeout=30)
        if r["status"] != 200:
            self.bench.problem("%s: swiftgate warm-up GET answered %d"
                               % (self.what, r["status"]))
        return sg

    def _stop(self, sg, report=True):
        sg.stop()
        if sg in self.bench.live:
            self.bench.live.remove(sg)
        bad = sg.exit_problem()
        if bad and report:
            self.bench.problem("%s: swiftgate did not exit cleanly: %s"
                               % (self.what, bad.splitlines()[0]))

    def stop_all(self):
        if self.sg is not None:
            self._stop(self.sg)
            self.sg = None

    def usable(self, small_path):
        """The gateway, restarted if it died (at most MAX_RESTARTS
        times); None when it cannot be had."""
        if self.sg is not None and self.sg.alive():
            return self.sg
        if self.sg is not None:
            self.dead_note = "swiftgate exited %s: %s" % (
                self.sg.proc.returncode,
                " | ".join(self.sg.stderr_tail(5).splitlines()))
            self.bench.problem("%s: %s" % (self.what, self.dead_note))
            self._stop(self.sg, report=False)
            self.sg = None
        if self.starts > MAX_RESTARTS:
            return None
        try:
            return self.start(small_path)
        except Exception as e:  # noqa: BLE001 - reported
            lines = [x for x in str(e).splitlines() if x.strip()]
            self.bench.problem("%s: swiftgate did not start (attempt %d "
                               "of %d): %s"
                               % (self.what, self.starts, MAX_RESTARTS + 1,
                                  " | ".join(lines[:1] + lines[-3:])))
            return None


class Scene:
    """What one round needs: the Swift, the gateway, where the SLOs live.

    what: the scenario's name in log and problem lines.  groups: more
    processes to charge CPU time to ({name: [pid, ...]}).  counters: None,
    or a function returning {name: number} (read before and after each
    timed GET; each row gets the differences under those names)."""

    def __init__(self, bench, sw, gate, token, small, what="cold 64 MiB SLO",
                 groups=None, counters=None):
        self.bench, self.sw, self.gate = bench, sw, gate
        self.small, self.what = small, what
        self.prefix = urllib.parse.urlparse(sw.storage_url).path + "/" + \
            CONTAINER
        self.direct_port = sw.ports["proxy"]
        self.direct_hdr = {"X-Auth-Token": token}
        self.groups = groups or {}
        self.counters = counters

    def cpu_groups(self, sg):
        return dict(cpu_groups(self.sw, sg), **self.groups)

    def timed(self, fn, sg):
        """timed() with this scene's CPU groups and counters."""
        c0 = self.counters() if self.counters else {}
        r = timed(fn, self.cpu_groups(sg))
        if self.counters:
            c1 = self.counters()
            r["counters"] = {k: c1[k] - c0.get(k, 0) for k in c1}
        return r

    def direct_get(self, obj, timeout=GET_TIMEOUT, digest=True):
        return load.timed_get_body(
            self.direct_port, "%s/%s" % (self.prefix, obj["name"]),
            self.direct_hdr, timeout=timeout, digest=digest)


def _with_counters(row, r):
    row.update(r.get("counters") or {})
    return row


def warm_round(scene, rnd):
    """An untimed round on a small SLO: Swift's container and account info
    in memcache, its slo code paths run once, swiftgate's too."""
    warm = upload_slo(scene.sw, rnd, segments=4)
    said = {"swift": check(scene.direct_get(warm), warm)}
    sg = scene.gate.usable(scene.small)
    if sg is not None:
        r = load.timed_get_body(sg.port, sg.path(warm["name"]),
                                timeout=GET_TIMEOUT)
        said["swiftgate"] = check(r, warm)
    log("%s: untimed 4 MiB SLO first: %s"
        % (scene.what, ", ".join("%s %s" % (k, v or "ok")
                                 for k, v in said.items())))


def one_round(scene, rnd, i):
    """Upload a fresh SLO and GET it from Swift and cold through swiftgate
    (who goes first alternates with i), then warm through swiftgate.
    Returns the round's row; every failed GET is a problem of the bench."""
    bench, sw, gate = scene.bench, scene.sw, scene.gate
    obj = upload_slo(sw, rnd)
    rnd_row = {"round": i + 1, "name": obj["name"],
               "md5": obj["md5"], "etag": obj["etag"],
               "upload_s": obj["upload_s"]}
    order = ["swiftgate", "swift"] if i % 2 == 0 \
        else ["swift", "swiftgate"]
    rnd_row["order"] = order
    rnd_row["waited_quiet_s"] = wait_quiet(bench)
    for who in order:
        if who == "swift":
            r = scene.timed(lambda: scene.direct_get(obj, digest=False),
                            gate.sg)
            rnd_row["swift"] = _with_counters(_row(r, obj), r)
            continue
        sg = gate.usable(scene.small)
        if sg is None:
            rnd_row["swiftgate cold"] = {
                "ok": False, "error": "no swiftgate: %s"
                % (gate.dead_note or "it did not start")}
            continue
        seg_re = "/v1/AUTH_test/%s/%s/\\S*" % (SEG_CONTAINER, obj["name"])
        segs0 = sw.proxy_log_count("GET", seg_re, settle=0.05)
        m0 = sg.metrics()
        r = scene.timed(lambda: load.timed_get_body(
            sg.port, sg.path(obj["name"]), timeout=GET_TIMEOUT,
            digest=False), sg)
        row = _with_counters(_row(r, obj, sg), r)
        if row["cache"] and row["cache"].upper().startswith("HIT"):
            row["ok"] = False
            row["error"] = "X-Cache %s on a fresh object: not " \
                           "a cold GET" % row["cache"]
        row["origin_requests"] = int(_origin_requests(sg.metrics())
                                     - _origin_requests(m0))
        row["segment_gets"] = sw.proxy_log_count("GET", seg_re) - segs0
        rnd_row["swiftgate cold"] = row
    # The second GET through swiftgate, for reference.
    sg = gate.usable(scene.small)
    if sg is not None:
        time.sleep(0.5)     # index commits are batched
        r = scene.timed(lambda: load.timed_get_body(
            sg.port, sg.path(obj["name"]), timeout=GET_TIMEOUT,
            digest=False), sg)
        rnd_row["swiftgate warm"] = _with_counters(_row(r, obj, sg), r)
    else:
        rnd_row["swiftgate warm"] = {"ok": False, "error": "no swiftgate"}
    # The same ETag from both (each was checked against the SLO's).
    a = _etag({"etag": (rnd_row.get("swift") or {}).get("etag")})
    b = _etag({"etag": (rnd_row.get("swiftgate cold") or {}).get("etag")})
    rnd_row["same_etag"] = a is not None and a == b
    for k in ("swift", "swiftgate cold", "swiftgate warm"):
        row = rnd_row.get(k) or {}
        if not row.get("ok"):
            bench.problem("%s round %d, %s: %s"
                          % (scene.what, i + 1, k, row.get("error")))
    log("%s round %d: %s" % (scene.what, i + 1, json.dumps(
        {k: (v.get("total_ms"), v.get("cache"), v.get("error"))
         for k, v in rnd_row.items()
         if k in ("swift", "swiftgate cold", "swiftgate warm")})))
    return rnd_row


def play(scene, out, rounds, rnd, budget, t_start):
    """The untimed round, then up to `rounds` rounds into out["rounds"],
    none started once `budget` seconds have passed since t_start (a
    time.monotonic() reading)."""
    warm_round(scene, rnd)
    for i in range(rounds):
        if time.monotonic() - t_start > budget:
            scene.bench.problem("%s: stopped after %d of %d rounds: the "
                                "scenario's %.0f s were used up"
                                % (scene.what, i, rounds, budget))
            break
        out["rounds"].append(one_round(scene, rnd, i))


def report_noise(bench, out, what):
    """A problem line naming the GETs that other processes disturbed."""
    noisy = ["round %d %s: %.2f CPU-s" % (r["round"], k, r[k]["foreign_cpu_s"])
             for r in out["rounds"] for k in ("swift", "swiftgate cold",
                                              "swiftgate warm")
             if (r.get(k) or {}).get("disturbed")]
    if noisy:
        bench.problem("%s: %d of %d GETs shared the machine with other "
                      "processes using more than %d%% of its CPU (%s)"
                      % (what, len(noisy), 3 * len(out["rounds"]),
                         NOISE_SHARE * 100, "; ".join(noisy)))


def run(bench, rounds, parallelism=None, swift_workers=0):
    """Run the scenario; results go to bench.results["slo_cold"].
    parallelism: `[swift] segment_parallelism` to set (None: the
    gateway's default).  swift_workers: Swift's `workers` (0, the test
    Swift's default: one process per server, as in the other phases)."""
    rounds = max(1, min(MAX_ROUNDS, int(rounds)))
    out = bench.results.setdefault("slo_cold", {})
    base = os.path.join(bench.tmp, "slo-cold")
    os.makedirs(base, exist_ok=True)
    reassembles, said = gateway_reassembles(bench.bin, base)
    out.update({
        "segments": SEGMENTS, "segment_bytes": SEGMENT_BYTES,
        "bytes": TOTAL_BYTES, "rounds_planned": rounds,
        "gateway_reassembles": reassembles, "check_config": said,
        "segment_parallelism": parallelism if parallelism else
        "default (4)" if reassembles else "n/a",
        "swift_workers": swift_workers or 0,
        "rounds": [], "status": "running"})
    log("cold 64 MiB SLO: %d round(s); swiftgate %s segment_parallelism "
        "(%s)" % (rounds, "knows" if reassembles else "does not know", said))
    budget = BUDGET_QUICK_S if bench.quick else BUDGET_S
    t_start = time.monotonic()
    gate = None
    sw = saio.Saio(base_dir=bench.tmp, **({"workers": swift_workers}
                                          if swift_workers else {}))
    try:
        sw.start()
        sw.wait_ready()
        for c in (CONTAINER, SEG_CONTAINER):
            sw.put_container(c)
        _, token = sw.auth()
        rnd = random.Random(6464)
        small = str(uuid.uuid4())
        sw.put_object(CONTAINER, small, rnd.randbytes(4096), "image/png")
        gate = _Gate(bench, base, gateway_conf(sw),
                     gateway_extra(parallelism, reassembles))
        gate.usable(small)
        play(Scene(bench, sw, gate, token, small), out, rounds, rnd, budget,
             t_start)
    finally:
        if gate is not None:
            gate.stop_all()
        sw.cleanup()
        summarise(out)
    report_noise(bench, out, "cold 64 MiB SLO")
    return out


def gateway_conf(sw):
    """swiftgate's [swift] section for this Swift (TempAuth)."""
    return {"auth_version": "1", "auth_url": sw.auth_url,
            "user": saio.USER, "key": saio.KEY, "container": CONTAINER}


def gateway_extra(parallelism, reassembles):
    """More config for swiftgate: segment_parallelism when asked for."""
    if parallelism and reassembles:
        return {"swift": {"segment_parallelism": str(parallelism)}}
    return {}


def summarise(out, counts=("origin_requests", "segment_gets")):
    """Medians over the rounds whose GET passed every check; counts: the
    per-GET counts to take medians of (over every GET that has them)."""
    rows = out.get("rounds") or []
    med = {}
    ok = {}
    for k in ("swift", "swiftgate cold", "swiftgate warm"):
        rs = [r.get(k) or {} for r in rows]
        ok[k] = sum(1 for r in rs if r.get("ok"))
        used, all_disturbed = usable(rs)
        med["%s used" % k] = len(used)
        med["%s all_disturbed" % k] = all_disturbed
        med["%s disturbed" % k] = sum(1 for r in rs if r.get("ok")
                                      and r.get("disturbed"))
        for key in ("total_ms", "ttfb_ms", "mbps"):
            med["%s %s" % (k, key)] = _median(rs, key)
        caches = sorted(set(str(r.get("cache")) for r in rs
                            if "cache" in r))
        med["%s cache" % k] = ",".join(caches) if caches else None
        for key in counts:
            xs = [r[key] for r in rs if r.get(key) is not None]
            if xs:
                med["%s %s" % (k, key)] = statistics.median(xs)
        for g in sorted(set(g for r in used for g in r.get("cpu_s") or {})):
            xs = [r["cpu_s"][g] for r in used
                  if g in (r.get("cpu_s") or {})]
            if xs:
                med["%s cpu_s %s" % (k, g)] = statistics.median(xs)
    out["median"] = med
    out["ok_rounds"] = ok
    out["rounds_run"] = len(rows)
    s, g = med.get("swift total_ms"), med.get("swiftgate cold total_ms")
    out["ratio_swift_over_swiftgate"] = round(s / g, 3) if s and g else None
    w = med.get("swiftgate warm total_ms")
    out["ratio_swift_over_swiftgate_warm"] = round(s / w, 3) \
        if s and w else None
    if not rows:
        out["status"] = "no round completed"
    elif ok["swiftgate cold"] == 0:
        out["status"] = "every swiftgate GET failed"
    elif ok["swift"] == 0:
        out["status"] = "every Swift GET failed"
    else:
        out["status"] = "ok"
    return out
