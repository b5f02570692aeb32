#!/usr/bin/python3
"""swiftgate demo (`make demo`): fractals in a real Swift, served by swiftgate.

    /usr/bin/python3 tests/demo.py --bin ./swiftgate [--port 8080] [--no-wait]

Starts a Swift on loopback (tests/lib/saio.py) in a temp dir, renders a few
Mandelbrot and Julia PNGs, uploads them to container `fractals` under fresh
uuid4 names (one as application/octet-stream, as the First App tutorial's
backups are), starts swiftgate in front and prints curl commands to try.
Then waits for Ctrl-C or SIGTERM and stops everything.

With --no-wait it runs those commands itself, checks that every download is
byte-identical to its original, prints the result and exits 0 or 1.
"""

import argparse
import os
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
import saio  # noqa: E402

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


def print_banner(swift, gw, objects, demo_dir):
    print("""
Swift (TempAuth user test:tester, key testing)
  proxy:      %s   (auth: %s)
  logs:       %s
swiftgate
  listening:  %s   (admin: %s)
  config:     %s
  stderr:     %s
  originals:  %s
""" % (swift.proxy_url, swift.auth_url, swift.log_dir, gw.url, gw.admin_url,
       gw.conf_path, gw.stderr_path, demo_dir))
    print("Fetch each fractal through swiftgate, compare with the original:")
    for (label, curl, cmp), (_, _, ctype, _) in zip(commands(gw.url, objects),
                                                      objects):
        note = ("   # stored as %s; swiftgate says image/png" % ctype
                if ctype != "image/png" else "")
        print("  %s && %s%s" % (shlex.join(curl), shlex.join(cmp), note))
    name = _octet_stream_object(objects)[1]
    print("\nHeaders only:\n  curl -I %s/fractal/%s\n" % (gw.url, name))


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
    gw = None
    failed = 1
    try:
        t0 = time.monotonic()
        swift.start()
        images = render_and_save(demo_dir)     # while Swift starts
        swift.wait_ready()
        objects = upload_all(swift, images)
        gw = gateway.Gateway(opts.bin, {"server": {
            "listen": choose_listen(opts.port)}}, auth_url=swift.auth_url,
            base_dir=demo_dir)
        gw.start()
        print("ready in %.1f s" % (time.monotonic() - t0))
        print_banner(swift, gw, objects, demo_dir)
        if opts.no_wait:
            work = os.path.join(demo_dir, "downloads")
            os.mkdir(work)
            failed = run_checks(gw.url, objects, work)
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
        if gw is not None:
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
