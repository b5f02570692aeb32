"""A small fault-injecting origin shaped like Swift, for the tests.

It serves `GET|HEAD /v1/AUTH_test/<container>/<object>` the way a Swift
proxy does (body, Content-Length, an unquoted MD5 `Etag`, Last-Modified,
Content-Type, If-None-Match -> 304, a single `Range`), on 127.0.0.1 on a
free port, with HTTP/1.1 keep-alive, and can misbehave per object in the
ways a healthy Swift never does:

    fault                    what the origin does
    -----------------------  ------------------------------------------------
    "wrong_md5"              Etag is the MD5 of other bytes; the body is right
    "short"                  full Content-Length, sends half the body, closes
    "reset"                  sends part of the body, then a TCP RST
                             (SO_LINGER 0)
    "status=503" / 503 /     answers that status with a short body
      {"status": 503}
    "hang_before_headers"    sends nothing for up to HANG_LIMIT s (or the
      / "hang_before_headers=S"  S given), then closes without an answer
    "delay=S"                waits S s before the head, then answers normally
    "trickle=BPS"            sends the body at BPS bytes per second; gives up
                             (closes short) after TRICKLE_LIMIT s
    "no_length"              chunked, no Content-Length
    "corrupt" / "corrupt=N"  Content-Length and Etag are right, but byte N of
                             the body (default -1, the last; negative counts
                             from the end) is sent altered
    "slow_first=N"           with trickle=BPS: only the first N bytes of the
                             body are trickled, the rest goes at once
    "stall_after=N"          sends N bytes of the body (trickled if asked),
                             then nothing more: holds the connection for up
                             to STALL_LIMIT s, then closes it short
    "reset_before_headers"   reads the request, answers nothing: a TCP RST
    "malformed_head"         a response head no HTTP parser may accept (a
                             NUL byte inside a header line), then closes
    "refuse_after"           sends the body but its last byte, stops
                             listening (every new connection is refused, see
                             refuse()) and drops its other connections, then
                             sends the last byte and closes
    {"raw_header":           every 200, 206 and 304 of the object sends the
      (NAME, BYTES)}         header NAME with the value BYTES exactly as
      / "raw_header=N: V"    given (a CR, a NUL, 0x01, 0x80...), in place of
                             its own NAME (Content-Type, Etag, Last-Modified,
                             Content-Range...) or added

Static large objects (SLOs), as Swift's slo middleware shows them:

    slo = origin.put_slo("fractals", name, [
        ("fractals_segments", "x/00000001"),              # a whole segment
        ("fractals_segments", "x/00000002", "0-99"),      # bytes 0-99 of one
        b"inline bytes",                                  # a data entry
    ], content_type="image/png")
    slo.data, slo.etag, slo.manifest, slo.manifest_etag, slo.segments

Each segment is an object put before (with origin.put, and its own faults;
an SLO put before becomes a "sub_slo" entry).  `GET ...?multipart-manifest=
get` answers the JSON manifest (Etag: its MD5, X-Static-Large-Object: True,
application/json); HEAD and GET without the query answer the SLO's own
Content-Type, Content-Length (the total), `Etag: "<SLO etag>"` (quoted) and
X-Manifest-Etag; such a GET sends the segments' bytes as they were at
put_slo().  Faults for SLOs only:

    fault                    what the origin does
    -----------------------  ------------------------------------------------
    "wrong_md5"              (on an SLO) the manifest's Etag is the MD5 of
                             other bytes
    "bad_manifest"           the manifest body is not JSON (its Etag matches)
    "slo_etag_mismatch"      HEAD and GET without the query answer another
                             SLO etag, as if the SLO were replaced between
                             the manifest and the HEAD
    "object_status=N"        HEAD and GET without the query answer status N
                             (as "status=N"); the manifest is served
    "object_delay=S"         HEAD and GET without the query wait S s first
                             (as "delay=S"); the manifest is served at once

On an SLO, "wrong_md5" and "bad_manifest" concern only manifest requests
and "slo_etag_mismatch", "object_status" and "object_delay" only the
others: a request a fault does not concern neither sees it nor uses up one
of its `times`.  Every other fault applies to both kinds of request (on an
object that is not an SLO, "object_status" and "object_delay" are
"status" and "delay").

TempAuth: `GET /auth/v1.0` with X-Auth-User "test:tester" and X-Auth-Key
"testing" answers the token and storage URL (origin.auth_gets counts them),
so a gateway with swift_conf(auth="v1") can renew its token after a 401
(fault "status=401" with times=1 is "401 once, then good").

Refusal: origin.refuse() stops listening (connections are refused) and
drops every open connection; origin.resume() listens again on the same
port.

Dynamic large objects (DLOs): an object put with
headers={"X-Object-Manifest": "<container>/<prefix>"} sends that header, and
a generated container listing answers `GET /v1/AUTH_test/<container>?
format=json&prefix=P[&marker=M]` in pages, without holding the names:

    origin.put_listing("fractals_segments", "big/", count=30000, pad=900)
    # names "big/00000000" + "x" * 900 ..., 1 byte each, hash md5(b"x")
    origin.listing_gets("fractals_segments")   # pages asked for

A container with no generated listing lists the objects put in it under the
prefix, `origin.listing_page` names a page (10000 by default), so a DLO of
real segments is put as its segments plus a manifest object.  A listing
may misbehave like an object (the faults before a head: status, delay,
hang_before_headers, reset_before_headers, malformed_head):

    origin.set_listing_fault("fractals_segments", "status=503", times=1,
                             first_page=False)   # only pages with a marker

A fault may be a string, a dict with one key ({"delay": 0.5}), or a list
of them.  `times=N` applies it to the first N requests for the object only.
Every sleep is bounded and ends early when the origin stops.

    with FaultOrigin() as origin:
        origin.put("fractals", name, data, fault="short", times=1)
        ... gateway with [swift] auth_version = static,
            storage_url = origin.storage_url, token = origin.token ...
        assert origin.count("GET", name) == 1
        origin.count("GET", slo.name, manifest=True)  # ?multipart-manifest=get
        origin.requests        # [(method, path, Headers), ...]

Uploads: `PUT` reads the body (Content-Length or chunked) and stores it as
an object (its Content-Type and MD5), answering 201 with `Etag`; `DELETE`
removes an object (204, or 404).  A PUT may misbehave, once per fault set
with origin.set_put_fault(container, name, fault) (name may be a glob, as
fnmatch reads it, for names not known before, e.g. "<uuid>/*/00000002"):

    "status=N"               reads the whole body, answers N, stores nothing
    "reset=N"                reads N bytes of the body, then a TCP RST
    "wrong_etag"             stores the body, answers 201 with the Etag of
                             other bytes

A PUT with `X-Copy-From: /<container>/<name>` stores that object's bytes
(404 when there is none), as Swift's server-side copy does.
origin.put_bodies[(container, name)] holds the bytes of each PUT that ended
with its body whole (the last one).

Requests need `X-Auth-Token: t0k3n` (401 otherwise).  Only loopback.
"""

