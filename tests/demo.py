#!/usr/bin/python3
"""swiftgate demo (`make demo`): fractals in a real Swift, served by swiftgate.

    /usr/bin/python3 tests/demo.py --bin ./swiftgate [--port 8080] [--no-wait]

The stack of docker/compose.yaml, on loopback: starts a Swift (tests/lib/
saio.py) in a temp dir, renders a few Mandelbrot and Julia PNGs, uploads
them to container `fractals` under fresh uuid4 names (one as
application/octet-stream, as the First App tutorial's backups are), starts
two gateways, HAProxy with conf/haproxy.cfg in front of them (its addresses
alone changed; its third gateway and the Fractals API are not part of the
demo, so HAProxy sees them down) and Prometheus scraping both gateways
(docker/prometheus.yml, its targets changed, with the alert rules of
conf/prometheus/swiftgate-rules.yml), and prints curl commands to try.  Then waits for Ctrl-C or SIGTERM and stops everything.

With --no-wait it runs those commands itself through HAProxy, checks that
every download is byte-identical to its original and that Prometheus
scrapes both gateways and evaluates the alert rules, prints the result and exits 0 or 1.

The write side too: the gateways take writes with the bearer token
WRITE_TOKEN, and a newly rendered fractal is stored through HAProxy and
swiftgate with curl's PUT (as the Fractals app's workers would), then read
back: byte-identical, and a cache hit at once (written through).
"""

import argparse
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))

import fractal  # noqa: E402
import gateway  # noqa: E402
import haproxycfg  # noqa: E402
import httputil  # noqa: E402
import procs  # noqa: E402
import saio  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HAPROXY = "/usr/sbin/haproxy"
PROMETHEUS = "/usr/bin/prometheus"
SCRAPE_WAIT = 30.0
WRITE_TOKEN = "demo-write-token"

# (file label, renderer, Content-Type stored in Swift)
IMAGES = [
    ("mandelbrot-128", lambda: fractal.mandelbrot(128, 128), "image/png"),
    ("julia-128", lambda: fractal.julia(128, 128, c=complex(-0.7269, 0.1889)),
     "image/png"),
    ("julia-256", lambda: fractal.julia(256, 256, c=complex(-0.4, 0.6)),
     "application/octet-stream"),
    ("mandelbrot-512", lambda: fractal.mandelbrot(512, 512), "image/png"),
    ("julia-512", lambda: fractal.julia(512, 512, c=complex(0.285, 0.01)),
     "image/png"),
    ("julia-1024x768", lambda: fractal.julia(1024, 768), "image/png"),
]


def port_is_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def render_and_save(demo_dir):
    """Render every image, save it as <demo_dir>/<label>.png; returns
    [(label, png bytes, content type, saved path)]."""
    out = []
    for label, render, ctype in IMAGES:
        data = render()
        path = os.path.join(demo_dir, label + ".png")
        with open(path, "wb") as f:
            f.write(data)
        out.append((label, data, ctype, path))
    return out


def upload_all(swift, images):
    """Put each image into `fractals` as a fresh uuid4; returns
    [(label, uuid, content type, saved path)]."""
    swift.put_container("fractals")
    objects = []
    for label, data, ctype, path in images:
        name = str(uuid.uuid4())
        swift.put_object("fractals", name, data, ctype)
        objects.append((label, name, ctype, path))
    return objects


def _octet_stream_object(objects):
    return next(o for o in objects if o[2] == "application/octet-stream")


def commands(gw_url, objects):
    """[(label, curl argv, cmp argv)] for the objects."""
    return [(label,
             ["curl", "-s", "-o", label + ".png",
              "%s/fractal/%s" % (gw_url, name)],
             ["cmp", label + ".png", path])
            for label, name, _, path in objects]


def render_new(demo_dir):
    """A fractal that is not in Swift yet: (uuid, saved path)."""
    path = os.path.join(demo_dir, "new-julia-320x200.png")
    with open(path, "wb") as f:
        f.write(fractal.julia(320, 200, c=complex(-0.8, 0.156)))
    return str(uuid.uuid4()), path


def write_commands(gw_url, name, path):
    """(PUT argv, GET argv, cmp argv): store the new fractal, read it back."""
    url = "%s/fractal/%s" % (gw_url, name)
    return (["curl", "-sS", "-X", "PUT", "-H", "Authorization: Bearer " + WRITE_TOKEN,
             "-H", "Content-Type: image/png", "--data-binary", "@" + path, url],
            ["curl", "-s", "-D", "stored.head", "-o", "stored.png", url],
            ["cmp", "stored.png", path])


