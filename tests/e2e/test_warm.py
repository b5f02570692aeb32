"""`swiftgate warm` against a real gateway in front of the real Swift.

2,000 small objects are uploaded once (the first test that needs them does
it) and warmed from a list file, from a Fractals-API-shaped listing
(tests/lib/fractals_api.py), with plain GETs, under a pseudo-terminal and
into a pipe, and interrupted by SIGINT.  Each test asserts the summary's
exact counts (--summary-json), what Swift saw (its proxy log) and what the
gateway answers afterwards (X-Cache: HIT).
"""

import concurrent.futures
import os
import pty
import re
import select
import signal
import socket
import subprocess
import time

import clisummary
import fixtures
import fractals_api
import gateway
import httputil
from waits import wait_until

CORPUS_SIZE = 2000
# Every object GET the gateway makes, with or without ?multipart-manifest=get.
OBJECT_GETS = r"/v1/AUTH_test/fractals/[0-9a-fA-F-]{36}(?:%3F\S*)?"
PROGRESS_RE = (r"warm: (\d+)/(\d+) \((\d+)%\), ([\d.]+) objects/s"
               r"(, [\d.]+ MB, [\d.]+ MB/s)?, ETA [-\d:]+, (\d+) failed")
SUMMARY_RE = re.compile(
    r"^warm: summary: warmed (\d+), already cached (\d+), uncacheable (\d+), "
    r"not found (\d+), failed (\d+), bad lines (\d+), duplicates (\d+)$",
    re.MULTILINE)

_corpus = None


def corpus(ctx):
    """[(uuid, size)] of CORPUS_SIZE objects of 200..2000 bytes in Swift,
    uploaded by the first test that asks, with 16 threads."""
    global _corpus
    if _corpus is None:
        t = time.monotonic()

        def put(i):
            data = fixtures.random_bytes(200 + (i * 7919) % 1801, seed=9000 + i)
            name, _ = fixtures.upload(ctx.saio, data, "image/png")
            return name, len(data)

        with concurrent.futures.ThreadPoolExecutor(16) as ex:
            objs = list(ex.map(put, range(CORPUS_SIZE)))
        print("     uploaded %d objects in %.1f s"
              % (CORPUS_SIZE, time.monotonic() - t))
        _corpus = objs
    return _corpus


def warm(ctx, args, stdin=None, timeout=60.0):
    """`swiftgate warm args...`; returns (rc, stdout, stderr, seconds).

    Fails if it died by a signal or a sanitizer reported."""
    t = time.monotonic()
    res = subprocess.run([ctx.bin, "warm"] + list(args), capture_output=True,
                         input=stdin, env=gateway.gateway_env(),
                         timeout=timeout)
    dt = time.monotonic() - t
    out = res.stdout.decode("utf-8", "replace")
    err = res.stderr.decode("utf-8", "replace")
    check_exit(res.returncode, err, args)
    return res.returncode, out, err, dt


def check_exit(rc, err, args):
    marker = gateway.sanitizer_report(err)
    assert rc >= 0 and not marker, "swiftgate warm %s: %s\n%s" % (
        " ".join(args), marker or "killed by signal %d" % -rc,
        gateway.tail(err))


def summary_json(out, err):
    return clisummary.summary_json(out, err)


def assert_counts(js, err, **want):
    clisummary.assert_counts(js, err, SUMMARY_RE,
                             ("warmed", "cached", "uncacheable", "not_found",
                              "failed", "bad_lines", "duplicates"), **want)


def write_list(ctx, lines, name="list.txt"):
    path = os.path.join(ctx.tmpdir, name)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def object_gets(ctx):
    """Object GETs in Swift's proxy log so far (any object, any status)."""
    return ctx.saio.proxy_log_count("GET", OBJECT_GETS)


