"""`swiftgate backup` against the real Swift and the tests' Fractals API
(tests/lib/fractals_api.py serving small images).

Each test copies into a container of its own, directly with a
configuration's credentials (-c) or through a gateway's PUT (-g), and
asserts the summary's counts (--summary-json), what Swift holds (every
object's MD5, by HEAD, and bytes), how many PUTs Swift's proxy log shows,
and what --report says of what failed.
"""

import concurrent.futures
import hashlib
import os
import re
import signal
import subprocess
import time

import clisummary
import fixtures
import fractals_api
import gateway
import httputil
import keystone
from waits import wait_until

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SUMMARY_RE = re.compile(
    r"^backup: summary: stored (\d+), present (\d+), failed (\d+), "
    r"bad listing pages or objects (\d+)$", re.MULTILINE)
WRITE_TOKEN = "backup-write-token"


def images(n, seed):
    """{uuid: bytes} of n small PNG-looking images (200..2200 bytes)."""
    out = {}
    for i in range(n):
        body = fixtures.random_bytes(200 + (i * 7919) % 2001, seed=seed + i)
        out[fixtures.new_uuid()] = PNG_MAGIC + body
    return out


def container(ctx, name):
    ctx.saio.put_container(name)
    return name


def write_conf(ctx, cont, **swift):
    """A configuration naming the test Swift and container `cont` (and the
    [swift] keys given)."""
    sections = gateway.merge_conf(
        gateway.default_conf(ctx.tmpdir, auth_url=ctx.saio.auth_url),
        {"swift": dict(swift, container=cont)})
    path = os.path.join(ctx.tmpdir, "backup-%s.conf" % cont)
    with open(path, "w") as f:
        f.write(gateway.render_conf(sections))
    return path


def backup(ctx, args, env=None, timeout=60.0):
    """`swiftgate backup args...`: (rc, stdout, stderr).  Fails if it died
    of a signal or a sanitizer reported."""
    return gateway.run(ctx.bin, ["backup"] + list(args), env=env,
                       timeout=timeout)


def summary_json(out, err):
    return clisummary.summary_json(out, err)


def assert_counts(js, err, **want):
    clisummary.assert_counts(js, err, SUMMARY_RE, ("stored", "present", "failed", "bad_listing"), **want)


def swift_requests(ctx, method, cont, status=None):
    """Requests for objects of `cont` in Swift's proxy log so far."""
    path = re.compile(r"/v1/AUTH_test/%s/[0-9a-f-]{36}$" % re.escape(cont))
    return sum(1 for m, p, s, _ in ctx.saio.proxy_log_requests()
               if m == method and path.match(p)
               and (status is None or s == status))


def assert_in_swift(ctx, cont, imgs):
    """Swift holds every image of imgs under its uuid with its MD5; a few
    are read back whole, as image/png."""
    def head(uuid):
        status, headers = ctx.saio.head_object(cont, uuid)
        return uuid, status, headers.get("Etag")

    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        heads = list(ex.map(head, imgs))
    bad = [(u, s, e) for u, s, e in heads
           if s != 200 or e != hashlib.md5(imgs[u]).hexdigest()]
    assert not bad, "%d of %d not in Swift with their MD5, e.g. %s" % (
        len(bad), len(imgs), bad[:3])
    for uuid in list(imgs)[::97]:
        status, headers, body = ctx.saio.get_object(cont, uuid)
        assert status == 200 and body == imgs[uuid], (uuid, status)
        assert headers.get("Content-Type") == "image/png", headers


# -- directly into Swift (-c) ----------------------------------------------------

