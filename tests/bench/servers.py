"""The servers `make bench` compares, as our own processes on loopback.

Each server class writes its own configuration into a directory under the
bench's temp dir, starts the server in the foreground on a free
127.0.0.1 port (nginx `daemon off`, varnishd `-F`, swiftgate `serve`),
knows every process that belongs to it (master and children) for CPU and
memory readings, and stops it by pid.  Nothing here touches a system
service, a system config file or a port it did not pick itself.

    NginxOrigin   nginx serving generated files shaped like Swift objects:
                  /v1/AUTH_test/fractals/<uuid>, ETag = MD5 of the body
                  (one `map $uri` line per object: a hash lookup, so it
                  scales to any number of objects), no access log.
    NginxProxy    peer A: nginx proxy_cache, configured as its operators would
                  configures it (proxy_cache_lock on, tcp_nopush off).
    Varnish       peer B: Varnish 7.1, malloc storage, builtin VCL plus a
                  7 d TTL.
    Swiftgate     ./swiftgate through tests/lib/gateway.py.

All three proxies map GET /fractal/<uuid> to <prefix>/<uuid> on the origin,
where <prefix> is /v1/AUTH_test/fractals, and send the origin's token.
"""

import contextlib
import os
import pwd
import re
import signal
import subprocess
import time

import gateway
import httputil
import procs

CLK_TCK = os.sysconf("SC_CLK_TCK")
ALL_CPUS = frozenset(range(os.cpu_count() or 1))
START_TIMEOUT = 30.0


class BenchError(RuntimeError):
    """A server could not be set up, started or reached."""


# ---- CPU pinning ---------------------------------------------------------

@contextlib.contextmanager
def pinned(cpus):
    """Run the block with this thread's CPU affinity set to `cpus` (None:
    leave it); processes started inside inherit it, with every thread and
    child they make later."""
    if cpus is None:
        yield
        return
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, set(cpus))
    try:
        yield
    finally:
        os.sched_setaffinity(0, old)


# ---- /proc readings ------------------------------------------------------

def _children_map():
    """{ppid: [pid, ...]} of every process on the machine."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        out.setdefault(ppid, []).append(int(name))
    return out


def process_tree(pid):
    """pid and all its descendants that are alive now."""
    kids = _children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, ()))
    return out


def user_process_ticks():
    """{pid: utime+stime ticks} of every user-space process now (kernel
    threads, children of kthreadd, are left out: on loopback they mostly
    carry the benchmark's own network work)."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if name == "2" or fields[1] == "2":
            continue
        out[int(name)] = int(fields[11]) + int(fields[12])
    return out


def foreign_cpu_seconds(before, after, exclude):
    """CPU seconds that processes outside `exclude` (pids) used between two
    user_process_ticks() snapshots: other work on the machine competing
    with the benchmark."""
    ticks = 0
    for pid, t in after.items():
        if pid in exclude:
            continue
        ticks += max(0, t - before.get(pid, 0))
    return ticks / CLK_TCK


def cpu_seconds(pids):
    """utime+stime (all threads) summed over pids, in seconds."""
    ticks = 0
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])     # utime, stime
    return ticks / CLK_TCK


def memory_kib(pids):
    """Memory of pids, summed, in KiB: {"rss": VmRSS, "anon": RssAnon,
    "file": RssFile, "pss": Pss, "pss_anon": Pss_Anon}.  VmRSS counts a
    file page once per mapping of it (RssFile: binaries and libraries; no
    server here maps cached objects); RssAnon is a server's own heap and
    stacks.  Pss (smaps_rollup) shares each page out among its mappings."""
    out = {"rss": 0, "anon": 0, "file": 0, "pss": 0, "pss_anon": 0}
    want_status = {"VmRSS:": "rss", "RssAnon:": "anon", "RssFile:": "file"}
    want_rollup = {"Pss:": "pss", "Pss_Anon:": "pss_anon"}
    for pid in pids:
        for path, want in (("/proc/%d/status" % pid, want_status),
                           ("/proc/%d/smaps_rollup" % pid, want_rollup)):
            try:
                with open(path) as f:
                    for line in f:
                        key = line.split(None, 1)[0] if line.strip() else ""
                        if key in want:
                            out[want[key]] += int(line.split()[1])
            except (OSError, ValueError, IndexError):
                continue
    return out