def assert_hits(gw, objs):
    """Each of objs is answered from the cache, whole."""
    for name, size in objs:
        r = httputil.get(gw.url + "/fractal/" + name, timeout=10)
        assert r.status == 200 and r.headers.get("X-Cache") == "HIT" \
            and len(r.body) == size, (
                "%s after warming: want 200 HIT with %d bytes, got %d %s "
                "with %d bytes" % (name, size, r.status,
                                   r.headers.get("X-Cache"), len(r.body)))


# -- a list file ----------------------------------------------------------------

def test_list_file_warms_everything_once(ctx):
    objs = corpus(ctx)
    gw = ctx.gateway()
    unknown = [fixtures.new_uuid() for _ in range(5)]
    u0 = objs[0][0]
    bad = ["not-a-uuid", "/fractal/123", u0 + "x", u0.replace("-", ""),
           "/fractals/" + u0, "fractal/" + u0, "ftp://h/fractal/" + u0,
           "http:///fractal/" + u0, "/fractal/%s/more" % u0,
           "http://user:s3cret@h/fractal/" + u0[:-1]]
    lines = ["# fractals to warm", ""]
    bad_at = []            # line numbers (1-based) of the bad lines
    for i, (name, _) in enumerate(objs):
        form = i % 4
        if form == 0:      # host ignored: -g wins
            lines.append("http://192.0.2.1:9/fractal/%s" % name)
        elif form == 1:
            lines.append("/fractal/%s?v=%d" % (name, i))
        elif form == 2:
            lines.append(name)
        else:
            lines.append("  %s\t" % name)
        if i % 200 == 100:
            lines.append("# comment %d" % i)
            bad_at.append(len(lines) + 1)
            lines.append(bad[len(bad_at) - 1])
    lines += ["/fractal/" + u for u in unknown]
    lines += [objs[1][0], "/fractal/" + objs[2][0], objs[3][0], ""]
    assert len(bad_at) == 10
    path = write_list(ctx, lines)
    report = os.path.join(ctx.tmpdir, "report.txt")

    before = object_gets(ctx)
    rc, out, err, dt = warm(ctx, ["-g", gw.url, "-j", "32", "--report",
                                  report, "--summary-json", path])
    js = summary_json(out, err)
    assert rc == 1, "5 unknown uuids and 10 bad lines: want exit 1, got " \
        "%d\n%s" % (rc, gateway.tail(err))
    assert_counts(js, err, warmed=2000, cached=0, uncacheable=0, not_found=5,
                  failed=0, bad_lines=10, duplicates=3, total=2005,
                  done=2005, bytes=0, interrupted=False)
    for n in bad_at:
        want = "warm: %s:%d: not a fractal URL, path or uuid: " % (path, n)
        assert want in err, "no report of bad line %d (%r)\n%s" % (
            n, lines[n - 1], gateway.tail(err, 30))
    assert len(re.findall(r"not a fractal URL, path or uuid", err)) == 10
    assert "s3cret" not in err, "a URL's password was printed"
    with open(report) as f:
        rep = sorted(f.read().splitlines())
    assert rep == sorted("%s: not found (HTTP 404)" % u for u in unknown), rep

    swift = object_gets(ctx) - before
    assert swift == 2005, "Swift saw %d object GETs while warming, want " \
        "2005 (each object and each unknown uuid once)" % swift
    sample = objs[::10]
    before = object_gets(ctx)
    assert_hits(gw, sample)
    after = object_gets(ctx)
    assert after == before, "%d object GETs reached Swift for %d warmed " \
        "objects" % (after - before, len(sample))

    rc2, out2, err2, dt2 = warm(ctx, ["-g", gw.url, "-j", "32",
                                      "--summary-json", path])
    js2 = summary_json(out2, err2)
    assert rc2 == 1, rc2
    assert_counts(js2, err2, warmed=0, cached=2000, not_found=5, failed=0,
                  bad_lines=10)
    again = object_gets(ctx) - after
    assert again <= 5, "the rerun sent %d GETs to Swift, want at most the 5 " \
        "unknown uuids" % again
    assert dt2 < dt and dt2 < 10, "rerun took %.2f s (first run %.2f s)" % (
        dt2, dt)
    print("     warm 2005 at -j 32: %.2f s (%.0f objects/s); rerun, all "
          "cached: %.2f s (%.0f objects/s)" % (js["seconds"], 2005 /
                                              js["seconds"], js2["seconds"],
                                              2005 / js2["seconds"]))