def start_haproxy(demo_dir, port, gws):
    """HAProxy with conf/haproxy.cfg, only its addresses changed: its first
    swiftgate servers are gws, the rest and the API a closed port."""
    with open(os.path.join(ROOT, "conf", "haproxy.cfg")) as f:
        shipped = f.read()
    closed = "127.0.0.1:%d" % httputil.free_port()
    names = haproxycfg.servers_of(shipped, "swiftgate")
    servers = {n: closed for n in names + haproxycfg.servers_of(shipped, "fractals_api")}
    servers.update((n, gw.url[len("http://"):]) for n, gw in zip(names, gws))
    text = haproxycfg.rewrite_addresses(shipped, servers, {
        "web": "127.0.0.1:%d" % port,
        "stats": "127.0.0.1:%d" % httputil.free_port()})
    cfg = os.path.join(demo_dir, "haproxy.cfg")
    with open(cfg, "w") as f:
        f.write(text)
    proc = procs.spawn([HAPROXY, "-db", "-f", cfg], os.path.join(demo_dir, "haproxy.err"),
                       stdout_path=os.path.join(demo_dir, "haproxy.log"))
    return proc, cfg


def start_prometheus(demo_dir, gws):
    """Prometheus with docker/prometheus.yml, its targets the gateways'
    admin listeners; returns (process, its URL)."""
    with open(os.path.join(ROOT, "docker", "prometheus.yml")) as f:
        text = f.read()
    targets = ", ".join('"%s"' % gw.admin_url[len("http://"):] for gw in gws)
    text = re.sub(r"targets: \[[^\]]*\]", "targets: [%s]" % targets, text)
    # The rule files are named relative to docker/; this copy is elsewhere.
    text = re.sub(r"^(\s+- )(\.\./\S+)$",
                  lambda m: m.group(1) + os.path.normpath(os.path.join(ROOT, "docker", m.group(2))),
                  text, flags=re.M)
    cfg = os.path.join(demo_dir, "prometheus.yml")
    with open(cfg, "w") as f:
        f.write(text)
    port = httputil.free_port()
    proc = procs.spawn([PROMETHEUS, "--config.file=" + cfg,
                        "--storage.tsdb.path=" + os.path.join(demo_dir, "prometheus"),
                        "--web.listen-address=127.0.0.1:%d" % port],
                       os.path.join(demo_dir, "prometheus.log"))
    return proc, "http://127.0.0.1:%d" % port


def scraped(prom_url, n):
    """True once Prometheus has scraped n targets, all up."""
    try:
        r = httputil.get(prom_url + "/api/v1/targets", timeout=5)
        active = json.loads(r.body)["data"]["activeTargets"]
    except (OSError, ValueError, KeyError):
        return False
    return len(active) == n and all(t["health"] == "up" for t in active)


def rules_loaded(prom_url):
    """True once Prometheus has evaluated the swiftgate alert rules, none in error."""
    try:
        r = httputil.get(prom_url + "/api/v1/rules", timeout=5)
        groups = json.loads(r.body)["data"]["groups"]
    except (OSError, ValueError, KeyError):
        return False
    rules = [rule for g in groups if g["name"] == "swiftgate" for rule in g["rules"]]
    return bool(rules) and all(rule.get("health") == "ok" for rule in rules)


def print_banner(swift, gws, front, prom_url, objects, demo_dir, new):
    print("""
Swift (TempAuth user test:tester, key testing)
  proxy:      %s   (auth: %s)
  logs:       %s
swiftgate, two of them
  listening:  %s   (admin: %s)
  config:     %s
HAProxy (conf/haproxy.cfg)
  listening:  %s   (config: %s)
Prometheus (docker/prometheus.yml)
  listening:  %s
  originals:  %s
""" % (swift.proxy_url, swift.auth_url, swift.log_dir,
       ", ".join(gw.url for gw in gws), ", ".join(gw.admin_url for gw in gws),
       ", ".join(gw.conf_path for gw in gws), front, os.path.join(demo_dir, "haproxy.cfg"),
       prom_url, demo_dir))
    print("Fetch each fractal through HAProxy and swiftgate, compare with the original:")
    for (label, curl, cmp), (_, _, ctype, _) in zip(commands(front, objects),
                                                      objects):
        note = ("   # stored as %s; swiftgate says image/png" % ctype
                if ctype != "image/png" else "")
        print("  %s && %s%s" % (shlex.join(curl), shlex.join(cmp), note))
    name = _octet_stream_object(objects)[1]
    print("\nHeaders only:\n  curl -I %s/fractal/%s\n" % (front, name))
    print("Store a new fractal through swiftgate (write_token = %s), read it back:"
          % WRITE_TOKEN)
    for argv in write_commands(front, *new):
        print("  " + shlex.join(argv))
    print()


def run_checks(gw_url, objects, work_dir):
    """Run the printed commands in work_dir; returns the number failed."""
    failed = 0
    for label, curl, cmp in commands(gw_url, objects):
        ok = all(subprocess.run(argv, cwd=work_dir, timeout=60).returncode == 0
                 for argv in (curl, cmp))
        print("%s %s" % ("ok  " if ok else "FAIL", label))
        failed += not ok
    label, name, _, _ = _octet_stream_object(objects)
    url = "%s/fractal/%s" % (gw_url, name)
    head = subprocess.run(["curl", "-s", "-I", url], capture_output=True,
                          text=True, timeout=60).stdout
    ok = head.startswith("HTTP/1.1 200") and \
        "content-type: image/png" in head.lower()
    print("%s curl -I %s (200, image/png)" % ("ok  " if ok else "FAIL", label))
    return failed + (not ok)


