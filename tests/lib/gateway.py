"""The real swiftgate binary under test: config, start, stop, sanitizers.

    gw = Gateway("./swiftgate", {"swift": {"key": "wrong"}},
                 auth_url=saio.auth_url)
    gw.start()            # waits for "ready listen=HOST:PORT admin=HOST:PORT",
                          # then for the outcome of its first auth request
    httputil.get(gw.url + "/fractal/" + uuid)
    gw.metrics()          # the admin /metrics as {"name{labels}": value}
    gw.stop()             # SIGTERM; exit 0 and no sanitizer report, or raise

A config is a dict of sections ({"server": {...}, "swift": {...}}) laid
over the defaults below (a value of None drops a default key), or a string
written verbatim.  Sanitizer options are set in the environment; inherited
SWIFTGATE_* variables are removed so only the caller's overrides apply.
"""

import configparser
import os
import re
import signal
import subprocess
import tempfile
import threading
import time

import httputil
import procs

START_TIMEOUT = 20.0
# The gateway asks Swift for a token once it runs, without making its start
# wait: start() then waits this long at most for that request's outcome (a
# token, or why not), so that a test meets a gateway whose /healthz already
# says 200, or 503 with the reason, as a balancer would see it some
# milliseconds later.
AUTH_SETTLE_TIMEOUT = 10.0
STOP_TIMEOUT = 30.0

SANITIZER_ENV = {
    "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=66",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1:exitcode=67",
}
SANITIZER_MARKERS = (
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "runtime error:",
    "SUMMARY: UndefinedBehaviorSanitizer",
    "SUMMARY: AddressSanitizer",
)
_READY_RE = re.compile(r"ready listen=(\S+)(?: admin=(\S+))?")
# The lines the first auth request ends with: a token, a refusal, a failure.
_AUTH_OUTCOME_RE = re.compile(r" [IW] swift: (authenticated as |auth request to "
                              r"|Keystone auth at |cannot start an auth request)")


def default_conf(workdir, auth_url=None):
    """The default config sections for a gateway living in workdir."""
    swift = {"auth_version": "1", "auth_url": auth_url,
             "user": "test:tester", "key": "testing",
             "container": "fractals"}
    return {
        "server": {"listen": "127.0.0.1:0", "admin_listen": "127.0.0.1:0",
                   "access_log": os.path.join(workdir, "access.log"),
                   "workers": "1"},
        "swift": swift,
        "cache": {"dir": os.path.join(workdir, "cache")},
    }


def merge_conf(base, overrides):
    """base sections updated by overrides; None values remove keys."""
    out = {sec: dict(keys) for sec, keys in base.items()}
    for sec, keys in (overrides or {}).items():
        target = out.setdefault(sec, {})
        for key, value in keys.items():
            if value is None:
                target.pop(key, None)
            else:
                target[key] = str(value)
    return {sec: {k: v for k, v in keys.items() if v is not None}
            for sec, keys in out.items()}


def render_conf(sections):
    """INI text for a dict of sections."""
    lines = []
    for sec, keys in sections.items():
        lines.append("[%s]" % sec)
        lines.extend("%s = %s" % (k, v) for k, v in keys.items())
        lines.append("")
    return "\n".join(lines)


def gateway_env(env=None):
    """os.environ without SWIFTGATE_*, plus sanitizer options, plus env
    (a None value removes a variable)."""
    out = {k: v for k, v in os.environ.items()
           if not k.startswith("SWIFTGATE_")}
    out.update(SANITIZER_ENV)
    for key, value in (env or {}).items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def sanitizer_report(text):
    """The first sanitizer marker found in text, or None."""
    for marker in SANITIZER_MARKERS:
        if marker in text:
            return marker
    return None


def tail(text, lines=40):
    """The last lines of text."""
    return "\n".join(text.splitlines()[-lines:])