# -- the Fractals API -------------------------------------------------------------

def test_from_api_follows_every_page(ctx):
    objs = corpus(ctx)
    gw = ctx.gateway()
    with fractals_api.FractalsApi([n for n, _ in objs]) as api:
        rc, out, err, _ = warm(ctx, ["-g", gw.url, "-j", "32",
                                     "--from-api", api.url + "/",
                                     "--summary-json"])
        requests = list(api.requests)
    js = summary_json(out, err)
    assert rc == 0, "want exit 0, got %d\n%s" % (rc, gateway.tail(err))
    assert_counts(js, err, warmed=2000, cached=0, not_found=0, failed=0,
                  bad_lines=0, total=2000)
    pages = [(p, q.get("page"), q.get("results_per_page"))
             for p, q in requests]
    want = [("/v1/fractal", str(i), "100") for i in range(1, 21)]
    assert pages == want, "API requests: want pages 1..20 of 100, got %s" % (
        pages,)
    assert "2000 fractals in 20 pages" in err, gateway.tail(err)
    assert_hits(gw, objs[::100])


def test_from_api_bad_listing_exits_1(ctx):
    # Not Flask-Restless JSON: a clear message naming the page, exit 1,
    # and nothing requested from the gateway.
    gw = ctx.gateway()
    with fractals_api.FractalsApi([]) as api:
        rc, _, err, _ = warm(ctx, ["-g", gw.url, "--from-api",
                                   api.url + "/nothing-here"])
    assert rc == 1, "want exit 1, got %d\n%s" % (rc, err)
    assert re.search(r"/nothing-here/v1/fractal: page 1: HTTP 404", err), err
    assert "summary" not in err, err


# -- progress -----------------------------------------------------------------------

def run_on_pty(argv, timeout=60.0):
    """Run argv with stderr on a pseudo-terminal; returns (rc, stdout,
    bytes written to the terminal)."""
    master, slave = os.openpty()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=slave,
                            env=gateway.gateway_env())
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError:            # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        out = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return proc.returncode, out.decode(), b"".join(chunks).decode("utf-8",
                                                                  "replace")


def test_progress_on_a_terminal(ctx):
    objs = corpus(ctx)[:300]
    gw = ctx.gateway()
    path = write_list(ctx, [n for n, _ in objs])
    rc, out, term = run_on_pty([ctx.bin, "warm", "-g", gw.url, "-j", "2",
                                "--progress-interval", "0.05",
                                "--summary-json", path])
    check_exit(rc, term, ["(pty)"])
    assert rc == 0, "want exit 0, got %d\n%r" % (rc, term[-2000:])
    assert isatty_was_seen(term), "no live progress line on the " \
        "terminal:\n%r" % term[-2000:]
    live = re.findall("\r" + PROGRESS_RE + "\x1b\\[K", term)
    assert len(live) >= 2, "want several \\r-rewritten progress lines, got " \
        "%d:\n%r" % (len(live), term[-2000:])
    done = [int(m[0]) for m in live]
    assert done == sorted(done) and all(m[1] == "300" for m in live), live
    assert all(m[4] == "" for m in live), "MB shown without --via-get"
    # The live line is wiped before the summary, which ends the output.
    assert re.search(r"\r\x1b\[Kwarm: summary: warmed 300, already cached 0",
                     term), term[-1000:]
    assert summary_json(out, term)["warmed"] == 300


