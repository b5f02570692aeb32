"""Small HTTP helpers for the tests: http.client requests, raw sockets, ports.

Only loopback addresses are used.  Header names are case-insensitive
everywhere (Swift spells `Etag`, the gateway may spell `ETag`).
"""

import http.client
import socket
import time
import urllib.parse


class Headers:
    """A case-insensitive, read-only view of response header fields."""

    def __init__(self, pairs):
        self._pairs = [(k, v) for k, v in pairs]

    def get(self, name, default=None):
        """The last value of field `name`, or default."""
        name = name.lower()
        for key, value in reversed(self._pairs):
            if key.lower() == name:
                return value
        return default

    def get_all(self, name):
        """Every value of field `name`, in order."""
        return [v for k, v in self._pairs if k.lower() == name.lower()]

    def __getitem__(self, name):
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name):
        return self.get(name) is not None

    def items(self):
        return list(self._pairs)

    def __repr__(self):
        return "Headers(%r)" % (self._pairs,)


class Response:
    """status (int), reason, headers (Headers), body (bytes)."""

    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body

    def __repr__(self):
        return "<Response %d %s, %d bytes>" % (self.status, self.reason,
                                               len(self.body))


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def split_url(url):
    """'http://h:p/path?q' -> (host, port, '/path?q')."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http":
        raise ValueError("only http:// URLs: %r" % url)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return parts.hostname, parts.port or 80, path


def request(method, url, headers=None, body=None, timeout=30.0):
    """One request on a fresh connection; returns a Response.

    The URL path is sent exactly as given (no normalisation), so tests can
    send paths such as /fractal/../x.
    """
    host, port, path = split_url(url)
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        data = resp.read()
        return Response(resp.status, resp.reason,
                        Headers(resp.getheaders()), data)
    finally:
        conn.close()


def get(url, headers=None, timeout=30.0):
    """GET url; returns a Response."""
    return request("GET", url, headers=headers, timeout=timeout)


def head(url, headers=None, timeout=30.0):
    """HEAD url; returns a Response (empty body)."""
    return request("HEAD", url, headers=headers, timeout=timeout)


def send_raw(url_or_hostport, data, timeout=5.0, limit=64 << 20):
    """Send raw bytes; return every byte received until close or timeout.

    url_or_hostport is 'http://host:port...' or a (host, port) tuple.
    Reading stops at EOF, after `timeout` seconds in total, or at `limit`
    bytes.
    """
    if isinstance(url_or_hostport, str):
        host, port, _ = split_url(url_or_hostport)
    else:
        host, port = url_or_hostport
    deadline = time.monotonic() + timeout
    chunks = []
    total = 0
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(data)
        while total < limit:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            s.settimeout(left)
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    return b"".join(chunks)
