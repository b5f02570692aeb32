"""Files and privileges: the cache directory is 0700 and its files 0600;
a link or another user's directory where tmp/, blobs/ or index/ should be
stops `serve` and `fsck` with exit 2 and one line naming it, and nothing
behind the link is touched; `[server] user` makes a gateway started as
root drop to that user once its listeners and cache are open.
"""

import os
import pwd
import re
import shutil
import stat
import tempfile

import fixtures
import gateway
import httputil

CANARY = b"not the cache's to remove"


def serve_once(ctx, conf_path):
    """`swiftgate serve` expected to refuse at start: (rc, stderr)."""
    rc, _out, err = gateway.run(ctx.bin, ["serve", "-c", conf_path], timeout=30)
    return rc, err


def fsck(ctx, conf_path, repair=True):
    args = ["fsck", "-c", conf_path] + (["--repair"] if repair else [])
    return gateway.run(ctx.bin, args, timeout=60)


def outside_with_canary(ctx, name="outside"):
    """A directory beside the cache holding a canary, and the canary's path.
    The canary is named like a temp file and like a blob, so that a sweep
    following a link would take it for one."""
    outside = os.path.join(ctx.tmpdir, name)
    os.mkdir(outside)
    canaries = [os.path.join(outside, "fill-abcdef"),
                os.path.join(outside, "ab" + "0" * 62 + "-" + "0" * 15 + "1")]
    for path in canaries:
        with open(path, "wb") as f:
            f.write(CANARY)
    return outside, canaries


def assert_intact(canaries):
    for path in canaries:
        with open(path, "rb") as f:
            assert f.read() == CANARY, path


def made_cache(ctx):
    """A gateway started once and stopped, so its cache exists: (gw, dir)."""
    gw = ctx.gateway()
    gw.stop()
    return gw, os.path.join(gw.dir, "cache")


def replace_by_link(path, target):
    """Move path aside and put a symbolic link to target in its place."""
    os.rename(path, path + ".moved")
    os.symlink(target, path)


def assert_refused(ctx, gw, line):
    """serve and fsck --repair both exit 2 with line in their stderr."""
    rc, err = serve_once(ctx, gw.conf_path)
    assert rc == 2 and line in err, (rc, err)
    assert "ready listen=" not in err, err
    rc, out, err = fsck(ctx, gw.conf_path)
    assert rc == 2 and line in err, (rc, out, err)


def test_linked_tmp_is_refused_and_its_target_kept(ctx):
    """The probe of the issue: a fresh cache whose tmp/ is a link to a
    directory with a canary.  The start-up sweep used to empty it."""
    gw = ctx.gateway(start=False)
    cache = os.path.join(gw.dir, "cache")
    os.mkdir(cache, 0o700)
    outside, canaries = outside_with_canary(ctx)
    os.symlink(outside, os.path.join(cache, "tmp"))
    assert_refused(ctx, gw, "%s/tmp: is a symbolic link, not a directory" % cache)
    assert_intact(canaries)
    assert sorted(os.listdir(outside)) == sorted(os.path.basename(c) for c in canaries)


def test_linked_blobs_and_fanout_are_refused(ctx):
    name, _ = fixtures.upload(ctx.saio, fixtures.random_bytes(3000, seed=71))
    for i, rel in enumerate(("blobs", "blobs/ab", "index")):
        gw = ctx.gateway()
        assert httputil.get(gw.url + "/fractal/" + name).status == 200
        gw.stop()
        cache = os.path.join(gw.dir, "cache")
        outside, canaries = outside_with_canary(ctx, "outside-%d" % i)
        replace_by_link(os.path.join(cache, rel), outside)
        assert_refused(ctx, gw, "%s/%s: is a symbolic link, not a directory"
                       % (cache, rel))
        assert_intact(canaries)
        # Put back, the cache is whole again: the refusal removed nothing.
        os.unlink(os.path.join(cache, rel))
        os.rename(os.path.join(cache, rel) + ".moved", os.path.join(cache, rel))
        rc, out, err = fsck(ctx, gw.conf_path, repair=False)
        assert rc == 0 and "1 entries checked, 0 bad, 0 orphan files" in out, \
            (rel, rc, out, err)


def test_linked_index_file_is_refused(ctx):
    gw, cache = made_cache(ctx)
    outside, canaries = outside_with_canary(ctx)
    data = os.path.join(cache, "index", "data.mdb")
    os.unlink(data)
    os.symlink(canaries[0], data)
    assert_refused(ctx, gw, "%s: is a symbolic link, not a file" % data)
    assert_intact(canaries)
    assert stat.S_IMODE(os.stat(canaries[0]).st_mode) == 0o644


def test_index_of_another_user_is_refused(ctx):
    if os.geteuid() != 0:
        print("     (not root: no other owner can be arranged; the check "
              "that the cache is ours is in test_layout)")
        return
    gw, cache = made_cache(ctx)
    nobody = pwd.getpwnam("nobody")
    os.chown(os.path.join(cache, "index"), nobody.pw_uid, nobody.pw_gid)
    assert_refused(ctx, gw, "%s/index: owned by uid %d, not by uid 0"
                   % (cache, nobody.pw_uid))