def test_backup_stores_all_then_nothing(ctx):
    cont = container(ctx, "backup_all")
    conf = write_conf(ctx, cont)
    imgs = images(500, seed=1000)
    with fractals_api.FractalsApi(list(imgs), images=imgs) as api:
        api.delay = 0.002
        t = time.monotonic()
        rc, out, err = backup(ctx, ["--from-api", api.url, "-c", conf, "-j", "8",
                                    "--summary-json"])
        took = time.monotonic() - t
        js = summary_json(out, err)
        assert rc == 0, "want exit 0, got %d\n%s" % (rc, gateway.tail(err))
        assert_counts(js, err, stored=500, present=0, failed=0, bad_listing=0,
                      total=500, done=500, interrupted=False)
        assert js["bytes"] == sum(len(b) for b in imgs.values()), js
        # -j 8: never more than 8 images asked of the API at once, and more
        # than one (the run is parallel).
        assert 2 <= api.max_inflight <= 8, api.max_inflight
        assert api.tokens_seen == 0, "Swift's token went to the API"
        assert "500 fractals in 5 pages" in err, gateway.tail(err)
        print("     500 fractals stored in %.1f s" % took)
        assert_in_swift(ctx, cont, imgs)
        assert swift_requests(ctx, "PUT", cont, 201) == 500

        # Again: everything is present, nothing is stored.
        heads_before = swift_requests(ctx, "HEAD", cont)
        rc, out, err = backup(ctx, ["--from-api", api.url, "-c", conf, "-j", "8",
                                    "--summary-json"])
        js = summary_json(out, err)
        assert rc == 0, "want exit 0, got %d\n%s" % (rc, gateway.tail(err))
        assert_counts(js, err, stored=0, present=500, failed=0, total=500)
    assert swift_requests(ctx, "PUT", cont) == 500, "the second run PUT"
    assert swift_requests(ctx, "HEAD", cont) - heads_before >= 500


