#!/usr/bin/python3
"""The seeding job of docker/compose.yaml: the demo's fractals, in a Swift.

    SWIFT_AUTH_URL=http://swift:8080/auth/v1.0 SWIFT_USER=test:tester \
    SWIFT_KEY=testing /usr/bin/python3 docker/seed.py [--gateway URL] [--out FILE]

Waits for Swift's TempAuth (at most --wait seconds), creates the container
(default `fractals`), renders the images `make demo` renders
(tests/demo.py, IMAGES), uploads each under a fresh uuid4 with the same
Content-Type, and prints a curl command per image against --gateway (the
balancer in compose).  --out writes the uuids, one a line, a list
`swiftgate warm` reads; --images N seeds only the first N.  Exit 0 when
every upload got 201, else 1.
Python standard library only.
"""

import argparse
import os
import sys
import time
import urllib.parse
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "lib"))

import demo  # noqa: E402
import httputil  # noqa: E402


def auth(url, user, key, wait):
    """TempAuth v1.0, retried until `wait` seconds pass; (storage, token)."""
    deadline = time.monotonic() + wait
    last = None
    while True:
        try:
            r = httputil.get(url, {"X-Auth-User": user, "X-Auth-Key": key},
                             timeout=10)
            token = r.headers.get("X-Auth-Token")
            if r.status == 200 and token:
                return r.headers["X-Storage-Url"], token
            last = "HTTP %d" % r.status
        except OSError as e:
            last = str(e)
        if time.monotonic() >= deadline:
            raise SystemExit("seed: no token from %s after %d s: %s"
                             % (url, wait, last))
        time.sleep(1)


def put(storage, token, path, body=b"", ctype=None):
    headers = {"X-Auth-Token": token}
    if ctype:
        headers["Content-Type"] = ctype
    url = "%s/%s" % (storage, urllib.parse.quote(path))
    return httputil.request("PUT", url, headers, body, timeout=60).status


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gateway", default="http://127.0.0.1:8080",
                    help="where the printed curl commands point")
    ap.add_argument("--out", help="write the uuids there, one a line")
    ap.add_argument("--images", type=int, default=len(demo.IMAGES),
                    help="seed only the first N of the demo's images")
    ap.add_argument("--wait", type=int, default=180,
                    help="seconds to wait for Swift (default 180)")
    opts = ap.parse_args()
    env = os.environ
    storage, token = auth(env["SWIFT_AUTH_URL"], env["SWIFT_USER"],
                          env["SWIFT_KEY"], opts.wait)
    container = env.get("SWIFT_CONTAINER", "fractals")
    status = put(storage, token, container)
    if status not in (201, 202):
        print("seed: PUT container %s: HTTP %d" % (container, status))
        return 1
    failed = 0
    names = []
    for label, render, ctype in demo.IMAGES[:opts.images]:
        name = str(uuid.uuid4())
        status = put(storage, token, "%s/%s" % (container, name), render(),
                     ctype)
        ok = status == 201
        failed += not ok
        names.append(name)
        print("%s %s %s (%s)%s" % ("ok  " if ok else "FAIL", label, name,
                                   ctype, "" if ok else ": HTTP %d" % status))
        print("     curl -s -o %s.png %s/fractal/%s"
              % (label, opts.gateway, name))
    if opts.out:
        with open(opts.out, "w") as f:
            f.write("".join(n + "\n" for n in names))
    print("seeded %d of %d" % (len(names) - failed, len(names)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