def modes_under(root):
    """{relative path: mode} of root (".") and everything in it."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for n in [""] + dirs + files:
            p = os.path.join(dirpath, n)
            out[os.path.relpath(p, root)] = stat.S_IMODE(os.lstat(p).st_mode)
    return out


def assert_private(cache):
    wrong = {}
    for rel, mode in modes_under(cache).items():
        path = os.path.join(cache, rel)
        want = 0o700 if os.path.isdir(path) else 0o600
        if mode != want:
            wrong[rel] = oct(mode)
    assert not wrong, "modes that should be 0700/0600: %s" % wrong


def test_modes_after_start_and_after_a_fill(ctx):
    gw = ctx.gateway()
    cache = os.path.join(gw.dir, "cache")
    assert_private(cache)
    data = fixtures.random_bytes(200 << 10, seed=72)
    name, _ = fixtures.upload(ctx.saio, data)
    for want in ("MISS", "HIT"):
        r = httputil.get(gw.url + "/fractal/" + name)
        assert r.status == 200 and r.body == data and \
            r.headers.get("X-Cache") == want, r
    blobs = [f for _d, _s, fs in os.walk(os.path.join(cache, "blobs")) for f in fs]
    assert len(blobs) == 1, blobs
    assert_private(cache)
    log = gw.access_log_path()
    assert stat.S_IMODE(os.stat(log).st_mode) == 0o600, oct(os.stat(log).st_mode)
    # A cache an older version left open to all is closed at the next start.
    gw.stop()
    os.chmod(cache, 0o755)
    os.chmod(os.path.join(cache, "index", "data.mdb"), 0o644)
    os.chmod(os.path.join(cache, "lock"), 0o644)
    gw2 = ctx.gateway(cache={"dir": cache})
    r = httputil.get(gw2.url + "/fractal/" + name)
    assert r.status == 200 and r.headers.get("X-Cache") == "HIT", r
    assert_private(cache)


def proc_ids(pid):
    """(uids, gids, groups) of a process, from /proc/<pid>/status."""
    fields = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.split()
    return ([int(x) for x in fields["Uid"]], [int(x) for x in fields["Gid"]],
            [int(x) for x in fields.get("Groups", [])])


def owners_under(root):
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for n in [""] + dirs + files:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            out[os.path.relpath(p, root)] = (st.st_uid, st.st_gid)
    return out


def test_user_nobody_when_started_as_root(ctx):
    if os.geteuid() != 0:
        print("     (not root: there is nothing to drop)")
        return
    nobody = pwd.getpwnam("nobody")
    # Every directory above the cache must let nobody through: the test's
    # own directories are 0700, which is refused, so the cache lives in one
    # of its own.
    closed = ctx.gateway(start=False, server={"user": "nobody"})
    rc, err = serve_once(ctx, closed.conf_path)
    assert rc == 2 and "[cache] dir %s/cache: not reachable as user nobody" % closed.dir \
        in err, (rc, err)
    base = tempfile.mkdtemp(prefix="swiftgate-files-")
    try:
        os.chmod(base, 0o711)
        cache = os.path.join(base, "cache")
        old = fixtures.random_bytes(50 << 10, seed=73)
        old_name, _ = fixtures.upload(ctx.saio, old)
        # A cache filled by a run as root, before user was set.
        gw = ctx.gateway(cache={"dir": cache})
        assert httputil.get(gw.url + "/fractal/" + old_name).status == 200
        gw.stop()

        gw = ctx.gateway(server={"user": "nobody"}, cache={"dir": cache})
        uids, gids, groups = proc_ids(gw.proc.pid)
        assert uids == [nobody.pw_uid] * 4, uids
        assert gids == [nobody.pw_gid] * 4, gids
        assert 0 not in groups, groups
        assert "running as user nobody (uid %d" % nobody.pw_uid in gw.stderr_text()
        # What root left is the user's now: hit, and a new miss then hit.
        r = httputil.get(gw.url + "/fractal/" + old_name)
        assert r.status == 200 and r.body == old and r.headers.get("X-Cache") == "HIT", r
        new = fixtures.random_bytes(80 << 10, seed=74)
        new_name, _ = fixtures.upload(ctx.saio, new)
        for want in ("MISS", "HIT"):
            r = httputil.get(gw.url + "/fractal/" + new_name)
            assert r.status == 200 and r.body == new and r.headers.get("X-Cache") == want, r
        not_nobody = {p: o for p, o in owners_under(cache).items()
                      if o != (nobody.pw_uid, nobody.pw_gid)}
        assert not not_nobody, not_nobody
        assert_private(cache)
        # Root without user warns; with it, not.
        assert "running as root" not in gw.stderr_text(), gw.stderr_text()
        gw.stop()
        # fsck as root with the same config checks as that user, and finds it clean.
        rc, out, err = fsck(ctx, gw.conf_path, repair=False)
        assert rc == 0 and "2 entries checked, 0 bad, 0 orphan files" in out, (rc, out, err)
        assert not [p for p, o in owners_under(cache).items()
                    if o != (nobody.pw_uid, nobody.pw_gid)]
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_root_without_user_warns_once(ctx):
    gw = ctx.gateway()
    assert httputil.get(gw.url + "/healthz").status == 200
    n = gw.stderr_text().count("running as root: set [server] user")
    assert n == (1 if os.geteuid() == 0 else 0), gw.stderr_text()
    uids, _gids, _groups = proc_ids(gw.proc.pid)
    assert uids == [os.geteuid()] * 4, uids


def test_unknown_user_is_a_config_error(ctx):
    gw = ctx.gateway(start=False, server={"user": "no-such-user-sg"})
    lines = gw.conf_text.splitlines()
    lineno = lines.index("user = no-such-user-sg") + 1
    want = "%s:%d: [server] user: no such user" % (gw.conf_path, lineno)
    rc, _out, err = gateway.check_config(ctx.bin, gw.conf_path)
    assert rc == 2 and want in err, (rc, err)
    rc, err = serve_once(ctx, gw.conf_path)
    assert rc == 2 and want in err, (rc, err)
    gw = ctx.gateway(start=False, server={"group": "nogroup"})
    rc, _out, err = gateway.check_config(ctx.bin, gw.conf_path)
    assert rc == 2 and re.search(r":\d+: group: needs user", err), (rc, err)
