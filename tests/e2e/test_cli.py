"""The command line as supervisors and operators meet it: every command
answers --help, `swiftgate healthcheck` turns /healthz into an exit status
(so a container image needs no curl), and `serve` tells a service manager
it is ready through $NOTIFY_SOCKET once it accepts connections, with its
Swift auth state in STATUS= lines."""

import os
import re
import signal
import socket
import threading
import time
import uuid

import gateway
import httputil
from waits import wait_until


def _commands(bin):
    """The commands `swiftgate --help` lists, in its order."""
    rc, out, _ = gateway.run(bin, ["--help"])
    assert rc == 0, rc
    cmds = []
    for line in out.splitlines():
        m = re.match(r"^(?:usage:)?\s+swiftgate ([a-z][a-z-]*)\b", line)
        if m and m.group(1) not in cmds:
            cmds.append(m.group(1))
    return cmds


def test_every_command_answers_help(ctx):
    cmds = _commands(ctx.bin)
    assert {"serve", "check-config", "fsck", "warm",
            "healthcheck"} <= set(cmds), cmds
    for cmd in cmds:
        for flag in ("--help", "-h"):
            rc, out, err = gateway.run(ctx.bin, [cmd, flag], timeout=10)
            assert rc == 0, "%s %s: exit %d\n%s" % (cmd, flag, rc, err)
            assert out.startswith("usage: swiftgate " + cmd), (cmd, out[:200])
            assert err == "", (cmd, err)
    # Bad usage is still exit 2, and goes to stderr.
    rc, out, err = gateway.run(ctx.bin, ["serve", "--bogus"])
    assert rc == 2 and out == "" and "unexpected argument" in err, (rc, err)


class _OneAnswer:
    """A listener answering every request with `status`, or (hang=True)
    accepting and never answering; at most 16 connections, 30 s."""

    def __init__(self, status=503, hang=False):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.url = "http://127.0.0.1:%d/healthz" % self.sock.getsockname()[1]
        self.status, self.hang, self.done = status, hang, False
        self.held = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        deadline = time.monotonic() + 30
        while not self.done and time.monotonic() < deadline and \
                len(self.held) < 16:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            self.held.append(conn)
            if self.hang:
                continue
            conn.settimeout(5)
            try:
                conn.recv(4096)
                conn.sendall(b"HTTP/1.1 %d Nope\r\nContent-Length: 0\r\n"
                             b"Connection: close\r\n\r\n" % self.status)
            except OSError:
                pass

    def close(self):
        self.done = True
        self.thread.join(5)
        for c in self.held:
            c.close()
        self.sock.close()


def _healthcheck(ctx, args, timeout=20):
    t = time.monotonic()
    rc, out, err = gateway.run(ctx.bin, ["healthcheck"] + args,
                               timeout=timeout)
    return rc, out, err, time.monotonic() - t


def test_healthcheck_exit_status(ctx):
    gw = ctx.gateway(server={"drain_delay": "2s"})
    rc, out, err, _ = _healthcheck(ctx, [gw.url + "/healthz"])
    assert rc == 0 and "HTTP 200" in out, (rc, out, err)
    rc, out, err, _ = _healthcheck(ctx, [gw.url])      # /healthz added
    assert rc == 0 and gw.url + "/healthz" in out, (rc, out, err)

    # -c FILE: the URL comes from [server] listen (a wildcard asks loopback).
    port = gw.url.rsplit(":", 1)[1]
    conf = os.path.join(ctx.tmpdir, "hc.conf")
    with open(conf, "w") as f:
        f.write(gw.conf_text.replace("listen = 127.0.0.1:0",
                                     "listen = 0.0.0.0:%s" % port, 1))
    rc, out, err, _ = _healthcheck(ctx, ["-c", conf])
    assert rc == 0 and "http://127.0.0.1:%s/healthz" % port in out, \
        (rc, out, err)
    rc, _, err, _ = _healthcheck(ctx, ["-c", gw.conf_path])   # port 0
    assert rc == 2 and "no port" in err, (rc, err)

    # Draining: /healthz says 503, so the check fails.
    gw.proc.send_signal(signal.SIGTERM)
    assert wait_until(lambda: _healthcheck(ctx, [gw.url])[0] == 1, 1.5,
                      step=0.1), gw.stderr_text()
    rc, _, err, _ = _healthcheck(ctx, [gw.url])
    assert rc == 1 and "HTTP 503: draining" in err, (rc, err)
    assert gw.proc.wait(timeout=10) == 0     # the drain ends by itself
    gw.stop()                                # checks the exit is clean


def test_healthcheck_failures_and_timeout(ctx):
    bad = _OneAnswer(status=500)
    hang = _OneAnswer(hang=True)
    try:
        rc, _, err, _ = _healthcheck(ctx, [bad.url])
        assert rc == 1 and "HTTP 500" in err, (rc, err)
        rc, _, err, took = _healthcheck(ctx, ["-t", "700ms", hang.url])
        assert rc == 1 and "timed out" in err, (rc, err)
        assert 0.6 < took < 5.0, took
    finally:
        bad.close()
        hang.close()
    refused = "http://127.0.0.1:%d/healthz" % httputil.free_port()
    rc, _, err, _ = _healthcheck(ctx, [refused])
    assert rc == 1 and refused in err, (rc, err)
    for args in (["not-a-url"], ["-t", "soon", refused], ["a://x", "b://y"]):
        rc, _, err, _ = _healthcheck(ctx, args)
        assert rc == 2, (args, rc, err)


def _recv_states(sock, want, timeout):
    """Datagrams from sock until one holds `want`; returns all received."""
    got = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not any(want in g for g in got):
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            got.append(sock.recv(4096).decode())
        except socket.timeout:
            break
    return got


def _notify_round(ctx, sock, name):
    gw = ctx.gateway(env={"NOTIFY_SOCKET": name})
    got = _recv_states(sock, "READY=1", 10.0)
    assert len(got) == 1 and got[0].startswith("READY=1\nSTATUS="), got
    # Ready means answering: a request is answered at once.  The auth state
    # comes with READY=1 (the first token may be on its way) and when it
    # changes.
    assert httputil.get(gw.url + "/healthz", timeout=5).status == 200
    if not got[0].endswith("\nSTATUS=serving"):
        got += _recv_states(sock, "STATUS=serving", 5.0)
        assert got[-1] == "STATUS=serving", got
    gw.stop()
    got = _recv_states(sock, "STOPPING=1", 2.0)
    assert [g for g in got if not g.startswith("STATUS=")] == ["STOPPING=1"], got


def test_notify_socket_ready_and_stopping(ctx):
    path = os.path.join(ctx.tmpdir, "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        _notify_round(ctx, sock, path)
    abstract = "swiftgate-notify-%s" % uuid.uuid4().hex
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + abstract)
        _notify_round(ctx, sock, "@" + abstract)
    # Nobody listening there: a warning, and the gateway serves all the same.
    gw = ctx.gateway(env={"NOTIFY_SOCKET": path + ".gone"})
    assert httputil.get(gw.url + "/healthz", timeout=5).status == 200
    assert "cannot tell the service manager" in gw.stderr_text()
