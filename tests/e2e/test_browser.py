"""A real browser in front of swiftgate: Debian's headless Chromium, driven
by playwright-core (tests/browser/run.mjs).

The page is itself an object in Swift, served by the gateway, so it and its
30 <img src="/fractal/<uuid>"> share one origin, and fetch() from the page
may send Range headers and read the answers.  The images are real fractal
PNGs, a third of them stored as application/octet-stream (the gateway sniffs
them to image/png).  What reached the gateway is read from its access log.

tests/browser/install.sh puts Chromium, node and playwright-core in place
where they are missing (`make test` installs Chromium with the other test
packages; playwright-core comes from the npm registry with `npm ci`).
"""

import hashlib
import json
import os
import re
import select
import signal
import subprocess
import time

import fixtures
import fractal
import httputil
from waits import wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
BROWSER_DIR = os.path.join(os.path.dirname(HERE), "browser")
N_IMAGES = 30
RANGE_SIZE = 1 << 20
SEEK = 100000
SUFFIX = 1000
INSTALL_TIMEOUT = 100.0
STEP_TIMEOUT = 40.0

_LOG_RE = re.compile(r'"(GET|HEAD) /fractal/([0-9a-f-]+)(?:\?\S*)? HTTP/[\d.]+" '
                     r'(\d{3}) (\d+) (\S+)')


def _install():
    """tests/browser/install.sh, bounded; its output on failure."""
    res = subprocess.run([os.path.join(BROWSER_DIR, "install.sh")],
                         capture_output=True, timeout=INSTALL_TIMEOUT,
                         stdin=subprocess.DEVNULL)
    out = (res.stdout + res.stderr).decode("utf-8", "replace")
    assert res.returncode == 0, "tests/browser/install.sh failed:\n" + out[-3000:]
    return out