def test_backup_sigint_then_rerun_stores_the_rest(ctx):
    cont = container(ctx, "backup_sigint")
    conf = write_conf(ctx, cont)
    imgs = images(500, seed=2000)
    with fractals_api.FractalsApi(list(imgs), images=imgs) as api:
        api.delay = 0.01        # about 3 s at -j 2: time to stop it halfway
        proc = subprocess.Popen(
            [ctx.bin, "backup", "--from-api", api.url, "-c", conf, "-j", "2",
             "--summary-json"], stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=gateway.gateway_env())
        try:
            assert wait_until(lambda: sum(api.image_requests.values()) >= 150,
                              20, step=0.05), "the run did not get going"
            os.kill(proc.pid, signal.SIGINT)
            out, err = proc.communicate(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        out, err = out.decode(), err.decode()
        assert not gateway.sanitizer_report(err), gateway.tail(err)
        assert proc.returncode == 130, "want 130 after SIGINT, got %d\n%s" % (
            proc.returncode, gateway.tail(err))
        first = summary_json(out, err)
        assert first["interrupted"] is True and first["failed"] == 0, first
        assert 0 < first["stored"] < 500, first
        assert re.search(r"interrupted by Interrupt: \d+ requests cancelled, "
                         r"\d+ not started", err), err

        rc, out, err = backup(ctx, ["--from-api", api.url, "-c", conf, "-j", "8",
                                    "--summary-json"])
        second = summary_json(out, err)
        assert rc == 0, "want exit 0, got %d\n%s" % (rc, gateway.tail(err))
    # What the first run stored is present; the rerun stores the rest; an
    # upload cut short by the signal is either whole in Swift (present) or
    # stored by the rerun, never stored twice.
    assert second["present"] >= first["stored"], (first, second)
    assert second["stored"] + second["present"] == 500, second
    assert second["stored"] < 500 - 100, (first, second)
    assert swift_requests(ctx, "PUT", cont, 201) == 500
    assert_in_swift(ctx, cont, imgs)


def test_backup_api_failures_are_retried_then_reported(ctx):
    cont = container(ctx, "backup_faults")
    conf = write_conf(ctx, cont)
    imgs = images(30, seed=3000)
    uuids = list(imgs)
    broken, flaky, corrupt = uuids[3], uuids[7], uuids[12]
    report = os.path.join(ctx.tmpdir, "report.txt")
    with fractals_api.FractalsApi(uuids, images=imgs) as api:
        api.failing = {broken: -1, flaky: 2}
        api.corrupt = {corrupt}
        t = time.monotonic()
        rc, out, err = backup(ctx, ["--from-api", api.url, "-c", conf, "-j", "4",
                                    "--report", report, "--summary-json"])
        took = time.monotonic() - t
        js = summary_json(out, err)
        requests = dict(api.image_requests)
    assert rc == 1, "want exit 1, got %d\n%s" % (rc, gateway.tail(err))
    assert_counts(js, err, stored=28, present=0, failed=2, total=30)
    # A 500 is retried 3 times (0.5 + 1 + 2 s of backoff), then reported;
    # two 500s and then the image: stored.  Bytes that miss the listed
    # checksum are asked for twice, then reported with their page and place.
    assert requests[broken] == 4 and requests[flaky] == 3, requests
    assert requests[corrupt] == 2, requests
    assert took >= 3.5, took
    with open(report) as f:
        lines = f.read().splitlines()
    assert len(lines) == 2, lines
    by_uuid = dict(line.split(": ", 1) for line in lines)
    assert set(by_uuid) == {broken, corrupt}, lines
    assert "GET from the API: HTTP 500" in by_uuid[broken] and \
        "after 3 retries" in by_uuid[broken], lines
    assert "does not match its checksum" in by_uuid[corrupt] and \
        "page 1, object 13" in by_uuid[corrupt], lines
    assert ctx.saio.head_object(cont, broken)[0] == 404
    assert ctx.saio.head_object(cont, corrupt)[0] == 404
    assert_in_swift(ctx, cont, {u: b for u, b in imgs.items()
                                if u not in (broken, corrupt)})


def test_backup_bad_listing_pages_are_reported(ctx):
    cont = container(ctx, "backup_pages")
    conf = write_conf(ctx, cont)
    imgs = images(350, seed=4000)
    uuids = list(imgs)
    report = os.path.join(ctx.tmpdir, "report.txt")
    with fractals_api.FractalsApi(uuids, images=imgs) as api:
        api.bad_pages = {2: "500", 3: "junk"}
        rc, out, err = backup(ctx, ["--from-api", api.url, "-c", conf,
                                    "--report", report, "--summary-json"])
    js = summary_json(out, err)
    assert rc == 1, "want exit 1, got %d\n%s" % (rc, gateway.tail(err))
    # Pages 1 and 4 (100 and 50 fractals) are stored all the same.
    assert_counts(js, err, stored=150, present=0, failed=0, bad_listing=2,
                  total=150)
    page_url = r"%s/v1/fractal\?page=%d&results_per_page=100"
    assert re.search(r"page 2: HTTP 500 \(GET " + page_url % (
        re.escape(api.url), 2) + r"\)", err), err
    assert re.search(r"page 3: not JSON: .*\(GET " + page_url % (
        re.escape(api.url), 3) + r"\)", err), err
    with open(report) as f:
        text = f.read()
    assert "page 2: HTTP 500" in text and "page 3: not JSON" in text, text
    assert_in_swift(ctx, cont, {u: imgs[u] for u in uuids[:100] + uuids[300:]})
    assert ctx.saio.head_object(cont, uuids[150])[0] == 404


def test_backup_with_keystone_credentials(ctx):
    # The gateway's own Keystone v3 code: one token for the whole run, from
    # the endpoint of the configured interface and region (the others
    # point at a closed port), and the password in no line printed.
    cont = container(ctx, "backup_keystone")
    imgs = images(20, seed=6000)
    with keystone.Keystone(ctx.saio) as ks:
        conf = write_conf(ctx, cont, auth_version="3", auth_url=ks.auth_url,
                          user=keystone.USER, key=keystone.PASSWORD,
                          project=keystone.PROJECT, interface="internal",
                          region="r2")
        with fractals_api.FractalsApi(list(imgs), images=imgs) as api:
            rc, out, err = backup(ctx, ["--from-api", api.url, "-c", conf,
                                        "--summary-json"])
        assert ks.count == 1, "%d token requests" % ks.count
    assert rc == 0, "want exit 0, got %d\n%s" % (rc, gateway.tail(err))
    assert_counts(summary_json(out, err), err, stored=20, failed=0)
    assert keystone.PASSWORD not in err + out
    assert_in_swift(ctx, cont, imgs)


def test_backup_renews_a_token_swift_forgot(ctx):
    # Swift forgets every TempAuth token (memcached restarted) while the
    # 40th image is being fetched (-j 1: nothing else in flight): its PUT
    # gets a 401, a new token is fetched once and the PUT sent again.
    cont = container(ctx, "backup_renew")
    conf = write_conf(ctx, cont)
    imgs = images(80, seed=7000)
    auths = ctx.saio.proxy_log_count("GET", r"/auth/v1\.0")
    with fractals_api.FractalsApi(list(imgs), images=imgs) as api:
        api.before_image = lambda n: n == 40 and ctx.saio.restart_memcached()
        rc, out, err = backup(ctx, ["--from-api", api.url, "-c", conf, "-j", "1",
                                    "--summary-json"])
    assert rc == 0, "want exit 0, got %d\n%s" % (rc, gateway.tail(err))
    assert_counts(summary_json(out, err), err, stored=80, failed=0)
    puts = [(p, st) for m, p, st, _ in ctx.saio.proxy_log_requests()
            if m == "PUT" and p.startswith("/v1/AUTH_test/%s/" % cont)]
    assert [st for _, st in puts].count(401) == 1, puts
    assert [st for _, st in puts].count(201) == 80, puts
    # The run's token, and the one after the 401 (the test's own client
    # logs in again too, after the restart).
    assert ctx.saio.proxy_log_count("GET", r"/auth/v1\.0") - auths >= 2
    assert_in_swift(ctx, cont, imgs)


def test_backup_bad_usage_exits_2(ctx):
    conf = write_conf(ctx, "fractals")
    api = "http://127.0.0.1:%d" % httputil.free_port()
    cases = [[], ["-c", conf], ["--from-api", api],
             ["--from-api", api, "-c", conf, "-g", "http://127.0.0.1:1"],
             ["--from-api", api, "-c", conf, "-j", "0"],
             ["--from-api", api, "-c", conf, "-j", "257"],
             ["--from-api", "ftp://x", "-c", conf],
             ["--from-api", api, "-c", conf, "--frobnicate"],
             ["--from-api", api, "-c", conf, "extra"],
             ["--from-api", api, "-g", "http://127.0.0.1:1"],
             ["--from-api", api, "-c", conf, "--token", "t"],
             ["--from-api", api, "-c", os.path.join(ctx.tmpdir, "nope.conf")]]
    for args in cases:
        rc, out, err = backup(ctx, args)
        assert rc == 2, "backup %s: want exit 2, got %d\n%s" % (args, rc, err)
        assert err.startswith("backup: ") and out == "", (args, err)
    # Credentials Swift refuses: exit 2 before anything is listed.
    rc, out, err = backup(ctx, ["--from-api", api, "-c", conf],
                          env={"SWIFTGATE_SWIFT_KEY": "wrong"})
    assert rc == 2 and "no Swift token" in err, (rc, err)
    rc, out, err = backup(ctx, ["--help"])
    assert rc == 0 and "130 on Ctrl-C" in out and err == "", (rc, out, err)


# -- through a gateway (-g) --------------------------------------------------------

def test_backup_through_a_gateway(ctx):
    cont = container(ctx, "backup_gateway")
    gw = ctx.gateway(server={"write_token": WRITE_TOKEN},
                     swift={"container": cont})
    imgs = images(60, seed=5000)
    with fractals_api.FractalsApi(list(imgs), images=imgs) as api:
        rc, out, err = backup(ctx, ["--from-api", api.url, "-g", gw.url,
                                    "-j", "8", "--summary-json"],
                              env={"SWIFTGATE_WRITE_TOKEN": WRITE_TOKEN})
        js = summary_json(out, err)
        assert rc == 0, "want exit 0, got %d\n%s" % (rc, gateway.tail(err))
        assert_counts(js, err, stored=60, present=0, failed=0, total=60)
        assert_in_swift(ctx, cont, imgs)
        # Stored through the gateway, so its cache has them.
        uuid = list(imgs)[0]
        r = httputil.get(gw.url + "/fractal/" + uuid, timeout=10)
        assert r.status == 200 and r.body == imgs[uuid], r.status
        rc, out, err = backup(ctx, ["--from-api", api.url, "-g", gw.url,
                                    "--token", WRITE_TOKEN, "--summary-json"])
        assert rc == 0, gateway.tail(err)
        assert_counts(summary_json(out, err), err, stored=0, present=60,
                      failed=0)
        # A wrong token: every fractal missing fails, named, exit 1.
        extra = images(2, seed=5100)
        api.objects += [fractals_api.fractal_object(u, 0) for u in extra]
        api.images.update(extra)
        rc, out, err = backup(ctx, ["--from-api", api.url, "-g", gw.url,
                                    "--token", "wrong", "--summary-json"])
        assert api.tokens_seen == 0, "the write token went to the API"
    assert rc == 1, (rc, gateway.tail(err))
    assert_counts(summary_json(out, err), err, stored=0, present=60, failed=2)
    assert "the write token was refused" in err, err
    assert swift_requests(ctx, "PUT", cont, 201) == 60
