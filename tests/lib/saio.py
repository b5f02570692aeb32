"""A real OpenStack Swift ("Swift all in one") on loopback, for tests.

A real Swift as Debian 12 packages it:
swift 2.30.1 as four plain processes (proxy, account, container, object)
plus memcached, all on 127.0.0.1 on free ports, under one temp directory.
TempAuth user `test:tester` / key `testing` (.admin), account_autocreate,
no SLO/DLO rate limiting, error_suppression_interval = 1, workers = 0 (or
Saio(workers=N): N forked workers per server, as a production Swift runs),
`-v` logging to files in `log_dir`.

Each server is started through Swift's run_wsgi after set_swift_dir() (the
"lighter variant", notes section 7), so the cluster reads its own
swift.conf and never /etc/swift.  Rings are built in one
/usr/bin/python3 process with RingBuilder.

    with Saio() as s:
        s.put_container("fractals")
        etag = s.put_object("fractals", "x", b"data", "image/png")
"""

import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.parse

import httputil
import procs

PYTHON = "/usr/bin/python3"
ACCOUNT = "AUTH_test"
USER = "test:tester"
KEY = "testing"
SERVERS = ("account", "container", "object", "proxy")
READY_TIMEOUT = 30.0

_MKRINGS = """
import sys
from swift.common.ring import RingBuilder
swift_dir = sys.argv[1]
for spec in sys.argv[2].split(','):
    name, port = spec.split(':')
    b = RingBuilder(2, 1, 1)
    b.add_dev({'id': 0, 'region': 1, 'zone': 1, 'ip': '127.0.0.1',
               'port': int(port), 'device': 'd1', 'weight': 1.0,
               'replication_ip': '127.0.0.1',
               'replication_port': int(port), 'meta': ''})
    b.rebalance()
    b.get_ring().save('%s/%s.ring.gz' % (swift_dir, name))
    b.save('%s/%s.builder' % (swift_dir, name))
"""

# run_wsgi with swift.conf taken from swift_dir instead of /etc/swift.
# Constraints and policies are reloaded before any server module binds them.
_LAUNCH = """
import sys
from swift.common import utils
server = sys.argv.pop(2)
utils.set_swift_dir(sys.argv.pop(1))
from swift.common import constraints, storage_policy
constraints.reload_constraints()
storage_policy.reload_storage_policies()
from swift.common.wsgi import run_wsgi
conf, opts = utils.parse_options()
sys.exit(run_wsgi(conf, server, **opts))
"""

_BACKEND_CONF = """[DEFAULT]
bind_ip = 127.0.0.1
bind_port = {port}
workers = {workers}
user = root
swift_dir = {etc}
devices = {srv}
mount_check = false
disable_fallocate = true
log_level = WARNING

[pipeline:main]
pipeline = {name}-server

[app:{name}-server]
use = egg:swift#{name}
"""

_PROXY_CONF = """[DEFAULT]
bind_ip = 127.0.0.1
bind_port = {port}
workers = {workers}
user = root
swift_dir = {etc}
log_level = INFO

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache \
listing_formats tempauth copy slo dlo versioned_writes proxy-logging \
proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
error_suppression_interval = 1

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:gatekeeper]
use = egg:swift#gatekeeper

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:proxy-logging]
use = egg:swift#proxy_logging

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:{memcached_port}

[filter:listing_formats]
use = egg:swift#listing_formats

[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin
{token_life}
[filter:copy]
use = egg:swift#copy

[filter:slo]
use = egg:swift#slo
rate_limit_segments_per_sec = 0

[filter:dlo]
use = egg:swift#dlo
rate_limit_segments_per_sec = 0

[filter:versioned_writes]
use = egg:swift#versioned_writes
"""

_SWIFT_CONF = """[swift-hash]
swift_hash_path_suffix = saio
swift_hash_path_prefix = saio

[storage-policy:0]
name = Policy-0
default = yes

[swift-constraints]
{constraints}
"""


class SaioError(RuntimeError):
    """Swift could not be set up, started or reached."""


