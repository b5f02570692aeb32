"""A small asyncio HTTP/1.1 client for the soak: keep-alive connections,
bodies read by Content-Length, a body given up on purpose part way, and
every wait bounded by a deadline.

    conn = await Conn.open(host, port)
    resp = await conn.request("GET", "/fractal/" + uuid, timeout=30)
    resp.status, resp.headers["etag"], resp.body
    await conn.request("GET", path, stop_after=4096)   # leave mid-body

Errors are raised as ClientError with a `kind` the soak counts by:
connect (refused or failed), eof (closed before any byte of the answer),
short (closed or reset inside the answer), timeout, protocol (a head
that does not parse, no Content-Length).
"""

import asyncio
import re
import time

_STATUS_RE = re.compile(rb"HTTP/1\.[01] (\d{3}) ")
MAX_HEAD = 64 << 10


class ClientError(Exception):
    def __init__(self, kind, detail):
        super().__init__("%s: %s" % (kind, detail))
        self.kind = kind
        self.detail = detail


class Resp:
    """status, headers ({lower-case name: value}), body, complete (False
    when stop_after cut it on purpose), keepalive (the server may be sent
    another request), latency (seconds from the request to the last byte
    read)."""

    def __init__(self, status, headers, body, complete, keepalive):
        self.status = status
        self.headers = headers
        self.body = body
        self.complete = complete
        self.keepalive = keepalive
        self.latency = 0.0

    def __repr__(self):
        return "<Resp %d, %d bytes%s>" % (self.status, len(self.body),
                                          "" if self.complete else ", left")


def parse_head(raw):
    """(status, {name: value}) of a response head without its blank line."""
    lines = raw.split(b"\r\n")
    m = _STATUS_RE.match(lines[0] + b" ")
    if not m:
        raise ClientError("protocol", "status line %r" % lines[0][:100])
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip():
            raise ClientError("protocol", "header line %r" % line[:100])
        headers[name.decode("latin-1").lower()] = \
            value.strip().decode("latin-1")
    return int(m.group(1)), headers


def request_bytes(method, path, headers=None):
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: soak"]
    lines += ["%s: %s" % kv for kv in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class Conn:
    """One client connection; used by one coroutine at a time."""

    def __init__(self, reader, writer):
        self.reader = reader
        self.writer = writer
        self.requests = 0
        self.closed = False

    @classmethod
    async def open(cls, host, port, timeout=10.0):
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, limit=MAX_HEAD),
                timeout)
        except asyncio.TimeoutError:
            raise ClientError("timeout", "connect") from None
        except OSError as e:
            raise ClientError("connect", str(e)) from None
        return cls(reader, writer)

    def close(self):
        if not self.closed:
            self.closed = True
            self.writer.close()

    def abort(self):
        """Close at once, dropping what is unread (a reset, as a browser
        tab that is closed)."""
        if not self.closed:
            self.closed = True
            self.writer.transport.abort()

    async def request(self, method, path, headers=None, timeout=30.0,
                      stop_after=None):
        """Send one request and read its answer.  stop_after: read the
        head and that many body bytes, then abort the connection."""
        t0 = time.monotonic()
        self.requests += 1
        try:
            self.writer.write(request_bytes(method, path, headers))
            resp = await asyncio.wait_for(
                self._read(method, stop_after), timeout)
        except asyncio.TimeoutError:
            self.abort()
            raise ClientError("timeout", "%s %s after %.1f s"
                              % (method, path, timeout)) from None
        except ClientError:
            self.abort()
            raise
        except (ConnectionError, OSError) as e:
            self.abort()
            raise ClientError("eof", "%s %s: %s" % (method, path, e)) \
                from None
        resp.latency = time.monotonic() - t0
        if not resp.complete:
            self.abort()
        elif not resp.keepalive:
            self.close()
        return resp

    async def _read(self, method, stop_after):
        try:
            raw = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as e:
            raise ClientError("eof" if not e.partial else "short",
                              "closed in the head (%d bytes)"
                              % len(e.partial)) from None
        except asyncio.LimitOverrunError:
            raise ClientError("protocol", "head over 64 KiB") from None
        status, headers = parse_head(raw[:-4])
        keepalive = headers.get("connection", "").lower() != "close"
        if method == "HEAD" or status in (204, 304):
            return Resp(status, headers, b"", True, keepalive)
        length = headers.get("content-length")
        if length is None or not length.isdigit():
            raise ClientError("protocol", "no Content-Length: %d %r"
                              % (status, headers))
        n = int(length)
        want = n if stop_after is None else min(n, stop_after)
        try:
            body = await self.reader.readexactly(want)
        except asyncio.IncompleteReadError as e:
            raise ClientError("short", "%d of %d body bytes"
                              % (len(e.partial), n)) from None
        return Resp(status, headers, body, want == n, keepalive)