import base64
import email.utils
import fnmatch
import hashlib
import http.server
import json
import socket
import struct
import threading
import time
import urllib.parse

import httputil

TOKEN = "t0k3n"
ACCOUNT = "AUTH_test"
HANG_LIMIT = 10.0       # longest hang_before_headers, seconds
DELAY_LIMIT = 30.0      # longest delay=S honoured
TRICKLE_LIMIT = 30.0    # longest a trickled body is sent for
STALL_LIMIT = 10.0      # longest stall_after holds a connection
AUTH_USER = "test:tester"
AUTH_KEY = "testing"
IDLE_TIMEOUT = 30.0     # an idle keep-alive connection is closed after this
RESET_PAUSE = 0.2       # between the partial body and the RST
STOP_JOIN = 5.0         # how long stop() waits for handler threads

_KNOWN = ("wrong_md5", "short", "reset", "status", "hang_before_headers",
          "delay", "trickle", "no_length", "corrupt", "bad_manifest",
          "slo_etag_mismatch", "object_status", "object_delay",
          "raw_header", "slow_first", "stall_after", "reset_before_headers",
          "malformed_head", "refuse_after")
# On an SLO: faults only of its manifest, and only of its other requests.
_MANIFEST_FAULTS = ("wrong_md5", "bad_manifest")
_OBJECT_FAULTS = ("slo_etag_mismatch", "object_status", "object_delay")
MANIFEST_CONTENT_TYPE = "application/json; charset=utf-8"
BAD_MANIFEST = b'[{"name": "/not json'


def parse_fault(fault):
    """A fault spec (see the module docstring) as a dict {name: value}."""
    out = {}
    if fault is None:
        return out
    if isinstance(fault, (list, tuple)):
        for f in fault:
            out.update(parse_fault(f))
        return out
    if isinstance(fault, int):
        return {"status": fault}
    if isinstance(fault, dict):
        items = list(fault.items())
    else:
        name, sep, value = str(fault).partition("=")
        items = [(name.strip(), value.strip() if sep else True)]
    for name, value in items:
        if name not in _KNOWN:
            raise ValueError("unknown fault %r (known: %s)"
                             % (name, ", ".join(_KNOWN)))
        if name in ("status", "object_status"):
            value = int(value)
        elif name in ("delay", "trickle", "object_delay"):
            value = float(value)
        elif name == "hang_before_headers":
            value = HANG_LIMIT if value is True else min(float(value),
                                                         HANG_LIMIT)
        elif name == "corrupt":
            value = -1 if value is True else int(value)
        elif name in ("slow_first", "stall_after"):
            value = int(value)
        elif name == "raw_header":
            value = _raw_header(value)
        out[name] = value
    return out


def _raw_header(value):
    """(name, str) for a raw_header fault: the value's bytes as latin-1
    characters, which http.server writes back as those very bytes."""
    if isinstance(value, str):
        name, sep, raw = value.partition(":")
        if not sep:
            raise ValueError("raw_header wants 'Name: value', got %r" % value)
        value = (name.strip(), raw.lstrip(" ").encode("latin-1"))
    name, raw = value
    if isinstance(raw, str):
        raw = raw.encode("latin-1")
    return str(name), bytes(raw).decode("latin-1")