class Browser:
    """node run.mjs: one JSON command a line in, one JSON answer a line out."""

    def __init__(self, tmpdir):
        self.stderr_path = os.path.join(tmpdir, "browser.stderr.log")
        profile = os.path.join(tmpdir, "chromium-profile")
        os.makedirs(profile)
        env = dict(os.environ, PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1")
        with open(self.stderr_path, "wb") as err:
            # Its own session: node and every Chromium process under it are
            # one process group, ended together by its id.
            self.proc = subprocess.Popen(
                ["node", os.path.join(BROWSER_DIR, "run.mjs"), profile],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                cwd=BROWSER_DIR, env=env, start_new_session=True)
        self._buf = b""
        self.version = self._read(STEP_TIMEOUT)["version"]

    def _stderr(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")[-3000:]

    def _read(self, timeout):
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("browser: no answer in %.0f s\n%s"
                                     % (timeout, self._stderr()))
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise AssertionError("browser exited (%s)\n%s"
                                         % (self.proc.poll(), self._stderr()))
                self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, timeout=STEP_TIMEOUT, **command):
        self.proc.stdin.write((json.dumps(command) + "\n").encode())
        self.proc.stdin.flush()
        answer = self._read(timeout)
        assert answer.get("ok"), "browser %s: %s" % (command["cmd"],
                                                    answer.get("error"))
        return answer

    def close(self):
        if self.proc.poll() is None:
            try:
                self.cmd(cmd="close", timeout=15)
                self.proc.wait(10)
            except (AssertionError, OSError, subprocess.TimeoutExpired):
                pass
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        else:
            # Chromium helpers left behind by a node that died.
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass


# Mandelbrot views (centre, span) and Julia parameters that look different
# from one another at 64 to 128 pixels.
_VIEWS = [(-0.6 + 0j, 3.2), (-0.745 + 0.113j, 0.06), (0.275 + 0.007j, 0.1),
          (-1.25 + 0j, 0.5), (-0.16 + 1.035j, 0.12), (-1.768 + 0j, 0.08),
          (-0.722 + 0.246j, 0.03), (-0.39 - 0.587j, 0.2), (0.3 + 0.5j, 0.4),
          (-0.75 + 0.1j, 0.6), (-0.1 + 0.9j, 0.6), (0.36 + 0.1j, 0.12),
          (-1.25066 + 0.02012j, 0.02), (-0.7453 + 0.1127j, 0.012),
          (-0.5 + 0.56j, 0.3)]
_JULIAS = [-0.8 + 0.156j, -0.4 + 0.6j, 0.285 + 0.01j, -0.70176 - 0.3842j,
           -0.835 - 0.2321j, 0.45 + 0.1428j, -0.7269 + 0.1889j, -0.123 + 0.745j,
           -0.391 - 0.587j, -1 + 0j, -0.75 + 0.11j, 0.355 + 0.355j,
           -0.54 + 0.54j, 0.37 + 0.1j, 0 + 0.8j]


def _fractals():
    """N_IMAGES PNGs from 64x64 to 128x128, Mandelbrot and Julia in turn;
    [(png, width, height)]."""
    out = []
    for i in range(N_IMAGES):
        w = 64 + (64 * i) // (N_IMAGES - 1)
        h = 64 + (64 * ((i * 7) % N_IMAGES)) // (N_IMAGES - 1)
        if i % 2 == 0:
            centre, span = _VIEWS[i // 2]
            png = fractal.mandelbrot(w, h, centre=centre, span=span, max_iter=150)
        else:
            png = fractal.julia(w, h, c=_JULIAS[i // 2], max_iter=100)
        out.append((png, w, h))
    return out


def _page_html(names):
    imgs = "\n".join('<img src="/fractal/%s" alt="fractal %d">' % (n, i)
                     for i, n in enumerate(names))
    return ("""<!doctype html>
<html><head><meta charset="utf-8"><title>swiftgate: 30 fractals</title>
<link rel="icon" href="data:,">
<style>body { background: #222; color: #eee; font: 14px sans-serif; margin: 12px }
img { margin: 4px; vertical-align: middle; border: 1px solid #555 }</style>
</head><body><h1>30 fractals through swiftgate</h1>
%s
</body></html>
""" % imgs).encode()


def _log_statuses(gw, names, skip=0, settle=0.3):
    """{name: [status, ...]} of the access log's GETs for names, from line
    `skip` on; read until it has not changed for `settle` s (at most 3 s)."""
    def read():
        return gw.access_log_lines()[skip:]
    lines = read()
    deadline = time.monotonic() + 3.0
    stable = time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - stable < settle:
        time.sleep(0.05)
        now = read()
        if now != lines:
            lines, stable = now, time.monotonic()
    out = {n: [] for n in names}
    for line in lines:
        m = _LOG_RE.search(line)
        if m and m.group(1) == "GET" and m.group(2) in out:
            out[m.group(2)].append(int(m.group(3)))
    return out


def _check_images(state, images, where):
    imgs = state["images"]
    assert len(imgs) == N_IMAGES, (where, len(imgs))
    for img, (_, w, h) in zip(imgs, images):
        assert img["complete"] and img["naturalWidth"] == w \
            and img["naturalHeight"] == h, (where, img, w, h)


def _load(browser, gw, page_url, names, images):
    """First visit: every image decodes, each fetched once with a 200 sent
    as image/png (the octet-stream ones sniffed)."""
    mark = len(gw.access_log_lines())
    state = browser.cmd(cmd="goto", url=page_url)
    assert state["status"] == 200, state["status"]
    _check_images(state, images, "load")
    by_url = {r["url"]: r for r in state["responses"]}
    for n in names:
        r = by_url.get(gw.url + "/fractal/" + n)
        assert r and r["status"] == 200 and r["mimeType"] == "image/png", (n, r)
    seen = _log_statuses(gw, names, mark)
    assert all(v == [200] for v in seen.values()), seen
    return state


def _reload(browser, gw, page, names, images):
    """page.reload(); returns (statuses the gateway logged for each image,
    statuses it logged for the page, the browser's responses by image)."""
    mark = len(gw.access_log_lines())
    state = browser.cmd(cmd="reload")
    _check_images(state, images, "reload")
    seen = _log_statuses(gw, names + [page], mark)
    page_seen = seen.pop(page)
    by_url = {r["url"]: r for r in state["responses"]}
    return seen, page_seen, {n: by_url.get(gw.url + "/fractal/" + n) for n in names}


def _media_ranges(size, first_read=None):
    """A media element's pattern: from byte 0 open-ended (read whole, or only
    first_read bytes and then dropped, as a player does when it seeks), a
    seek, then the last bytes.  [(Range, first, last, bytes read or None)]."""
    return [("bytes=0-", 0, size - 1, first_read),
            ("bytes=%d-" % SEEK, SEEK, size - 1, None),
            ("bytes=-%d" % SUFFIX, size - SUFFIX, size - 1, None)]


def _ranges(browser, gw, name, data, where, ranges):
    """fetch() each Range from the page, in order: each a 206 with the right
    Content-Range and bytes, logged as a 206.  Returns the X-Cache of each."""
    size = len(data)
    specs = [{"range": r, "read": n} if n else r for r, _, _, n in ranges]
    mark = len(gw.access_log_lines())
    results = browser.cmd(cmd="ranges", url=gw.url + "/fractal/" + name,
                          ranges=specs)["results"]
    for (rng, first, last, n), res in zip(ranges, results):
        want = data[first:last + 1]
        ctx = (where, rng, {k: v for k, v in res.items() if k != "sha256"})
        assert res["status"] == 206, ctx
        assert res["contentRange"] == "bytes %d-%d/%d" % (first, last, size), ctx
        assert res["contentLength"] == str(len(want)), ctx
        assert res["acceptRanges"] == "bytes", ctx
        want = want[:n] if n else want
        assert res["length"] == len(want), ctx
        assert res["sha256"] == hashlib.sha256(want).hexdigest(), ctx
    seen = _log_statuses(gw, [name], mark)[name]
    # A request the browser dropped half-way may be missing from the log:
    # swiftgate logs (and counts) no request whose client went away while
    # its body was being written.
    dropped = sum(1 for r in ranges if r[3])
    assert set(seen) == {206} and len(ranges) - dropped <= len(seen) <= len(ranges), \
        (where, seen)
    return [r["xCache"] for r in results]


def _wait_hit(gw, name, timeout=5.0):
    wait_until(lambda: httputil.head(gw.url + "/fractal/" + name)
               .headers.get("X-Cache") == "HIT", timeout,
               "%s to be a hit" % name, step=0.1)


def test_browser_renders_revalidates_and_seeks(ctx):
    t0 = time.monotonic()
    installed = _install()
    t_install = time.monotonic() - t0

    images = _fractals()
    names = []
    for i, (png, _, _) in enumerate(images):
        ctype = "application/octet-stream" if i % 3 == 0 else "image/png"
        names.append(fixtures.upload(ctx.saio, png, ctype)[0])
    page, _ = fixtures.upload(ctx.saio, _page_html(names), "text/html; charset=utf-8")
    video = fixtures.random_bytes(RANGE_SIZE, seed=4242)
    video_a, _ = fixtures.upload(ctx.saio, video, "video/mp4")
    video_b, _ = fixtures.upload(ctx.saio, video, "video/mp4")

    browser = Browser(ctx.tmpdir)
    try:
        # 1. ETag, Last-Modified and a Cache-Control that lets the browser
        #    revalidate (the default, immutable for a year, would skip it).
        gw = ctx.gateway(cache={"cache_control": "public, max-age=3600"})
        page_url = gw.url + "/fractal/" + page
        _load(browser, gw, page_url, names, images)
        shot = os.path.join(ctx.tmpdir, "fractals.png")
        browser.cmd(cmd="screenshot", path=shot)
        assert os.path.getsize(shot) > 10000, os.path.getsize(shot)

        # 2. A reload fetches no image again with a 200: each comes from
        #    the browser's cache or is revalidated with a 304.
        seen, page_seen, responses = _reload(browser, gw, page, names, images)
        assert all(set(v) <= {304} and len(v) <= 1 for v in seen.values()), seen
        assert page_seen == [304], page_seen
        n304 = sum(len(v) for v in seen.values())
        cached = [n for n, r in responses.items()
                  if r and (r["fromMemoryCache"] or r["fromDiskCache"])]
        # Not asked of the gateway: then the browser took it from its cache.
        assert all(n in cached for n, v in seen.items() if not v), (seen, responses)

        # 3. Ranges from the page, cold (the first starts the fill) and hit.
        cold = _ranges(browser, gw, video_a, video, "cold",
                       _media_ranges(len(video), first_read=65536))
        assert cold[0] == "MISS", cold
        _wait_hit(gw, video_a)
        hit = _ranges(browser, gw, video_a, video, "hit", _media_ranges(len(video)))
        assert hit == ["HIT"] * 3, hit

        # 4. Cache-Control: no-cache: the reload revalidates every image,
        #    each answered 304.  range_passthrough 64K: a player that starts
        #    at a seek on a cold object gets it from Swift as a Range (PASS)
        #    while the whole object is filled behind it.
        gw2 = ctx.gateway(cache={"cache_control": "no-cache",
                                 "range_passthrough": "64K"})
        _load(browser, gw2, gw2.url + "/fractal/" + page, names, images)
        seen2, page_seen2, responses2 = _reload(browser, gw2, page, names, images)
        assert all(v == [304] for v in seen2.values()), seen2
        assert page_seen2 == [304], page_seen2
        seen_by_browser2 = sorted({r["status"] if r else None for r in responses2.values()}, key=str)
        seek_first = _media_ranges(len(video))[1:] + _media_ranges(len(video))[:1]
        cold_pass = _ranges(browser, gw2, video_b, video, "seek first, cold, passthrough 64K",
                            seek_first)
        assert cold_pass[0] == "PASS", cold_pass
    finally:
        browser.close()

    print("     browser %s; install %.1f s%s; reload (max-age): %d x 304, "
          "%d from the browser cache, page %s; reload (no-cache): %d x 304 "
          "(the browser saw %s), page %s; "
          "ranges X-Cache cold %s, hit %s, seek first (passthrough) %s; "
          "screenshot %s; total %.1f s"
          % (browser.version, t_install,
             "".join(" (%s)" % l for l in installed.splitlines()
                     if l.startswith(("deps:", "browser:"))),
             n304, len(cached), page_seen, sum(len(v) for v in seen2.values()),
             seen_by_browser2, page_seen2,
             cold, hit, cold_pass, shot, time.monotonic() - t0))
