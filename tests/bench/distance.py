"""The "storage at a distance" scenario of `make bench` (phase `distance`):
the cold 64 MiB SLO of slo_cold.py with Swift's object server 2 ms away.

On loopback every backend answer comes back in microseconds, which hides
what a real cluster charges for each object fetched: a disk seek and a
network hop, a few milliseconds before the first byte.  Here the test
Swift's object ring names the port of a relay (relay.py, its own process)
instead of the object server's: the Swift proxy reaches the object server
only through that relay, which holds every exchange DELAY_MS, either the
first bytes of each answer (hold "answer", the default) or those of each
request (hold "request": the whole answer shifts by the delay).  Both
sides of the comparison go through it:

    Swift's own reassembly:  client -> Swift proxy (slo) -> relay -> object
    swiftgate, cold:         client -> swiftgate -> Swift proxy -> relay ->
                             object

so Swift pays the delay once per segment in turn, and swiftgate once per
segment too, but with `[swift] segment_parallelism` of them in flight.

The rounds are slo_cold.py's (a fresh 64 x 1 MiB SLO each, who goes
first alternating, every GET checked for status, bytes, MD5 and ETag), on
a Swift cluster of their own.  Before them the relay is checked: a backend
GET of a 4 KiB object straight from the object server and through the
relay (alternating, a new connection each), whose difference in time to
first byte is what the relay adds; the same with a 1 MiB object shows
what its copying adds to a whole segment.  Each GET also records how
many exchanges the relay held back meanwhile (relay_held): the
object-server requests the GET cost.

    run(bench, rounds[, parallelism, hold])
        -> fills bench.results["distance"]
"""

import os
import random
import select
import statistics
import subprocess
import time
import uuid

import httputil
import load
import saio
import slo_cold

HERE = os.path.dirname(os.path.abspath(__file__))
RELAY = os.path.join(HERE, "relay.py")
WHAT = "cold 64 MiB SLO, storage 2 ms away"
DELAY_MS = 2.0
HOLDS = ("answer", "request")
CHECK_GETS = 15         # of each kind: direct, through the relay
# The relay exits by itself after this long, whatever happens to the bench.
RELAY_LIFETIME_S = 1800
RELAY_MAX_CONNS = 256
# The object server's partitions (saio.py builds rings of part power 2).
PARTITIONS = 4


def log(msg):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


class RelayError(RuntimeError):
    """The relay did not start or did not answer."""


