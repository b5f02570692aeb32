"""Installing swiftgate on a host: `make install` and `make uninstall`
under PREFIX and DESTDIR, the systemd unit (`systemd-analyze verify` on an
installed tree, `systemd-analyze security --offline=yes` at 2.0 or lower),
logrotate's file (a rotation makes the running gateway reopen its access
log), and the man page (renders without a warning, names every command and
option the binary's --help lists)."""

import os
import re
import signal
import subprocess
import tempfile

import gateway
import httputil
from waits import wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
MAN = os.path.join(ROOT, "conf", "swiftgate.1")
# conf/haproxy.cfg is the fleet's example; where this tree has none yet, a
# stand-in lets the install rule be tested all the same.
STAND_IN_HAPROXY = "global\n    maxconn 100\n"


def _haproxy_example(tmpdir):
    real = os.path.join(ROOT, "conf", "haproxy.cfg")
    if os.path.exists(real):
        return real
    path = os.path.join(tmpdir, "haproxy.cfg")
    with open(path, "w") as f:
        f.write(STAND_IN_HAPROXY)
    return path


def _make(ctx, target, **vars):
    argv = ["make", "-s", "--no-print-directory", target,
            "INSTALL_BIN=" + ctx.bin,
            "HAPROXY_EXAMPLE=" + _haproxy_example(ctx.tmpdir)]
    argv += ["%s=%s" % kv for kv in vars.items()]
    res = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, (argv, res.stdout, res.stderr)
    return res.stdout


def _files(top):
    return sorted(os.path.relpath(os.path.join(d, f), top)
                  for d, _, fs in os.walk(top) for f in fs)


INSTALLED = ["etc/logrotate.d/swiftgate", "opt/sg/bin/swiftgate",
             "opt/sg/etc/swiftgate/swiftgate.conf",
             "opt/sg/lib/systemd/system/swiftgate.service",
             "opt/sg/share/doc/swiftgate/haproxy.cfg",
             "opt/sg/share/man/man1/swiftgate.1"]


def test_make_install_destdir_and_uninstall(ctx):
    dest = os.path.join(ctx.tmpdir, "dest")
    _make(ctx, "install", DESTDIR=dest, PREFIX="/opt/sg")
    assert _files(dest) == INSTALLED, _files(dest)
    binary = os.path.join(dest, "opt/sg/bin/swiftgate")
    assert os.stat(binary).st_mode & 0o777 == 0o755
    with open(binary, "rb") as a, open(ctx.bin, "rb") as b:
        assert a.read() == b.read()
    with open(os.path.join(dest, INSTALLED[3])) as f:
        unit = f.read()
    assert "ExecStart=/opt/sg/bin/swiftgate serve -c " \
        "/opt/sg/etc/swiftgate/swiftgate.conf\n" in unit, unit
    assert "/usr/local" not in unit.split("[Unit]")[1], unit
    # The operator's config survives a reinstall and an uninstall.
    conf = os.path.join(dest, INSTALLED[2])
    with open(conf, "a") as f:
        f.write("; changed here\n")
    assert "kept" in _make(ctx, "install", DESTDIR=dest, PREFIX="/opt/sg")
    with open(conf) as f:
        assert f.read().endswith("; changed here\n")
    _make(ctx, "uninstall", DESTDIR=dest, PREFIX="/opt/sg")
    assert _files(dest) == [INSTALLED[2]], _files(dest)
    os.unlink(conf)
    _make(ctx, "install", DESTDIR=dest, PREFIX="/opt/sg")
    _make(ctx, "uninstall", DESTDIR=dest, PREFIX="/opt/sg")
    assert _files(dest) == [], _files(dest)


def _analyze(args, env=None):
    return subprocess.run(["systemd-analyze"] + args, capture_output=True,
                          text=True, timeout=60, env=env)


def test_systemd_unit_verifies_and_is_hardened(ctx):
    prefix = os.path.join(ctx.tmpdir, "prefix")
    _make(ctx, "install", PREFIX=prefix,
          LOGROTATEDIR=os.path.join(prefix, "etc/logrotate.d"))
    unit = os.path.join(prefix, "lib/systemd/system/swiftgate.service")
    env = dict(os.environ, MANPATH=os.path.join(prefix, "share/man"))
    res = _analyze(["verify", unit], env)
    assert res.returncode == 0 and res.stderr == "", res
    res = _analyze(["security", "--offline=yes", unit])
    score = re.search(r"Overall exposure level for swiftgate\.service: "
                      r"(\d+\.\d+)", res.stdout)
    assert score and float(score.group(1)) <= 2.0, res.stdout[-3000:]
    print("     " + score.group(0))
    with open(unit) as f:
        text = f.read()
    for line in ("Type=notify", "DynamicUser=yes", "CacheDirectory=swiftgate",
                 "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
                 "NoNewPrivileges=yes", "CapabilityBoundingSet=\n",
                 "RestrictAddressFamilies=", "SystemCallFilter=@system-service",
                 "LimitNOFILE=", "ExecReload=%s/bin/swiftgate check-config"
                 % prefix, "ExecReload=/bin/kill -HUP $MAINPID"):
        assert line in text, line
    # verify is not a rubber stamp: without the binary it fails.
    os.rename(os.path.join(prefix, "bin/swiftgate"),
              os.path.join(prefix, "bin/moved"))
    res = _analyze(["verify", unit], env)
    assert res.returncode != 0 and "not executable" in res.stderr, res