def run(bin, args, env=None, timeout=30.0):
    """Run `bin args...` to completion; returns (rc, stdout, stderr).

    Raises AssertionError if it died by a signal or a sanitizer reported.
    """
    res = subprocess.run([bin] + list(args), capture_output=True,
                         env=gateway_env(env), timeout=timeout,
                         stdin=subprocess.DEVNULL)
    out = res.stdout.decode("utf-8", "replace")
    err = res.stderr.decode("utf-8", "replace")
    marker = sanitizer_report(err)
    if res.returncode < 0 or marker:
        raise AssertionError("%s %s: %s\n%s" % (
            bin, " ".join(args),
            marker or "killed by signal %d" % -res.returncode, tail(err)))
    return res.returncode, out, err


def check_config(bin, conf_path, env=None):
    """`bin check-config -c conf_path`; returns (rc, stdout, stderr)."""
    return run(bin, ["check-config", "-c", conf_path], env=env)


class GatewayError(AssertionError):
    """The gateway did not start, or did not stop cleanly."""


class Gateway:
    """One swiftgate process with its own temp dir; see module docstring."""

    def __init__(self, bin, conf=None, env=None, args=None, auth_url=None,
                 base_dir=None):
        self.bin = os.path.abspath(bin)
        self.dir = tempfile.mkdtemp(prefix="swiftgate-", dir=base_dir)
        self.conf_path = os.path.join(self.dir, "swiftgate.conf")
        if isinstance(conf, str):
            self.conf_text = conf
        else:
            self.conf_text = render_conf(merge_conf(
                default_conf(self.dir, auth_url), conf))
        with open(self.conf_path, "w") as f:
            f.write(self.conf_text)
        self.env = gateway_env(env)
        self.args = list(args or [])
        self.stdout_path = os.path.join(self.dir, "stdout.log")
        self.stderr_path = os.path.join(self.dir, "stderr.log")
        self.proc = None
        self.url = None
        self.admin_url = None
        self.returncode = None
        self._lock = threading.Lock()

    def __repr__(self):
        return "<Gateway %s pid=%s>" % (self.url, self.proc and self.proc.pid)

    # -- files ---------------------------------------------------------

    def _read(self, path):
        try:
            with open(path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def stderr_text(self):
        return self._read(self.stderr_path)

    def conf_value(self, section, key, default=None):
        """[section] key as the gateway reads it: its SWIFTGATE_SECTION_KEY
        override, else the config written, else default."""
        env = "SWIFTGATE_%s_%s" % (section.upper(), key.upper())
        if env in self.env:
            return self.env[env]
        cp = configparser.ConfigParser(interpolation=None, strict=False)
        try:
            cp.read_string(self.conf_text)
        except configparser.Error:
            return default
        return cp.get(section, key, fallback=default)

    def access_log_path(self):
        """server.access_log from the config written (None if unset)."""
        return self.conf_value("server", "access_log")

    def _auth_at_start(self):
        """True when this gateway asks Swift for a token as it starts and
        logs the outcome (auth not static, log level info or debug)."""
        static = self.conf_value("swift", "auth_version", "1") == "static"
        level = self.conf_value("server", "log_level", "info")
        return not static and level in ("info", "debug")

    def access_log_lines(self):
        """The access log's lines (empty list if there is none yet)."""
        path = self.access_log_path()
        if not path or path in ("-", "off"):
            return []
        return self._read(path).splitlines()

    # -- lifecycle -----------------------------------------------------

    def start(self, timeout=START_TIMEOUT, wait_auth=True):
        """Run `bin serve -c conf` and wait for its ready line, then (with
        wait_auth) for the outcome of its first auth request."""
        # The log is appended to: a restart's outcome is after this.
        log_start = len(self.stderr_text())
        self.proc = procs.spawn([self.bin, "serve", "-c", self.conf_path]
                                + self.args, self.stderr_path, env=self.env,
                                stdout_path=self.stdout_path)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = _READY_RE.search(self.stderr_text())
            if m:
                self.url = "http://" + m.group(1)
                self.admin_url = "http://" + m.group(2) if m.group(2) else None
                if wait_auth and self._auth_at_start():
                    self._await_first_auth(log_start)
                return self
            if self.proc.poll() is not None:
                self.returncode = self.proc.returncode
                procs.stop(self.proc)
                raise GatewayError("swiftgate exited with %d before ready\n%s"
                                   % (self.returncode,
                                      tail(self.stderr_text())))
            time.sleep(0.02)
        self.kill9()
        raise GatewayError("swiftgate not ready after %.0f s\n%s"
                           % (timeout, tail(self.stderr_text())))

    def _await_first_auth(self, log_start):
        """Wait (bounded) for the log line that ends the first auth request;
        a gateway that got neither a token nor a refusal by then (a Swift
        that hangs) is handed over as it is."""
        deadline = time.monotonic() + AUTH_SETTLE_TIMEOUT
        while time.monotonic() < deadline and self.proc.poll() is None:
            if _AUTH_OUTCOME_RE.search(self.stderr_text()[log_start:]):
                return
            time.sleep(0.02)

    def stop(self, expect_clean=True, timeout=STOP_TIMEOUT):
        """SIGTERM and reap (SIGKILL after timeout).  With expect_clean,
        raise unless it exited 0 with no sanitizer report."""
        with self._lock:
            if self.proc is None or self.returncode is not None:
                return self.returncode
            self.returncode = procs.stop(self.proc, grace=timeout)
        if expect_clean:
            self.check_clean()
        return self.returncode

    def check_clean(self):
        """Raise GatewayError if the exit was not 0 or a sanitizer spoke."""
        err = self.stderr_text()
        marker = sanitizer_report(err)
        if marker:
            raise GatewayError("sanitizer report (%s)\n%s"
                               % (marker, tail(err)))
        if self.returncode is not None and self.returncode < 0:
            raise GatewayError("swiftgate died by signal %d\n%s"
                               % (-self.returncode, tail(err)))
        if self.returncode != 0:
            raise GatewayError("swiftgate exited %s, not 0\n%s"
                               % (self.returncode, tail(err)))

    # -- admin listener --------------------------------------------------

    def metrics(self, token=None, timeout=10.0):
        """The admin listener's /metrics as {"name{labels}": value}, e.g.
        m['swiftgate_errors_total{kind="origin_connect"}'].  token: the
        admin_token, sent as a bearer.  Raises AssertionError unless the
        answer is a 200 whose every line is a comment or `name value`."""
        headers = {"Authorization": "Bearer " + token} if token else None
        r = httputil.get(self.admin_url + "/metrics", headers=headers,
                         timeout=timeout)
        assert r.status == 200, "GET /metrics: %r %r" % (r, r.body[:200])
        out = {}
        for line in r.body.decode("utf-8", "replace").splitlines():
            if not line or line.startswith("#"):
                continue
            key, _, value = line.rpartition(" ")
            try:
                out[key] = float(value)
            except ValueError:
                raise AssertionError("GET /metrics: not a sample: %r"
                                     % line) from None
        return out

    def error_count(self, kind):
        """swiftgate_errors_total{kind=KIND}; every kind is always shown, so
        a kind /metrics does not know fails."""
        key = 'swiftgate_errors_total{kind="%s"}' % kind
        m = self.metrics()
        assert key in m, "no %s in /metrics; kinds: %s" % (key, sorted(
            k for k in m if k.startswith("swiftgate_errors_total{")))
        return m[key]

    def kill9(self):
        """SIGKILL and reap, no checks."""
        with self._lock:
            if self.proc is not None and self.returncode is None:
                self.returncode = procs.stop(self.proc, grace=10.0,
                                             sig=signal.SIGKILL)
        return self.returncode

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