def run_write_checks(gw_url, new, work_dir):
    """PUT the new fractal, GET it back; returns the number failed."""
    put, get, cmp = write_commands(gw_url, *new)
    out = subprocess.run(put + ["-o", "/dev/null", "-w", "%{http_code}"], cwd=work_dir,
                         capture_output=True, text=True, timeout=60).stdout
    ok = out == "201"
    print("%s PUT %s: %s (want 201)" % ("ok  " if ok else "FAIL", new[0], out))
    failed = not ok
    ok = all(subprocess.run(argv, cwd=work_dir, timeout=60).returncode == 0
             for argv in (get, cmp))
    with open(os.path.join(work_dir, "stored.head")) as f:
        hit = "x-cache: hit" in f.read().lower()
    print("%s GET it back: byte-identical, X-Cache: HIT (written through)"
          % ("ok  " if ok and hit else "FAIL"))
    return failed + (not (ok and hit))


def wait_for(cond, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.2)
    return False


def wait_until_up(url, objects):
    """True once HAProxy passes a fractal through to its gateway (its
    health checks have found the gateways up)."""
    path = "/fractal/" + objects[0][1]
    def up():
        try:
            return httputil.get(url + path, timeout=2).status == 200
        except OSError:
            return False
    return wait_for(up, 15.0)


def _interrupt(_signum, _frame):
    raise KeyboardInterrupt


def choose_listen(port):
    """127.0.0.1:<port>, or :0 (any free port) if port is 0 or busy."""
    if port and not port_is_free(port):
        print("port %d is busy; using a free one" % port)
        port = 0
    return "127.0.0.1:%d" % port


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", required=True, help="the swiftgate binary")
    ap.add_argument("--port", type=int, default=8080,
                    help="swiftgate port (default 8080; 0 = any free port)")
    ap.add_argument("--no-wait", action="store_true",
                    help="run the commands, check, stop, exit 0/1")
    opts = ap.parse_args()
    signal.signal(signal.SIGTERM, _interrupt)
    demo_dir = tempfile.mkdtemp(prefix="swiftgate-demo-")
    swift = saio.Saio(base_dir=demo_dir)
    gws, helpers = [], []
    failed = 1
    try:
        t0 = time.monotonic()
        swift.start()
        images = render_and_save(demo_dir)     # while Swift starts
        swift.wait_ready()
        objects = upload_all(swift, images)
        new = render_new(demo_dir)
        for _ in range(2):
            gw = gateway.Gateway(opts.bin, {"server": {"listen": "127.0.0.1:0",
                                                       "write_token": WRITE_TOKEN}},
                                 auth_url=swift.auth_url, base_dir=demo_dir)
            gws.append(gw)
            gw.start()
        front_listen = choose_listen(opts.port)
        port = int(front_listen.rsplit(":", 1)[1]) or httputil.free_port()
        proc, _ = start_haproxy(demo_dir, port, gws)
        helpers.append(proc)
        front = "http://127.0.0.1:%d" % port
        proc, prom_url = start_prometheus(demo_dir, gws)
        helpers.append(proc)
        if not wait_until_up(front, objects):
            raise AssertionError("HAProxy did not answer on %s" % front)
        print("ready in %.1f s" % (time.monotonic() - t0))
        print_banner(swift, gws, front, prom_url, objects, demo_dir, new)
        if opts.no_wait:
            work = os.path.join(demo_dir, "downloads")
            os.mkdir(work)
            failed = run_checks(front, objects, work)
            failed += run_write_checks(front, new, work)
            ok = wait_for(lambda: scraped(prom_url, len(gws)), SCRAPE_WAIT)
            print("Prometheus scrapes both gateways: %s" % ("yes" if ok else "NO"))
            failed += 0 if ok else 1
            ok = wait_for(lambda: rules_loaded(prom_url), SCRAPE_WAIT)
            print("Prometheus evaluates the alert rules: %s" % ("yes" if ok else "NO"))
            failed += 0 if ok else 1
        else:
            print("Ctrl-C to stop.")
            sys.stdout.flush()
            try:
                signal.pause()
            except KeyboardInterrupt:
                failed = 0
    except KeyboardInterrupt:
        print("interrupted")
    except (OSError, AssertionError, saio.SaioError) as e:
        print("error: %s" % e)
    finally:
        print("stopping")
        for proc in helpers:
            procs.stop(proc, grace=10.0)
        for gw in gws:
            try:
                gw.stop()
            except AssertionError as e:
                print("swiftgate did not stop cleanly: %s" % e)
                failed += 1
        swift.stop()
    if failed:
        print("FAILED (%d); files kept in %s" % (failed, demo_dir))
        return 1
    shutil.rmtree(demo_dir, ignore_errors=True)
    print("all good" if opts.no_wait else "stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