def test_logrotate_makes_the_gateway_reopen_its_log(ctx):
    logdir = os.path.join(ctx.tmpdir, "log")
    os.mkdir(logdir)
    log = os.path.join(logdir, "access.log")
    gw = ctx.gateway(server={"access_log": log})
    # The installed file, pointed at this log and this process.
    with open(os.path.join(ROOT, "conf", "swiftgate.logrotate")) as f:
        text = f.read()
    assert "/var/log/swiftgate/*.log {" in text and "nocreate" in text
    assert "systemctl kill --signal=HUP swiftgate.service" in text
    text = text.replace("/var/log/swiftgate/", logdir + "/").replace(
        "systemctl kill --signal=HUP swiftgate.service",
        "kill -HUP %d" % gw.proc.pid)
    conf = os.path.join(ctx.tmpdir, "logrotate.conf")
    with open(conf, "w") as f:
        f.write(text)
    assert httputil.get(gw.url + "/healthz").status == 200
    assert wait_until(lambda: os.path.getsize(log) > 0, 5.0)
    res = subprocess.run(["logrotate", "-f", "-s",
                          os.path.join(ctx.tmpdir, "state"), conf],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res
    assert os.path.exists(log + ".1"), os.listdir(logdir)
    assert wait_until(lambda: "access log reopened" in gw.stderr_text(), 5.0)
    assert httputil.get(gw.url + "/healthz?after").status == 200
    assert wait_until(lambda: os.path.exists(log) and
                      "/healthz?after" in open(log).read(), 5.0)
    assert os.stat(log).st_mode & 0o777 == 0o600
    with open(log + ".1") as f:
        assert "/healthz?after" not in f.read()


def _man(path):
    env = dict(os.environ, MANWIDTH="80", LANG="C.UTF-8")
    return subprocess.run(["man", "--warnings", "-l", path],
                          capture_output=True, text=True, timeout=60, env=env)


def _help_options(bin, cmd):
    rc, out, _ = gateway.run(bin, [cmd, "--help"])
    assert rc == 0
    return set(re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", "\n".join(
        ln for ln in out.splitlines() if re.match(r"^\s+-", ln))))


def test_man_page(ctx):
    res = _man(MAN)
    assert res.returncode == 0 and res.stderr == "", res.stderr
    for section in ("NAME", "SYNOPSIS", "COMMANDS", "OPTIONS", "SIGNALS",
                    "EXIT STATUS", "ENVIRONMENT", "FILES"):
        assert re.search(r"^%s$" % section, res.stdout, re.M), section
    with open(MAN) as f:
        src = re.sub(r"\\f[BIRP]", "", f.read()).replace("\\-", "-")
    rc, top, _ = gateway.run(ctx.bin, ["--help"])
    cmds = re.findall(r"^(?:usage:)?\s+swiftgate ([a-z][a-z-]*)", top, re.M)
    assert len(set(cmds)) >= 5, cmds
    for opt in re.findall(r"swiftgate (--[a-z]+)", top):
        assert opt in src, opt
    for cmd in set(cmds):
        assert re.search(r"^\.(B|BI|TP)?\s*\"?%s\b" % cmd, src, re.M), cmd
        for opt in _help_options(ctx.bin, cmd):
            assert re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(opt), src), \
                (cmd, opt)
    for word in ("SIGTERM", "SIGINT", "SIGHUP", "NOTIFY_SOCKET",
                 "SWIFTGATE_SECTION_KEY", "/var/cache/swiftgate"):
        assert word in src.replace("SWIFTGATE_ SECTION _ KEY",
                                   "SWIFTGATE_SECTION_KEY"), word
    # The warning check can fail: a page with a broken request warns.
    bad = os.path.join(ctx.tmpdir, "bad.1")
    with open(bad, "w") as f:
        f.write(".TH BAD 1\n.SH NAME\nbad \\- x\n.BOGUS\n")
    assert _man(bad).stderr != ""