def isatty_was_seen(term):
    """Progress went to a terminal: \\r without a newline after it."""
    return re.search("\rwarm: \\d+/\\d+ [^\n]*\x1b\\[K\rwarm:", term) is not None


def test_progress_plain_lines(ctx):
    objs = corpus(ctx)[300:600]
    gw = ctx.gateway()
    path = write_list(ctx, [n for n, _ in objs])
    rc, out, err, dt = warm(ctx, ["-g", gw.url, "-j", "2",
                                  "--progress-interval", "0.2",
                                  "--summary-json", path])
    assert rc == 0, "want exit 0, got %d\n%s" % (rc, gateway.tail(err))
    assert "\r" not in err and "\x1b" not in err, \
        "terminal control sequences in a pipe: %r" % err[:300]
    lines = err.splitlines()
    prog = [re.fullmatch(PROGRESS_RE, ln) for ln in lines]
    idx = [i for i, m in enumerate(prog) if m]
    want = max(2, int(dt / 0.2) - 3)
    assert len(idx) >= want, "want at least %d progress lines in %.1f s, " \
        "got %d:\n%s" % (want, dt, len(idx), err)
    done = [int(prog[i].group(1)) for i in idx]
    assert done == sorted(done), done
    summ = [i for i, ln in enumerate(lines) if ln.startswith("warm: summary:")]
    assert summ and summ[0] > idx[-1], "the summary must follow the " \
        "progress:\n%s" % err
    assert_counts(summary_json(out, err), err, warmed=300, failed=0)


# -- plain GETs ---------------------------------------------------------------------

def test_via_get_counts_bytes(ctx):
    objs = corpus(ctx)[1200:1500]
    total = sum(size for _, size in objs)
    gw = ctx.gateway()
    path = write_list(ctx, [n for n, _ in objs])
    rc, out, err, _ = warm(ctx, ["-g", gw.url, "-j", "8", "--via-get",
                                 "--progress-interval", "0.05",
                                 "--summary-json", path])
    assert rc == 0, "want exit 0, got %d\n%s" % (rc, gateway.tail(err))
    assert_counts(summary_json(out, err), err, warmed=300, cached=0,
                  failed=0, bytes=total)
    assert re.search(r"objects/s, [\d.]+ MB, [\d.]+ MB/s", err), \
        "no MB/s with --via-get:\n%s" % err
    assert "X-Swiftgate-Warm" not in err, err
    # The gateway sent whole bodies (200), not warm answers (204).  A
    # line is written as its answer ends, which may be a moment after the
    # client read the last byte.
    def logged():
        return [ln for ln in gw.access_log_lines() if "/fractal/" in ln]
    wait_until(lambda: len(logged()) >= 300, 3.0)
    codes = logged()
    assert len(codes) == 300 and all(" 200 " in ln for ln in codes), \
        codes[:3]
    rc, out, err, _ = warm(ctx, ["-g", gw.url, "-j", "8", "--via-get",
                                 "--summary-json", path])
    assert rc == 0, err
    assert_counts(summary_json(out, err), err, warmed=0, cached=300,
                  bytes=total)


# -- hosts, stdin, failures ---------------------------------------------------------