def _with_raw(headers, fault):
    """headers [(name, value)] with a raw_header fault's header in place of
    its namesake (case-insensitive), or added at the end."""
    if "raw_header" not in fault:
        return headers
    name, value = fault["raw_header"]
    out = [(k, v) for k, v in headers if k.lower() != name.lower()]
    return out + [(name, value)]


class _Object:
    def __init__(self, data, content_type, fault, times, last_modified,
                 headers=None):
        self.data = bytes(data)
        self.headers = list((headers or {}).items())
        self.content_type = content_type
        self.etag = hashlib.md5(self.data).hexdigest()
        self.fault = parse_fault(fault)
        self.times = times          # None: every request; N: the first N
        ts = time.time() if last_modified is None else last_modified
        self.ts = ts
        self.timestamp = "%.5f" % ts
        self.last_modified = email.utils.formatdate(int(ts), usegmt=True)

    def faults_for(self, manifest):
        """The faults that concern a request (see the module docstring)."""
        return dict(self.fault)


class _Slo(_Object):
    """An SLO: `data` is the whole object (its segments' bytes at put
    time), `slo_etag` Swift's ETag of it, `manifest` the JSON that
    ?multipart-manifest=get answers."""

    def __init__(self, data, content_type, fault, times, last_modified,
                 manifest, slo_etag):
        super().__init__(data, content_type, fault, times, last_modified)
        self.manifest = manifest
        self.manifest_etag = hashlib.md5(manifest).hexdigest()
        self.slo_etag = slo_etag

    def faults_for(self, manifest):
        skip = _OBJECT_FAULTS if manifest else _MANIFEST_FAULTS
        return {k: v for k, v in self.fault.items() if k not in skip}


class Slo:
    """What put_slo() stored.

    container, name   where the SLO is
    data              its bytes, the segments' (ranges of them) in order
    etag              its ETag as Swift computes it, unquoted
    manifest          the JSON body of ?multipart-manifest=get (bytes)
    manifest_etag     the MD5 of that body
    content_type      its own Content-Type
    entries           the manifest as a list of dicts
    segments          [(container, object)] of the object-backed entries, in
                      order (a sub-SLO is one of them; its segments are not)
    """

    def __init__(self, container, name, data, etag, manifest, entries,
                 segments, content_type):
        self.container = container
        self.name = name
        self.data = data
        self.etag = etag
        self.manifest = manifest
        self.manifest_etag = hashlib.md5(manifest).hexdigest()
        self.entries = entries
        self.segments = segments
        self.content_type = content_type

    def __repr__(self):
        return "<Slo %s/%s %d bytes, %d entries, etag %s>" % (
            self.container, self.name, len(self.data), len(self.entries),
            self.etag)


def _slo_range(spec, size):
    """An SLO entry's "M-N" | "M-" | "-N" against a segment of `size` bytes,
    as (first, last); ValueError when Swift would refuse it."""
    a, sep, b = str(spec).strip().partition("-")
    if not sep or (a == "" and b == ""):
        raise ValueError("bad segment range %r" % (spec,))
    if a == "":
        n = int(b)
        if n <= 0 or n > size:
            raise ValueError("bad segment range %r" % (spec,))
        return size - n, size - 1
    first = int(a)
    last = int(b) if b else size - 1
    if first > last or last >= size:
        raise ValueError("segment range %r outside %d bytes" % (spec, size))
    return first, last


