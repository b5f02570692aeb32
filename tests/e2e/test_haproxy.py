"""The shipped conf/haproxy.cfg, as it is: HAProxy accepts it where its
server names do not resolve."""

import os
import re
import socket
import subprocess

HAPROXY = "/usr/sbin/haproxy"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
SHIPPED = os.path.join(ROOT, "conf", "haproxy.cfg")

_SERVER_RE = re.compile(r"^\s*server\s+(\S+)\s+(\S+)", re.MULTILINE)


def _resolves(host):
    try:
        socket.getaddrinfo(host, None)
        return True
    except OSError:
        return False


def test_shipped_haproxy_cfg_passes_haproxy_check():
    """`haproxy -c` exits 0, and its only warnings are the server names
    that do not resolve on this machine (init-addr last,libc,none: such a
    server starts in maintenance instead of stopping HAProxy)."""
    with open(SHIPPED) as f:
        servers = _SERVER_RE.findall(f.read())
    assert servers, "no server line in %s" % SHIPPED
    hosts = {addr.rsplit(":", 1)[0] for _, addr in servers}
    unresolved = {h for h in hosts if not _resolves(h)}
    res = subprocess.run([HAPROXY, "-c", "-f", SHIPPED], capture_output=True,
                         timeout=30, stdin=subprocess.DEVNULL)
    out = (res.stdout + res.stderr).decode("utf-8", "replace")
    print(out.rstrip())
    assert res.returncode == 0, "haproxy -c exited %d\n%s" % (
        res.returncode, out)
    assert "Configuration file is valid" in out, out
    complaints = [line for line in out.splitlines()
                  if "[WARNING]" in line or "[ALERT]" in line]
    expected = [line for line in complaints
                if re.search(r"could not resolve address '([^']+)'", line)
                and re.search(r"could not resolve address '([^']+)'",
                              line).group(1) in unresolved]
    assert complaints == expected, "unexpected warnings:\n%s" % "\n".join(
        c for c in complaints if c not in expected)
    assert len(expected) == len([s for s in servers
                                 if s[1].rsplit(":", 1)[0] in unresolved])
    print("%d servers, %d of their names unresolved here"
          % (len(servers), len(expected)))