def test_url_hosts_stdin_and_failures(ctx):
    objs = corpus(ctx)[1500:1520]
    gw = ctx.gateway()
    # Without -g, a URL line goes to its own host; the list comes on stdin.
    text = "\n".join("%s/fractal/%s?x=%d" % (gw.url, n, i)
                     for i, (n, _) in enumerate(objs)) + "\n"
    rc, out, err, _ = warm(ctx, ["--summary-json", "-"], stdin=text.encode())
    assert rc == 0, "want exit 0, got %d\n%s" % (rc, gateway.tail(err))
    assert_counts(summary_json(out, err), err, warmed=20, failed=0)
    assert "hosts of the URL lines" in err, err

    # With -g, the lines' host is ignored: a closed port fails them all.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = "http://127.0.0.1:%d" % s.getsockname()[1]
    report = os.path.join(ctx.tmpdir, "report.txt")
    rc, out, err, _ = warm(ctx, ["-g", closed, "--report", report,
                                 "--summary-json"], stdin=text.encode())
    assert rc == 1, "want exit 1, got %d\n%s" % (rc, err)
    assert_counts(summary_json(out, err), err, warmed=0, failed=20)
    with open(report) as f:
        rep = f.read().splitlines()
    assert len(rep) == 20 and all(re.match(r"[0-9a-f-]{36}: .*onnect", ln)
                                  for ln in rep), rep[:3]
    assert "further failures not shown here; all are in " + report in err, err

    # A server that accepts and never answers: --timeout.
    with socket.socket() as hang:
        hang.bind(("127.0.0.1", 0))
        hang.listen(16)
        url = "http://127.0.0.1:%d" % hang.getsockname()[1]
        rc, out, err, dt = warm(ctx, ["-g", url, "--timeout", "300ms",
                                      "--summary-json", "-"],
                                stdin=(objs[0][0] + "\n").encode())
    assert rc == 1 and "timed out after 0.3 s" in err, (rc, err)
    assert dt < 5, "a 300 ms timeout took %.1f s" % dt


def test_bad_usage_exits_2(ctx):
    cases = [["-j", "0"], ["-j", "257"], ["-j", "many"], ["--frobnicate"],
             ["-g", "127.0.0.1:8080"], ["--timeout", "soon"],
             ["--progress-interval", "-1"], ["-g"],
             [os.path.join(ctx.tmpdir, "no-such-list")]]
    for args in cases:
        rc, out, err, _ = warm(ctx, args, stdin=b"")
        assert rc == 2, "warm %s: want exit 2, got %d\n%s" % (args, rc, err)
        assert err.startswith("warm: ") and len(err.splitlines()) == 1, \
            "warm %s: want one line on stderr, got %r" % (args, err)
    rc, out, _, _ = warm(ctx, ["--help"])
    assert rc == 0 and "With -g, every" in out and "130 on Ctrl-C" in out, out
    rc, out, err, _ = warm(ctx, ["--summary-json"], stdin=b"# nothing\n\n")
    assert rc == 0 and summary_json(out, err)["total"] == 0, (rc, out, err)


# -- Ctrl-C ---------------------------------------------------------------------------

def test_sigint_stops_cleanly(ctx):
    objs = corpus(ctx)
    gw = ctx.gateway()
    path = write_list(ctx, [n for n, _ in objs])
    proc = subprocess.Popen([ctx.bin, "warm", "-g", gw.url, "-j", "1",
                             "--summary-json", path],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=gateway.gateway_env())
    time.sleep(0.5)
    t = time.monotonic()
    os.kill(proc.pid, signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    dt = time.monotonic() - t
    out, err = out.decode(), err.decode()
    check_exit(proc.returncode, err, ["(SIGINT)"])
    assert proc.returncode == 130, "want exit 130 after SIGINT, got %d\n%s" % (
        proc.returncode, gateway.tail(err))
    assert dt < 2, "stopping took %.1f s" % dt
    js = summary_json(out, err)
    assert js["interrupted"] is True and 0 < js["done"] < 2000, js
    assert js["warmed"] + js["cached"] == js["done"] and js["failed"] == 0, js
    m = re.search(r"interrupted by Interrupt: (\d+) requests cancelled, "
                  r"(\d+) not started", err)
    assert m, err
    assert int(m.group(1)) <= 1 and \
        js["done"] + int(m.group(1)) + int(m.group(2)) == 2000, (m.groups(), js)
    assert SUMMARY_RE.search(err), err
    # What was warmed is in the cache, in list order (-j 1).
    assert_hits(gw, objs[:min(js["done"], 20)])