def _corrupt(data, where):
    """data with the byte at index `where` (negative: from the end) flipped."""
    if not data:
        return data
    i = where if where >= 0 else len(data) + where
    i = min(max(i, 0), len(data) - 1)
    return data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:]


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, origin, port=0):
        self.origin = origin
        super().__init__(("127.0.0.1", port), _Handler)

    def process_request(self, request, client_address):
        with self.origin._lock:
            self.origin._conns.add(request)
        t = threading.Thread(target=self.process_request_thread,
                             args=(request, client_address), daemon=True)
        with self.origin._lock:
            self.origin._threads = [x for x in self.origin._threads
                                    if x.is_alive()]
            self.origin._threads.append(t)
        t.start()

    def shutdown_request(self, request):
        with self.origin._lock:
            self.origin._conns.discard(request)
            reset = request in self.origin._reset
            self.origin._reset.discard(request)
        if reset:
            # No shutdown(SHUT_WR) first: that would send a FIN before the
            # RST.  close() with SO_LINGER {1, 0} aborts the connection.
            try:
                request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                   struct.pack("ii", 1, 0))
            except OSError:
                pass
            self.close_request(request)
        else:
            super().shutdown_request(request)

    def handle_error(self, request, client_address):
        pass        # a client that went away is not news


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FaultOrigin/1"
    sys_version = ""
    timeout = IDLE_TIMEOUT

    def log_message(self, fmt, *args):
        pass

    def version_string(self):
        return self.server_version

    def setup(self):
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY,
                                       1)
        except OSError:
            pass

    # -- answers ---------------------------------------------------------

    @property
    def origin(self):
        return self.server.origin

    def _simple(self, status, body=b"", extra=None, head_only=False):
        self.send_response(status)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "text/plain; charset=UTF-8")
        self.send_header("X-Trans-Id", self.origin._trans_id())
        self.end_headers()
        if body and not head_only:
            self.wfile.write(body)
        self.wfile.flush()

    def _drop(self):
        """Close the connection without answering."""
        self.close_connection = True

    def _sleep(self, seconds):
        """Sleep, bounded, waking early when the origin stops.  True if the
        origin is stopping."""
        return self.origin._stopping.wait(max(0.0, seconds))

    # -- methods ---------------------------------------------------------

    def do_GET(self):
        self._serve(head_only=False)

    def do_HEAD(self):
        self._serve(head_only=True)

    def _other(self):
        self.origin._record(self.command, self.path, self.headers)
        self._simple(405, b"Method Not Allowed")

    do_POST = do_COPY = do_OPTIONS = _other

    def _object_key(self):
        parts = urllib.parse.unquote(self.path.partition("?")[0]).split("/", 4)
        return (parts[3], parts[4]) if len(parts) == 5 else None

    def _read_upload(self, limit):
        """The request body, at most `limit` bytes of it (None: all); None
        when a chunked body is cut before its last chunk (as Swift does, it
        is then not stored)."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while limit is None or len(out) < limit:
                line = self.rfile.readline()
                if not line:
                    return None
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                out += self.rfile.read(size)
                self.rfile.readline()
            return out if limit is None else out[:limit]
        n = int(self.headers.get("Content-Length", "0"))
        return self.rfile.read(n if limit is None else min(n, limit))

    def do_PUT(self):
        origin = self.origin
        origin._record("PUT", self.path, self.headers)
        key = self._object_key()
        if self.headers.get("X-Auth-Token") != origin.token or key is None:
            self._read_upload(None)
            self._simple(401 if key else 404, b"no")
            return
        with origin._lock:
            pattern = next((k for k in origin._put_faults
                            if k[0] == key[0] and fnmatch.fnmatchcase(key[1], k[1])), key)
            fault = origin._put_faults.pop(pattern, None) or ""
        if fault.startswith("reset="):
            self._read_upload(int(fault.split("=", 1)[1]))
            self.close_connection = True
            with origin._lock:
                origin._reset.add(self.connection)
            return
        data = self._read_upload(None)
        if data is None:
            self.close_connection = True
            return
        copy_from = self.headers.get("X-Copy-From")
        if copy_from:
            src = urllib.parse.unquote(copy_from).lstrip("/").split("/", 1)
            with origin._lock:
                obj = origin._objects.get(tuple(src))
            if obj is None:
                self._simple(404, b"no source")
                return
            data = obj.data
        with origin._lock:
            origin.put_bodies[key] = data
        if fault.startswith("status="):
            self._simple(int(fault.split("=", 1)[1]), b"refused")
            return
        etag = origin.put(key[0], key[1], data,
                          self.headers.get("Content-Type", "application/octet-stream"))
        if fault == "wrong_etag":
            etag = hashlib.md5(data + b"x").hexdigest()
        self._simple(201, b"", {"Etag": etag,
                                "Last-Modified": email.utils.formatdate(usegmt=True)})

    def do_DELETE(self):
        origin = self.origin
        origin._record("DELETE", self.path, self.headers)
        key = self._object_key()
        with origin._lock:
            gone = key is not None and origin._objects.pop(key, None) is not None
        self._simple(204 if gone else 404, b"")

    def _auth(self):
        """TempAuth v1.0: the token and storage URL for the one user."""
        origin = self.origin
        with origin._lock:
            origin.auth_gets += 1
        if (self.headers.get("X-Auth-User") != AUTH_USER
                or self.headers.get("X-Auth-Key") != AUTH_KEY):
            self._simple(401, b"Unauthorized")
            return
        self._simple(200, b"", {"X-Auth-Token": origin.token,
                                "X-Storage-Url": origin.storage_url,
                                "X-Auth-Token-Expires": "86400"})

    def _before_head(self, fault):
        """Apply the faults that come before a head; True if the request
        was answered (or dropped) by one of them."""
        if "hang_before_headers" in fault:
            self._sleep(fault["hang_before_headers"])
            self._drop()
            return True
        if "delay" in fault:
            if self._sleep(min(fault["delay"], DELAY_LIMIT)):
                self._drop()
                return True
        if "reset_before_headers" in fault:
            self.close_connection = True
            with self.origin._lock:
                self.origin._reset.add(self.connection)
            return True
        if "malformed_head" in fault:
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n"
                             b"Etag: d41d8cd98f00b204e9800998ecf8427e\r\n"
                             b"X-Bro\x00ken: yes\r\n\r\n0123456789")
            self.wfile.flush()
            self.close_connection = True
            return True
        if "status" in fault:
            status = fault["status"]
            body = ("%d fault injected" % status).encode()
            self._simple(status, b"" if status in (204, 304) else body,
                         head_only=self.command == "HEAD")
            return True
        return False

    def _serve(self, head_only):
        origin = self.origin
        path = self.path
        origin._record(self.command, path, self.headers)
        if path.split("?", 1)[0] == "/auth/v1.0":
            self._auth()
            return
        if self.headers.get("X-Auth-Token") != origin.token:
            self._simple(401, b"<html><h1>Unauthorized</h1></html>",
                         head_only=head_only)
            return
        raw_path, _, query = path.partition("?")
        manifest = _wants_manifest(query)
        parts = urllib.parse.unquote(raw_path).split("/", 4)
        # ['', 'v1', 'AUTH_test', container, object]
        if len(parts) < 3 or parts[1] != "v1" or parts[2] != origin.account:
            self._simple(404, b"Not Found", head_only=head_only)
            return
        if len(parts) < 5 or not parts[4]:
            listing = (origin._listing_page(parts[3], query)
                       if len(parts) >= 4 and not head_only else None)
            if listing is not None and self._before_head(
                    origin._take_listing(parts[3], query)):
                return
            if listing is not None:
                self._simple(200, listing)
                return
            # Account or container: enough for a HEAD of the storage URL.
            self._simple(204, b"", head_only=head_only)
            return
        obj, fault = origin._take(parts[3], parts[4], manifest)
        # What concerns this request of object_* is plain status / delay.
        for kind in ("status", "delay"):
            if "object_" + kind in fault:
                fault = dict(fault)
                fault.setdefault(kind, fault.pop("object_" + kind))
        if obj is None and not fault:
            self._simple(404, b"<html><h1>Not Found</h1></html>",
                         head_only=head_only)
            return

        if self._before_head(fault):
            return
        if obj is None:
            self._simple(404, b"Not Found", head_only=head_only)
            return

        data = obj.data
        etag = obj.etag             # what If-None-Match is compared with
        content_type = obj.content_type
        more = []
        if isinstance(obj, _Slo) and manifest:
            data = obj.manifest
            etag = obj.manifest_etag
            if "bad_manifest" in fault:
                data = BAD_MANIFEST
                etag = hashlib.md5(data).hexdigest()
            content_type = MANIFEST_CONTENT_TYPE
            more = [("X-Static-Large-Object", "True")]
        elif isinstance(obj, _Slo):
            etag = obj.slo_etag
            if "slo_etag_mismatch" in fault:
                etag = hashlib.md5(obj.slo_etag.encode()
                                   + b" replaced").hexdigest()
            more = [("X-Static-Large-Object", "True"),
                    ("X-Manifest-Etag", obj.manifest_etag)]
        if not isinstance(obj, _Slo):
            more = more + obj.headers
        if "wrong_md5" in fault:
            etag = hashlib.md5(data + b"\0other bytes").hexdigest()
        # Swift quotes an SLO's own ETag, not an object's or a manifest's.
        etag_field = etag
        if isinstance(obj, _Slo) and not manifest:
            etag_field = '"%s"' % etag
        common = [("Etag", etag_field), ("Last-Modified", obj.last_modified),
                  ("X-Timestamp", obj.timestamp), ("Accept-Ranges", "bytes"),
                  ("Content-Type", content_type)] + more + [
                  ("X-Trans-Id", origin._trans_id())]

        if _etag_matches(self.headers.get("If-None-Match"), etag):
            self.send_response(304)
            for k, v in _with_raw(common, fault):
                if k != "Content-Type":
                    self.send_header(k, v)
            self.send_header("Content-Length", "0")
            self.end_headers()
            self.wfile.flush()
            return

        if "corrupt" in fault:
            data = _corrupt(data, fault["corrupt"])
        status = 200
        rng = _parse_range(self.headers.get("Range"), len(data))
        if rng == "bad":
            self._simple(416, b"Requested Range Not Satisfiable",
                         {"Content-Range": "bytes */%d" % len(data)},
                         head_only=head_only)
            return
        if rng is not None:
            first, last = rng
            status = 206
            common.append(("Content-Range", "bytes %d-%d/%d"
                           % (first, last, len(data))))
            data = data[first:last + 1]

        self.send_response(status)
        for k, v in _with_raw(common, fault):
            self.send_header(k, v)
        chunked = "no_length" in fault
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.flush()
        if head_only:
            return

        if "stall_after" in fault:
            self._send_body(data[:fault["stall_after"]], chunked, fault,
                            finish=False)
            self._sleep(STALL_LIMIT)    # the peer's close ends it sooner
            self.close_connection = True
            return
        if "refuse_after" in fault and data:
            self._send_body(data[:-1], chunked, fault, finish=False)
            origin.refuse(keep=self.connection)
            self._send_body(data[-1:], chunked, {}, finish=True)
            self.close_connection = True
            return
        if "short" in fault or "reset" in fault:
            part = data[:len(data) // 2]
            self._send_body(part, chunked, fault, finish=False)
            self.wfile.flush()
            self.close_connection = True
            if "reset" in fault:
                self._sleep(RESET_PAUSE)
                with origin._lock:
                    origin._reset.add(self.connection)
            return
        self._send_body(data, chunked, fault, finish=True)

    def _send_body(self, data, chunked, fault, finish):
        """Write data (as chunks if chunked; at fault["trickle"] bytes/s if
        set, only its first fault["slow_first"] bytes if that is set too).
        With finish, a chunked body gets its last chunk."""
        trickle = fault.get("trickle")
        if trickle and "slow_first" in fault:
            head = data[:fault["slow_first"]]
            rest = data[len(head):]
            if self._send_body(head, chunked, {"trickle": trickle}, False):
                return True
            data = rest
            trickle = None
        if trickle:
            step = max(1, int(trickle / 10))
            deadline = time.monotonic() + TRICKLE_LIMIT
            for off in range(0, len(data), step):
                if time.monotonic() > deadline:
                    self.close_connection = True    # gives up: body short
                    return True
                self._write(data[off:off + step], chunked)
                self.wfile.flush()
                if off + step < len(data) and self._sleep(0.1):
                    self.close_connection = True
                    return True
        else:
            step = 64 << 10 if chunked else max(1, len(data))
            for off in range(0, len(data), step):
                self._write(data[off:off + step], chunked)
        if chunked and finish:
            self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        return False

    def _write(self, piece, chunked):
        if not piece:
            return
        if chunked:
            self.wfile.write(b"%x\r\n" % len(piece) + piece + b"\r\n")
        else:
            self.wfile.write(piece)


def _wants_manifest(query):
    """Does a query string ask for an SLO's manifest?"""
    for key, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        if key == "multipart-manifest" and value == "get":
            return True
    return False