# ---- helpers -------------------------------------------------------------

def _user_line():
    """nginx `user` directive: the invoking user when run as root (so the
    workers can read the files in our temp dir), nothing otherwise."""
    if os.geteuid() != 0:
        return ""
    pw = pwd.getpwuid(os.geteuid())
    return "user %s;" % pw.pw_name


def _wait_http(url, proc, timeout, log_path, expect=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError("%s exited with %s\n%s"
                             % (url, proc.returncode, _tail(log_path)))
        try:
            r = httputil.request("GET", url, timeout=2)
            if expect is None or r.status in expect:
                return r
        except OSError:
            pass
        time.sleep(0.05)
    raise BenchError("%s not answering after %.0f s\n%s"
                     % (url, timeout, _tail(log_path)))


def _tail(path, n=20):
    try:
        with open(path, "rb") as f:
            return "\n".join(f.read().decode("utf-8", "replace")
                             .splitlines()[-n:])
    except OSError:
        return ""


class _Server:
    """Common parts: a name, a port, a Popen, the process tree."""

    name = "?"
    label = "?"

    def __init__(self, workdir):
        self.dir = workdir
        os.makedirs(self.dir, exist_ok=True)
        self.proc = None
        self.port = None
        self._pids = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def pids(self):
        """The server's processes now (cached once the server has settled;
        refresh() drops the cache)."""
        if self._pids is None:
            self._pids = process_tree(self.proc.pid)
        return [p for p in self._pids if os.path.exists("/proc/%d" % p)]

    def refresh(self):
        self._pids = None

    def cpu(self):
        return cpu_seconds(process_tree(self.proc.pid))

    def memory(self):
        return memory_kib(process_tree(self.proc.pid))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            procs.stop(self.proc, grace=15.0)
        return self.proc.returncode if self.proc else None


# ---- nginx ---------------------------------------------------------------

_NGINX_COMMON = """{user}
worker_processes {workers};
worker_rlimit_nofile 20000;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 16384; }}
http {{
    # tcp_nopush off (nginx's compiled-in default): with Debian's stock
    # "tcp_nopush on" was measured to stall ~40 ms per
    # keep-alive 100 KiB response.  tcp_nodelay on (default) everywhere.
    sendfile on;
    tcp_nopush off;
    tcp_nodelay on;
    keepalive_requests 1000000;
    keepalive_timeout 65s;
    access_log off;
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
{body}
}}
"""

_ORIGIN_BODY = """    default_type image/png;
    # Swift's ETag is the MD5 of the body; nginx's own is mtime-size.  One
    # map line per object ("<uri> <md5>;"), looked up in a hash.
    map_hash_bucket_size 128;
    map_hash_max_size 65536;
    map $uri $swift_etag {{
        default "";
        include {dir}/etags.map;
    }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        root {root};
        location /v1/AUTH_test/fractals/ {{
            etag off;
            add_header Etag $swift_etag;
        }}
    }}
"""

_PROXY_BODY = """    default_type application/octet-stream;
    proxy_cache_path {dir}/cache levels=1:2 keys_zone=fractal:64m
                     max_size=20g inactive=7d use_temp_path=off;
    upstream origin {{
        server 127.0.0.1:{origin_port};
        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location /fractal/ {{
            proxy_pass http://origin{prefix}/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Auth-Token "{token}";
            proxy_cache fractal;
            proxy_cache_key $uri;
            proxy_cache_valid 200 7d;
            proxy_cache_lock {lock};
            proxy_cache_revalidate on;
            add_header X-Cache-Status $upstream_cache_status;
        }}
    }}
"""


class _Nginx(_Server):
    def _start(self, workers, body, cpus):
        for sub in ("tmp", "tmp/body", "tmp/proxy", "tmp/fastcgi",
                    "tmp/uwsgi", "tmp/scgi"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        self.port = httputil.free_port()
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(_NGINX_COMMON.format(user=_user_line(), workers=workers,
                                         dir=self.dir, body=body.format(
                                             port=self.port, **self._fmt)))
        log = os.path.join(self.dir, "stderr.log")
        with pinned(cpus):
            self.proc = procs.spawn(["nginx", "-p", self.dir, "-c", conf,
                                     "-e", os.path.join(self.dir,
                                                        "error.log")], log)
        self._wait_ready(log)
        return self

    def _wait_ready(self, log):
        _wait_http(self.url + "/", self.proc, START_TIMEOUT, log)
        # Settle: every worker forked.
        deadline = time.monotonic() + 5
        while (len(process_tree(self.proc.pid)) < 1 + self.workers
               and time.monotonic() < deadline):
            time.sleep(0.05)
        self.refresh()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            # SIGTERM: fast shutdown of master and workers.
            procs.stop(self.proc, grace=15.0)
        return self.proc.returncode if self.proc else None


class NginxOrigin(_Nginx):
    """nginx static files shaped like Swift (see the module docstring)."""

    name = "origin"
    label = "nginx static origin (no proxy)"
    prefix = "/v1/AUTH_test/fractals"
    token = "x"

    def __init__(self, workdir, root):
        super().__init__(workdir)
        self.root = root        # holds v1/AUTH_test/fractals/<uuid>
        self.workers = 1

    def start(self, etags, workers=1, cpus=None):
        """etags: {uuid: md5 hex}."""
        self.workers = workers
        with open(os.path.join(self.dir, "etags.map"), "w") as f:
            for name, md5 in etags.items():
                f.write("%s/%s %s;\n" % (self.prefix, name, md5))
        self._fmt = {"dir": self.dir, "root": self.root}
        return self._start(workers, _ORIGIN_BODY, cpus)

    def path(self, name):
        return "%s/%s" % (self.prefix, name)

    @property
    def storage_url(self):
        return "%s/v1/AUTH_test" % self.url


class NginxProxy(_Nginx):
    """Peer A: nginx proxy_cache in front of an origin."""

    name = "nginx"
    label = "nginx proxy_cache"

    def start(self, origin_port, prefix, token, workers=1, cpus=None,
              lock="on"):
        self.workers = workers
        self._fmt = {"dir": self.dir, "origin_port": origin_port,
                     "prefix": prefix, "token": token, "lock": lock}
        return self._start(workers, _PROXY_BODY, cpus)

    @staticmethod
    def path(name):
        return "/fractal/" + name

    @staticmethod
    def cache_result(headers):
        return headers.get("X-Cache-Status")


# ---- Varnish -------------------------------------------------------------

_VCL = """vcl 4.1;
# Peer B: Varnish in front of the origin; the builtin VCL does the rest.
backend origin {{
    .host = "127.0.0.1";
    .port = "{origin_port}";
}}
sub vcl_backend_fetch {{
    set bereq.url = regsub(bereq.url, "^/fractal/", "{prefix}/");
    set bereq.http.X-Auth-Token = "{token}";
}}
sub vcl_backend_response {{
    # The origin (like Swift) sends no Cache-Control: cache 7 days.
    if (beresp.status == 200) {{
        set beresp.ttl = 7d;
    }}
}}
sub vcl_deliver {{
    if (obj.hits > 0) {{
        set resp.http.X-Cache = "HIT";
    }} else {{
        set resp.http.X-Cache = "MISS";
    }}
}}
"""


class Varnish(_Server):
    """Peer B: varnishd -F, malloc storage, our VCL, its own -n dir."""

    name = "varnish"
    label = "Varnish"

    def start(self, origin_port, prefix, token, cpus=None, storage="4G"):
        self.port = httputil.free_port()
        vcl = os.path.join(self.dir, "default.vcl")
        with open(vcl, "w") as f:
            f.write(_VCL.format(origin_port=origin_port, prefix=prefix,
                                token=token))
        log = os.path.join(self.dir, "stderr.log")
        # -j none: no privilege-separation jail, so the varnish users need
        # no access to our temp dir (it changes nothing on the data path).
        argv = ["varnishd", "-F", "-j", "none",
                "-a", "127.0.0.1:%d" % self.port,
                "-T", "127.0.0.1:0", "-n", os.path.join(self.dir, "n"),
                "-f", vcl, "-s", "malloc,%s" % storage,
                "-P", os.path.join(self.dir, "varnishd.pid")]
        with pinned(cpus):
            self.proc = procs.spawn(argv, log)
        _wait_http(self.url + "/healthz-bench", self.proc, START_TIMEOUT,
                   log)
        time.sleep(0.2)
        self.refresh()
        return self

    @staticmethod
    def path(name):
        return "/fractal/" + name

    @staticmethod
    def cache_result(headers):
        return headers.get("X-Cache")


# ---- swiftgate -----------------------------------------------------------

class Swiftgate(_Server):
    """./swiftgate serve, through tests/lib/gateway.Gateway."""

    name = "swiftgate"
    label = "swiftgate"

    def __init__(self, workdir, bin):
        super().__init__(workdir)
        self.bin = bin
        self.gw = None

    def start(self, swift, workers="auto", cpus=None, extra=None):
        """swift: the [swift] section (a dict)."""
        conf = {"server": {"workers": str(workers), "access_log": "off"},
                "swift": swift}
        for sec, keys in (extra or {}).items():
            conf.setdefault(sec, {}).update(keys)
        self.gw = gateway.Gateway(self.bin, conf, base_dir=self.dir)
        with pinned(cpus):
            self.gw.start()
        self.proc = self.gw.proc
        self.port = int(self.gw.url.rsplit(":", 1)[1])
        self.refresh()
        return self

    def stop(self):
        if self.gw is not None:
            # The caller reports an unclean exit; it does not raise here.
            self.gw.stop(expect_clean=False)
        return self.gw.returncode if self.gw else None

    def exit_problem(self):
        """None after a clean exit 0, else what went wrong."""
        if self.gw is None:
            return None
        try:
            self.gw.check_clean()
        except gateway.GatewayError as e:
            return str(e)
        return None

    def stderr_tail(self, n=20):
        return gateway.tail(self.gw.stderr_text(), n) if self.gw else ""

    def metrics(self):
        """{(metric name, labels text): value} from /metrics."""
        out = {}
        try:
            r = httputil.get(self.gw.admin_url + "/metrics", timeout=5)
        except OSError:
            return out
        for line in r.body.decode("utf-8", "replace").splitlines():
            if not line or line.startswith("#"):
                continue
            m = re.match(r"^(\w+)(\{[^}]*\})?\s+(\S+)$", line)
            if m:
                try:
                    out[(m.group(1), m.group(2) or "")] = float(m.group(3))
                except ValueError:
                    pass
        return out

    @staticmethod
    def path(name):
        return "/fractal/" + name

    @staticmethod
    def cache_result(headers):
        return headers.get("X-Cache")


def metrics_delta(before, after, aborts_ok=0):
    """Readable summary of what changed between two metrics snapshots that
    a clean hit run should not change: non-200 responses, errors, origin
    requests.  Up to aborts_ok client aborts are expected (wrk closes its
    connections with responses in flight when its time is up)."""
    notes = []
    for key, value in sorted(after.items()):
        name, labels = key
        d = value - before.get(key, 0.0)
        if d <= 0:
            continue
        if name == "swiftgate_requests_total" and 'status="200"' not in labels:
            notes.append("%d responses %s" % (d, labels))
        elif name == "swiftgate_errors_total":
            if "client_abort" in labels and d <= aborts_ok:
                continue
            notes.append("%d errors %s" % (d, labels))
        elif name == "swiftgate_origin_requests_total":
            notes.append("%d origin requests %s" % (d, labels))
    return notes


def kill_leftovers(servers):
    """Stop every server in the list, whatever state it is in."""
    for s in servers:
        try:
            s.stop()
        except Exception:   # noqa: BLE001 - best effort at the end
            if s.proc is not None and s.proc.poll() is None:
                os.kill(s.proc.pid, signal.SIGKILL)