def _free_ports(n):
    """n distinct free loopback ports."""
    ports = set()
    for _ in range(50 * n):
        ports.add(httputil.free_port())
        if len(ports) == n:
            return sorted(ports)
    raise SaioError("could not find %d free ports" % n)


class Saio:
    """A throwaway Swift cluster on 127.0.0.1; see the module docstring."""

    def __init__(self, token_life=None, container_listing_limit=None,
                 base_dir=None, workers=0):
        self.dir = tempfile.mkdtemp(prefix="saio-", dir=base_dir)
        self.etc = os.path.join(self.dir, "etc")
        self.log_dir = os.path.join(self.dir, "log")
        self.srv = os.path.join(self.dir, "srv")
        for d in (self.etc, self.log_dir, os.path.join(self.srv, "d1")):
            os.makedirs(d)
        self.ports = dict(zip(SERVERS + ("memcached",), _free_ports(5)))
        self.proxy_url = "http://127.0.0.1:%d" % self.ports["proxy"]
        self.auth_url = self.proxy_url + "/auth/v1.0"
        self.storage_url = "%s/v1/%s" % (self.proxy_url, ACCOUNT)
        self._procs = {}
        self._token = None
        self.workers = workers
        self._write_configs(token_life, container_listing_limit)
        self._build_rings()

    # -- setup ---------------------------------------------------------

    def _write(self, name, text):
        with open(os.path.join(self.etc, name), "w") as f:
            f.write(text)

    def _write_configs(self, token_life, container_listing_limit):
        for name in ("account", "container", "object"):
            self._write("%s-server.conf" % name, _BACKEND_CONF.format(
                port=self.ports[name], etc=self.etc, srv=self.srv, name=name,
                workers=self.workers))
        self._write("proxy-server.conf", _PROXY_CONF.format(
            port=self.ports["proxy"], etc=self.etc, workers=self.workers,
            memcached_port=self.ports["memcached"],
            token_life=("token_life = %d\n" % token_life
                        if token_life is not None else "")))
        constraints = ""
        if container_listing_limit is not None:
            constraints = ("container_listing_limit = %d\n"
                           % container_listing_limit)
        self._write("swift.conf", _SWIFT_CONF.format(constraints=constraints))

    def _build_rings(self):
        spec = ",".join("%s:%d" % (n, self.ports[n])
                        for n in ("object", "container", "account"))
        res = subprocess.run([PYTHON, "-c", _MKRINGS, self.etc, spec],
                             capture_output=True, text=True, timeout=60)
        if res.returncode != 0:
            raise SaioError("building rings failed:\n" + res.stderr[-3000:])

    # -- processes -----------------------------------------------------

    def _log(self, name):
        return os.path.join(self.log_dir, name + ".log")

    def _start_memcached(self):
        self._procs["memcached"] = procs.spawn(
            ["memcached", "-l", "127.0.0.1",
             "-p", str(self.ports["memcached"]),
             "-U", "0", "-m", "16", "-u", "nobody"], self._log("memcached"))

    def _start_server(self, name):
        self._procs[name] = procs.spawn(
            [PYTHON, "-c", _LAUNCH, self.etc, name + "-server",
             os.path.join(self.etc, name + "-server.conf"), "-v"],
            self._log(name))

    def _stop(self, name):
        proc = self._procs.pop(name, None)
        if proc is not None:
            procs.stop(proc, grace=10.0)

    def start(self):
        """Start memcached and the four servers (does not wait)."""
        self._start_memcached()
        for name in SERVERS:
            self._start_server(name)
        return self

    def stop(self):
        """Stop everything: SIGTERM by pid, SIGKILL after 10 s, reap."""
        names = [n for n in ("proxy", "object", "container", "account",
                             "memcached") if n in self._procs]
        procs.stop_many([self._procs.pop(n) for n in names], grace=10.0)

    def _alive(self, name):
        proc = self._procs.get(name)
        return proc is not None and proc.poll() is None

    def revive(self, timeout=READY_TIMEOUT):
        """Start again whatever process is not running (a test stopped the
        proxy or memcached, or one crashed) and wait_ready(); returns the
        names restarted."""
        dead = [n for n in ("memcached",) + SERVERS if not self._alive(n)]
        for name in dead:
            self._stop(name)
            if name == "memcached":
                self._start_memcached()
                self._token = None
            else:
                self._start_server(name)
        if dead:
            self.wait_ready(timeout)
        return dead

    def cleanup(self):
        """stop() and remove the temp directory."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def stop_proxy(self):
        """Stop only the proxy server (origin down)."""
        self._stop("proxy")

    def start_proxy(self, timeout=READY_TIMEOUT):
        """Start the proxy server again and wait until it serves."""
        self._start_server("proxy")
        self._wait(self._proxy_ready, timeout, "proxy not ready")

    def restart_memcached(self):
        """Restart memcached: every TempAuth token becomes invalid."""
        self._stop("memcached")
        self._start_memcached()
        self._token = None
        self._wait(self._auth_ready, READY_TIMEOUT, "auth not ready")

    def __enter__(self):
        try:
            self.start()
            self.wait_ready()
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(self, *exc):
        self.cleanup()

    # -- readiness -----------------------------------------------------

    def _backends_ready(self):
        for name in ("account", "container", "object"):
            url = "http://127.0.0.1:%d/" % self.ports[name]
            try:
                if httputil.get(url, timeout=2).status != 400:
                    return False
            except OSError:
                return False
        return True

    def _auth_ready(self):
        try:
            self._token = None
            self.auth()
            return True
        except (OSError, SaioError):
            return False

    def _proxy_ready(self):
        if not self._auth_ready():
            return False
        try:
            r = httputil.head(self.storage_url,
                              {"X-Auth-Token": self._token}, timeout=2)
        except OSError:
            return False
        return 200 <= r.status < 300

    def _all_ready(self):
        return self._backends_ready() and self._proxy_ready()

    def _wait(self, pred, timeout, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dead = [n for n, p in self._procs.items() if p.poll() is not None]
            if dead:
                raise SaioError("%s: %s exited\n%s"
                                % (what, ", ".join(dead), self.log_tail()))
            if pred():
                return
            time.sleep(0.1)
        raise SaioError("%s after %.0f s\n%s" % (what, timeout,
                                                  self.log_tail()))

    def wait_ready(self, timeout=READY_TIMEOUT):
        """Wait until backends answer 400, auth works and HEAD account 2xx."""
        self._wait(self._all_ready, timeout, "swift not ready")

    def log_tail(self, lines=15):
        """The last lines of every log file, for error messages."""
        out = []
        for name in sorted(os.listdir(self.log_dir)):
            with open(os.path.join(self.log_dir, name), "rb") as f:
                text = f.read().decode("utf-8", "replace").splitlines()
            out.append("--- %s (last %d lines)" % (name, lines))
            out.extend(text[-lines:])
        return "\n".join(out)

    # -- client --------------------------------------------------------

    def auth(self):
        """TempAuth v1.0; returns (storage_url, token)."""
        r = httputil.get(self.auth_url, {"X-Auth-User": USER,
                                         "X-Auth-Key": KEY}, timeout=10)
        token = r.headers.get("X-Auth-Token")
        if r.status != 200 or not token:
            raise SaioError("auth: HTTP %d" % r.status)
        self._token = token
        return r.headers["X-Storage-Url"], token

    def object_url(self, container, name=None):
        """URL of a container or object (name is URL-quoted)."""
        url = "%s/%s" % (self.storage_url, urllib.parse.quote(container))
        if name is not None:
            url += "/" + urllib.parse.quote(name)
        return url

    def request(self, method, url, headers=None, body=None, timeout=60.0):
        """An authenticated request; re-authenticates once on 401."""
        for _ in range(2):
            if self._token is None:
                self.auth()
            h = dict(headers or {}, **{"X-Auth-Token": self._token})
            r = httputil.request(method, url, h, body, timeout=timeout)
            if r.status != 401:
                return r
            self._token = None
        return r

    def put_container(self, name):
        """Create a container (201 or 202)."""
        r = self.request("PUT", self.object_url(name), body=b"")
        if r.status not in (201, 202):
            raise SaioError("PUT container %s: HTTP %d" % (name, r.status))

    def put_object(self, container, name, data, content_type=None,
                   headers=None):
        """Upload an object; returns Swift's ETag (unquoted for plain
        objects, as Swift sends it)."""
        h = dict(headers or {})
        if content_type is not None:
            h["Content-Type"] = content_type
        r = self.request("PUT", self.object_url(container, name), h, data)
        if r.status != 201:
            raise SaioError("PUT %s/%s: HTTP %d %r"
                            % (container, name, r.status, r.body[:200]))
        return r.headers["Etag"]

    def get_object(self, container, name, headers=None):
        """GET an object; returns (status, headers, body)."""
        r = self.request("GET", self.object_url(container, name), headers)
        return r.status, r.headers, r.body

    def head_object(self, container, name, headers=None):
        """HEAD an object; returns (status, headers)."""
        r = self.request("HEAD", self.object_url(container, name), headers)
        return r.status, r.headers

    def delete_object(self, container, name):
        """DELETE an object; returns the status (204, or 404 if absent)."""
        return self.request("DELETE", self.object_url(container, name)).status

    # -- proxy log -----------------------------------------------------

    def _count_log(self, regex):
        with open(self._log("proxy"), "rb") as f:
            text = f.read().decode("utf-8", "replace")
        return len(regex.findall(text))

    def proxy_log_count(self, method, path_regex, settle=0.3):
        """Count client requests in the proxy log (not SLO/DLO sub-requests).

        method and path_regex are regular expressions ("GET|HEAD"); the
        path is matched whole, e.g.
        '/v1/AUTH_test/fractals/<uuid>' (query strings are logged URL-quoted
        into the path).  The gateway asks for every object with
        ?multipart-manifest=get (so that one request tells a large object's
        manifest from a plain object): a path with that query counts as the
        path.  Lines are written when a request ends, so the count is read
        until it has not changed for `settle` seconds (at most 3 s).
        """
        regex = re.compile(r"^proxy-server: 127\.0\.0\.1 127\.0\.0\.1 \S+ "
                           r"(?:%s) (?:%s)(?:%%3Fmultipart-manifest%%3Dget)? "
                           % (method, path_regex),
                           re.MULTILINE)
        deadline = time.monotonic() + 3.0
        count = self._count_log(regex)
        stable_since = time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.05)
            now = self._count_log(regex)
            if now != count:
                count, stable_since = now, time.monotonic()
            elif time.monotonic() - stable_since >= settle:
                break
        return count

    def proxy_log_requests(self, settle=0.3):
        """Every client request in the proxy log so far (not SLO/DLO
        sub-requests), in log order, as (method, path, status, bytes_sent)
        with the path as logged (a query URL-quoted into it) and bytes_sent
        None where Swift logged "-".  Read until the number of requests has
        not changed for `settle` seconds (at most 3 s), as proxy_log_count
        does; compare two calls by slicing the second."""
        regex = re.compile(r"^proxy-server: 127\.0\.0\.1 127\.0\.0\.1 \S+ "
                           r"(\S+) (\S+) \S+ (\d+) \S+ \S+ \S+ \S+ (\S+) ",
                           re.MULTILINE)

        def read():
            with open(self._log("proxy"), "rb") as f:
                text = f.read().decode("utf-8", "replace")
            return [(method, path, int(status),
                     None if sent == "-" else int(sent))
                    for method, path, status, sent in regex.findall(text)]

        deadline = time.monotonic() + 3.0
        lines = read()
        stable_since = time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.05)
            now = read()
            if len(now) != len(lines):
                lines, stable_since = now, time.monotonic()
            elif time.monotonic() - stable_since >= settle:
                break
        return lines