def _etag_matches(header, etag):
    if not header:
        return False
    for tag in header.split(","):
        tag = tag.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        if tag == "*" or tag.strip('"') == etag:
            return True
    return False


def _parse_range(header, size):
    """(first, last) for one 'bytes=' range, None to ignore, 'bad' if it
    cannot be satisfied."""
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    spec = header[len("bytes="):].strip()
    a, sep, b = spec.partition("-")
    if not sep:
        return None
    try:
        if a == "":
            n = int(b)
            if n <= 0:
                return "bad"
            return (max(0, size - n), size - 1) if size else "bad"
        first = int(a)
        last = int(b) if b else size - 1
    except ValueError:
        return None
    if first >= size or last < first:
        return "bad"
    return first, min(last, size - 1)


class FaultOrigin:
    """A Swift-shaped origin with injectable faults; see module docstring."""

    def __init__(self, account=ACCOUNT, token=TOKEN):
        self.account = account
        self.token = token
        self.requests = []      # (method, path, httputil.Headers)
        self._objects = {}      # (container, name) -> _Object
        self._put_faults = {}   # (container, name) -> the next PUT's fault
        self.put_bodies = {}    # (container, name) -> the last whole PUT body
        self._listings = {}     # container -> (prefix, count, pad, page)
        self._listing_faults = {}   # container -> [fault, times, first]
        self.listing_page = 10000   # names per page of a real listing
        self.auth_gets = 0      # GET /auth/v1.0 seen
        self._refusing = False
        self._counts = {}       # (method, container, name) -> n
        self._mcounts = {}      # the same, ?multipart-manifest=get only
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._conns = set()
        self._reset = set()
        self._threads = []
        self._txn = 0
        self._server = None
        self._serve_thread = None
        self.port = None
        self.url = None
        self.storage_url = None

    # -- lifecycle -------------------------------------------------------

    def start(self):
        self._server = _Server(self)
        self.port = self._server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.storage_url = "%s/v1/%s" % (self.url, self.account)
        self._serve_thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
            name="faultorigin", daemon=True)
        self._serve_thread.start()
        return self

    def stop(self):
        """Stop accepting, wake every sleeping handler, close every
        connection and wait (bounded) for the handler threads."""
        if self._server is None:
            return
        self._stopping.set()
        if not self._refusing:
            self._server.shutdown()
            self._server.server_close()
            self._serve_thread.join(STOP_JOIN)
        with self._lock:
            conns = list(self._conns)
            threads = list(self._threads)
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        deadline = time.monotonic() + STOP_JOIN
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        self._server = None

    def refuse(self, keep=None):
        """Stop listening, so that every new connection is refused, and
        drop every open connection but `keep`.  Not from the thread that
        runs serve_forever (a handler's own thread is fine)."""
        with self._lock:
            if self._refusing or self._server is None:
                return
            self._refusing = True
        self._server.shutdown()
        self._server.server_close()
        self._serve_thread.join(STOP_JOIN)
        with self._lock:
            conns = [c for c in self._conns if c is not keep]
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def resume(self):
        """Listen again, on the same port, after refuse()."""
        with self._lock:
            if not self._refusing:
                return
        self._server = _Server(self, self.port)
        self._serve_thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
            name="faultorigin", daemon=True)
        self._serve_thread.start()
        with self._lock:
            self._refusing = False

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def swift_conf(self, auth="static", **extra):
        """The gateway's [swift] section against this origin (a dict for
        Gateway/ctx.gateway(swift=...)): static auth, or with auth="v1"
        TempAuth through this origin's /auth/v1.0."""
        conf = {"auth_version": "static", "storage_url": self.storage_url,
                "token": self.token, "auth_url": None, "user": None,
                "key": None}
        if auth == "v1":
            conf = {"auth_version": "1", "auth_url": self.url + "/auth/v1.0",
                    "user": AUTH_USER, "key": AUTH_KEY, "storage_url": None,
                    "token": None}
        conf.update(extra)
        return conf

    # -- objects ---------------------------------------------------------

    def put(self, container, name, data, content_type="image/png",
            fault=None, times=None, last_modified=None, headers=None):
        """Store (or replace) an object; returns its MD5 hex (the true one,
        whatever the fault).  fault applies to every request, or only to
        the first `times` requests for it; headers are sent with it."""
        obj = _Object(data, content_type, fault, times, last_modified,
                      headers)
        with self._lock:
            self._objects[(container, name)] = obj
        return obj.etag

    def set_put_fault(self, container, name, fault):
        """The next PUT of the object misbehaves (see the module docstring)."""
        with self._lock:
            self._put_faults[(container, name)] = fault

    def put_slo(self, container, name, entries, content_type="image/png",
                fault=None, times=None, last_modified=None):
        """Store (or replace) an SLO made of `entries`, each one of

            (container, object)           a whole object put before
            (container, object, "M-N")    part of it ("M-N", "M-" or "-N")
            bytes                         a data entry
            {"container", "object", optional "range"} or {"data": bytes}

        An entry naming an SLO becomes a sub_slo entry.  The manifest takes
        each segment's size and true MD5 now (whatever its fault), as
        Swift's PUT does; later changes to a segment are not seen by the
        manifest.  fault/times as for put() (see the module docstring for
        the SLO faults).  Returns a Slo."""
        if not entries:
            raise ValueError("an SLO needs at least one entry")
        out, parts, etag_src, segments = [], [], [], []
        with self._lock:
            for entry in entries:
                if isinstance(entry, dict):
                    if "data" in entry:
                        entry = bytes(entry["data"])
                    else:
                        entry = (entry["container"], entry["object"],
                                 entry.get("range"))
                if isinstance(entry, (bytes, bytearray)):
                    if not entry:
                        raise ValueError("empty data entry")
                    entry = bytes(entry)
                    out.append({"data": base64.b64encode(entry).decode()})
                    parts.append(entry)
                    etag_src.append(hashlib.md5(entry).hexdigest())
                    continue
                seg_container, seg_name = entry[0], entry[1]
                spec = entry[2] if len(entry) > 2 else None
                seg = self._objects.get((seg_container, seg_name))
                if seg is None or getattr(seg, "absent", False):
                    raise ValueError("no segment %s/%s" % (seg_container,
                                                           seg_name))
                sub = isinstance(seg, _Slo)
                item = {
                    "name": "/%s/%s" % (seg_container, seg_name),
                    "bytes": len(seg.data),
                    "hash": seg.slo_etag if sub else seg.etag,
                    "content_type": seg.content_type,
                    "last_modified": time.strftime(
                        "%Y-%m-%dT%H:%M:%S", time.gmtime(seg.ts))
                    + ".%06d" % int((seg.ts % 1) * 1e6),
                }
                if sub:
                    item["sub_slo"] = True
                body = seg.data
                if spec is not None:
                    first, last = _slo_range(spec, len(seg.data))
                    item["range"] = "%d-%d" % (first, last)
                    body = body[first:last + 1]
                    etag_src.append("%s:%s;" % (item["hash"], item["range"]))
                else:
                    etag_src.append(item["hash"])
                out.append(item)
                parts.append(body)
                segments.append((seg_container, seg_name))
            if not segments:
                raise ValueError("an SLO needs an object-backed entry")
            data = b"".join(parts)
            slo_etag = hashlib.md5("".join(etag_src).encode()).hexdigest()
            manifest = json.dumps(out).encode()
            obj = _Slo(data, content_type, fault, times, last_modified,
                       manifest, slo_etag)
            self._objects[(container, name)] = obj
        return Slo(container, name, data, slo_etag, manifest, out, segments,
                   content_type)

    def put_listing(self, container, prefix, count, pad=0, page=10000):
        """A listing of `container` under `prefix` of `count` generated
        names prefix + "%08d" % i + "x" * pad, each 1 byte with the MD5 of
        b"x", served `page` names at a time (Swift's listing limit)."""
        with self._lock:
            self._listings[container] = (prefix, count, pad, page)

    def set_listing_fault(self, container, fault, times=None,
                          first_page=True):
        """Listing pages of `container` misbehave (faults before a head
        only); with first_page=False, only pages asked with a marker."""
        with self._lock:
            self._listing_faults[container] = [parse_fault(fault), times,
                                               first_page]

    def _take_listing(self, container, query):
        """The fault in effect for one listing request of container."""
        marker = urllib.parse.parse_qs(query).get("marker", [""])[0]
        with self._lock:
            spec = self._listing_faults.get(container)
            if spec is None or not spec[0] or (not spec[2] and not marker):
                return {}
            if spec[1] is not None:
                if spec[1] <= 0:
                    return {}
                spec[1] -= 1
            return dict(spec[0])

    def _real_listing(self, container, query):
        """A page of the objects put in container (None: not a listing)."""
        q = urllib.parse.parse_qs(query)
        if q.get("format", [""])[0] != "json":
            return None
        prefix = q.get("prefix", [""])[0]
        marker = q.get("marker", [""])[0]
        with self._lock:
            names = sorted((n, o) for (c, n), o in self._objects.items()
                           if c == container and n.startswith(prefix)
                           and n > marker and not getattr(o, "absent", 0))
            names = names[:self.listing_page]
        return json.dumps([
            {"name": n, "hash": o.etag, "bytes": len(o.data),
             "content_type": o.content_type,
             "last_modified": "2026-01-01T00:00:00.000000"}
            for n, o in names]).encode()

    def _listing_page(self, container, query):
        """The JSON body of one listing page, or None: no such listing."""
        with self._lock:
            spec = self._listings.get(container)
        if spec is None:
            return self._real_listing(container, query)
        prefix, count, pad, page = spec
        q = urllib.parse.parse_qs(query)
        if q.get("prefix", [""])[0] != prefix:
            return b"[]"
        marker = q.get("marker", [""])[0]
        start = 0
        if marker:
            start = int(marker[len(prefix):len(prefix) + 8]) + 1
        stop = min(count, start + page)
        tail = "x" * pad
        etag = hashlib.md5(b"x").hexdigest()
        return json.dumps([
            {"name": "%s%08d%s" % (prefix, i, tail), "hash": etag,
             "bytes": 1, "content_type": "application/octet-stream",
             "last_modified": "2026-01-01T00:00:00.000000"}
            for i in range(start, stop)]).encode()

    def names(self, container, prefix=""):
        """The names of the objects stored in `container` under `prefix`."""
        with self._lock:
            return sorted(n for (c, n) in self._objects
                          if c == container and n.startswith(prefix))

    def listing_gets(self, container):
        """How many listing pages of `container` were asked for."""
        with self._lock:
            reqs = list(self.requests)
        want = "/v1/%s/%s?" % (self.account, container)
        return sum(1 for method, path, _ in reqs
                   if method == "GET" and path.startswith(want))

    def set_fault(self, container, name, fault, times=None):
        """Change the fault of an object (or of a missing one: a fault on
        an absent object still applies, e.g. a 503 for it)."""
        with self._lock:
            obj = self._objects.get((container, name))
            if obj is None:
                obj = _Object(b"", "application/octet-stream", None, None,
                              None)
                obj.absent = True
                self._objects[(container, name)] = obj
            obj.fault = parse_fault(fault)
            obj.times = times

    def delete(self, container, name):
        with self._lock:
            self._objects.pop((container, name), None)

    def _take(self, container, name, manifest=False):
        """(object or None, fault dict in effect for this request); manifest:
        the request asks for an SLO's manifest."""
        with self._lock:
            obj = self._objects.get((container, name))
            if obj is None:
                return None, {}
            fault = {}
            concern = obj.faults_for(manifest)
            if concern and (obj.times is None or obj.times > 0):
                fault = concern
                if obj.times is not None:
                    obj.times -= 1
            if getattr(obj, "absent", False):
                return None, fault
            return obj, fault

    def _trans_id(self):
        with self._lock:
            self._txn += 1
            return "txfault%012d" % self._txn

    # -- what the origin saw ---------------------------------------------

    def _record(self, method, path, headers):
        h = httputil.Headers(headers.items())
        raw, _, query = path.partition("?")
        parts = urllib.parse.unquote(raw).split("/", 4)
        key = None
        if len(parts) == 5:
            key = (method, parts[3], parts[4])
        with self._lock:
            self.requests.append((method, path, h))
            if key:
                self._counts[key] = (self._counts.get(key) or 0) + 1
                if _wants_manifest(query):
                    self._mcounts[key] = (self._mcounts.get(key) or 0) + 1

    def count(self, method, name, container=None, manifest=None):
        """How many `method` requests reached the object `name` (in any
        container, or in `container`); with manifest=True only those with
        ?multipart-manifest=get, with manifest=False only the others."""
        with self._lock:
            total = sum(n or 0 for (m, c, o), n in self._counts.items()
                        if m == method and o == name
                        and (container is None or c == container))
            if manifest is None:
                return total
            with_query = sum(n or 0 for (m, c, o), n in self._mcounts.items()
                             if m == method and o == name
                             and (container is None or c == container))
        return with_query if manifest else total - with_query

    def requests_for(self, name):
        """[(method, path, Headers)] of the requests for object `name`."""
        with self._lock:
            reqs = list(self.requests)
        out = []
        for method, path, h in reqs:
            parts = urllib.parse.unquote(path.split("?", 1)[0]).split("/", 4)
            if len(parts) == 5 and parts[4] == name:
                out.append((method, path, h))
        return out