class Relay:
    """relay.py as a child process, driven over its stdin and stdout."""

    def __init__(self, delay_ms=DELAY_MS, hold="answer"):
        self.delay_ms = delay_ms
        self.hold = hold
        self.proc = None
        self.port = None

    def start(self):
        self.proc = subprocess.Popen(
            [saio.PYTHON, RELAY, "--delay-ms", str(self.delay_ms),
             "--hold", self.hold,
             "--max-conns", str(RELAY_MAX_CONNS),
             "--lifetime", str(RELAY_LIFETIME_S)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            bufsize=1)
        words = self._line(10).split()
        if len(words) != 2 or words[0] != "ready":
            self.stop()
            raise RelayError("relay did not start: %r" % words)
        self.port = int(words[1])
        return self

    @property
    def pid(self):
        return self.proc.pid

    def _line(self, timeout):
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            raise RelayError("relay silent for %.0f s" % timeout)
        line = self.proc.stdout.readline()
        if not line:
            raise RelayError("relay exited (%s)" % self.proc.poll())
        return line.strip()

    def cmd(self, line, timeout=10.0):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self._line(timeout)

    def target(self, port):
        said = self.cmd("target %d" % port)
        if said != "ok":
            raise RelayError("relay: target: %r" % said)

    def stats(self):
        """{"conns", "held", "up", "down", "active", "refused"}."""
        words = self.cmd("stats").split()
        return {words[i]: int(words[i + 1]) for i in range(0, len(words), 2)}

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class DistantSaio(saio.Saio):
    """saio.Saio whose object ring names relay_port: the proxy reaches the
    object server only through the relay, while the object server itself
    listens on self.ports["object"] as in every Saio (readiness checks and
    direct backend GETs go there)."""

    def __init__(self, relay_port, **kw):
        self.relay_port = relay_port
        super().__init__(**kw)

    def _build_rings(self):
        ports = dict(self.ports, object=self.relay_port)
        spec = ",".join("%s:%d" % (n, ports[n])
                        for n in ("object", "container", "account"))
        res = subprocess.run([saio.PYTHON, "-c", saio._MKRINGS, self.etc,
                              spec], capture_output=True, text=True,
                             timeout=60)
        if res.returncode != 0:
            raise saio.SaioError("building rings failed:\n"
                                 + res.stderr[-3000:])


def backend_path(sw, name):
    """The object server's own path of fractals/<name> (device d1, the
    partition found by asking each one: a wrong one answers 404)."""
    for part in range(PARTITIONS):
        path = "/d1/%d/%s/%s/%s" % (part, saio.ACCOUNT, slo_cold.CONTAINER,
                                    name)
        r = httputil.request("HEAD", "http://127.0.0.1:%d%s"
                             % (sw.ports["object"], path), timeout=10)
        if r.status == 200:
            return path
    raise saio.SaioError("object %s not found on any of the object server's "
                         "%d partitions" % (name, PARTITIONS))


def compare(sw, relay, name, size, n=CHECK_GETS):
    """Backend GETs of one object straight from the object server and
    through the relay, alternating, a new connection each: medians of the
    first byte and the whole answer, each way, and the differences."""
    path = backend_path(sw, name)
    hdr = {"X-Backend-Storage-Policy-Index": "0"}
    ports = {"direct": sw.ports["object"], "relay": relay.port}
    rows = {"direct": [], "relay": []}
    bad = []
    h0 = relay.stats()["held"]
    for i in range(2 * n):
        kind = ("direct", "relay")[(i + i // 2) % 2]    # d r r d d r ...
        r = load.timed_get(ports[kind], path, hdr, timeout=10)
        if r["status"] != 200 or not r["complete"] or r["bytes"] != size:
            bad.append("%s: HTTP %d, %d bytes" % (kind, r["status"],
                                                  r["bytes"]))
            continue
        rows[kind].append((r["ttfb_s"] * 1000, r["total_s"] * 1000))
    out = {"gets": n, "bytes": size,
           "relay_held": relay.stats()["held"] - h0,
           "errors": bad[:5]}
    for kind in rows:
        xs = rows[kind]
        out["%s_ttfb_ms" % kind] = statistics.median(
            x[0] for x in xs) if xs else None
        out["%s_total_ms" % kind] = statistics.median(
            x[1] for x in xs) if xs else None
        out["%s_ok" % kind] = len(xs)
    for key in ("ttfb_ms", "total_ms"):
        d, r = out["direct_" + key], out["relay_" + key]
        out["added_" + key] = round(r - d, 3) if None not in (d, r) else None
    return out


def relay_check(sw, relay, small, small_size, segment, segment_size):
    """Does the relay add its delay?  compare() on a small object: at
    least 90% of the delay on the first byte, one held exchange per
    GET through the relay, no failed GET.  compare() on a segment-sized object
    too, for what the relay's copying adds to a whole segment."""
    out = compare(sw, relay, small, small_size)
    out["delay_ms"] = relay.delay_ms
    out["hold"] = relay.hold
    out["ok"] = (out["added_ttfb_ms"] is not None
                 and out["added_ttfb_ms"] >= 0.9 * relay.delay_ms
                 and out["relay_held"] == out["relay_ok"]
                 and not out["errors"])
    out["segment"] = seg = compare(sw, relay, segment, segment_size)
    log("%s: relay check: %d-byte object, first byte %.2f ms direct, %.2f ms "
        "through the relay (+%.2f ms, delay %.1f ms), %d exchanges held for "
        "%d GETs%s; %d-byte object, whole answer %.2f ms direct, %.2f ms "
        "through the relay (+%.2f ms)"
        % (WHAT, small_size, out["direct_ttfb_ms"] or -1,
           out["relay_ttfb_ms"] or -1, out["added_ttfb_ms"] or -1,
           relay.delay_ms, out["relay_held"], out["relay_ok"],
           "; errors %s" % out["errors"][:3] if out["errors"] else "",
           segment_size, seg["direct_total_ms"] or -1,
           seg["relay_total_ms"] or -1, seg["added_total_ms"] or -1))
    return out


def run(bench, rounds, parallelism=None, hold="answer"):
    """Run the scenario; results go to bench.results["distance"].
    parallelism: `[swift] segment_parallelism` to set (None: the
    gateway's default).  hold: what the relay holds, of HOLDS."""
    rounds = max(1, min(slo_cold.MAX_ROUNDS, int(rounds)))
    out = bench.results.setdefault("distance", {})
    base = os.path.join(bench.tmp, "distance")
    os.makedirs(base, exist_ok=True)
    reassembles, said = slo_cold.gateway_reassembles(bench.bin, base)
    out.update({
        "segments": slo_cold.SEGMENTS,
        "segment_bytes": slo_cold.SEGMENT_BYTES,
        "bytes": slo_cold.TOTAL_BYTES, "rounds_planned": rounds,
        "delay_ms": DELAY_MS, "hold": hold,
        "gateway_reassembles": reassembles, "check_config": said,
        "segment_parallelism": parallelism if parallelism else
        "default (4)" if reassembles else "n/a",
        "swift_workers": 0, "rounds": [], "status": "running"})
    log("%s: %d round(s), the relay holding each %s; swiftgate %s "
        "segment_parallelism (%s)" % (WHAT, rounds, hold, "knows"
                                      if reassembles else "does not know",
                                      said))
    budget = slo_cold.BUDGET_QUICK_S if bench.quick else slo_cold.BUDGET_S
    t_start = time.monotonic()
    gate = sw = None
    relay = Relay(hold=hold).start()
    try:
        sw = DistantSaio(relay.port, base_dir=bench.tmp)
        relay.target(sw.ports["object"])
        sw.start()
        sw.wait_ready()
        for c in (slo_cold.CONTAINER, slo_cold.SEG_CONTAINER):
            sw.put_container(c)
        _, token = sw.auth()
        rnd = random.Random(2002)
        small = str(uuid.uuid4())
        sw.put_object(slo_cold.CONTAINER, small, rnd.randbytes(4096),
                      "image/png")
        seg = str(uuid.uuid4())
        sw.put_object(slo_cold.CONTAINER, seg,
                      rnd.randbytes(slo_cold.SEGMENT_BYTES),
                      "application/octet-stream")
        out["relay"] = relay_check(sw, relay, small, 4096, seg,
                                   slo_cold.SEGMENT_BYTES)
        if not out["relay"]["ok"]:
            bench.problem("%s: the relay check failed: %s" % (WHAT, {
                k: v for k, v in out["relay"].items()
                if k.startswith(("added", "relay_", "errors"))}))
        gate = slo_cold._Gate(bench, base, slo_cold.gateway_conf(sw),
                              slo_cold.gateway_extra(parallelism,
                                                     reassembles), what=WHAT)
        gate.usable(small)
        scene = slo_cold.Scene(
            bench, sw, gate, token, small, what=WHAT,
            groups={"relay": [relay.pid]},
            counters=lambda: {"relay_held": relay.stats()["held"]})
        slo_cold.play(scene, out, rounds, rnd, budget, t_start)
        out["relay_stats"] = relay.stats()
    finally:
        if gate is not None:
            gate.stop_all()
        if sw is not None:
            sw.cleanup()
        relay.stop()
        summarise(out)
    slo_cold.report_noise(bench, out, WHAT)
    return out


def summarise(out):
    """slo_cold.summarise(), and the ratios the goal is stated in:
    swiftgate's time over Swift's, for the whole body and the first
    byte."""
    slo_cold.summarise(out, counts=("origin_requests", "segment_gets",
                                    "relay_held"))
    m = out["median"]
    for key, name in (("total_ms", "ratio_total"), ("ttfb_ms", "ratio_ttfb")):
        s, g = m.get("swift %s" % key), m.get("swiftgate cold %s" % key)
        out[name] = round(g / s, 3) if s and g else None
    return out
