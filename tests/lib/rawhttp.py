"""A raw HTTP/1.1 client over a plain socket, for tests that assert what is
on the wire: status lines, header fields in order, exact body bytes,
pipelining, and when the server closes.  Every wait is bounded.
"""

import re
import socket
import time

import httputil


class Resp:
    """One response as read off the wire."""

    def __init__(self, version, status, reason, fields, body, raw_head):
        self.version = version
        self.status = status
        self.reason = reason
        self.fields = fields            # [(name, value)] in order
        self.body = body
        self.raw_head = raw_head

    def get(self, name, default=None):
        for k, v in self.fields:
            if k.lower() == name.lower():
                return v
        return default

    def count(self, name):
        return sum(1 for k, _ in self.fields if k.lower() == name.lower())

    def __repr__(self):
        return "<Resp %d %s %r, %d bytes>" % (self.status, self.reason,
                                              self.fields, len(self.body))


class Raw:
    """A client socket with a read buffer; every wait is bounded."""

    def __init__(self, addr, timeout=10.0, rcvbuf=None, source=None):
        if isinstance(addr, str):
            host, port, _ = httputil.split_url(addr)
            addr = (host, port)
        self.addr = addr
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        if source:
            self.sock.bind((source, 0))   # connect from this local address
        self.sock.connect(addr)
        self.timeout = timeout
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("no answer in time")
        self.sock.settimeout(left)
        chunk = self.sock.recv(262144)
        if not chunk:
            raise EOFError("connection closed; have %r" % self.buf[:200])
        self.buf += chunk

    def read_response(self, head=False, timeout=None):
        """One response; head=True for the answer to a HEAD (no body)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while b"\r\n\r\n" not in self.buf:
            self._fill(deadline)
        raw, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = raw.decode("latin-1").split("\r\n")
        m = re.match(r"(HTTP/\d\.\d) (\d{3}) (.*)$", lines[0])
        assert m, "bad status line %r" % lines[0]
        fields = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            assert name and name == name.strip(), "bad field %r" % line
            fields.append((name, value.strip()))
        resp = Resp(m.group(1), int(m.group(2)), m.group(3), fields, b"",
                    raw)
        if head or resp.status in (204, 304):
            return resp
        length = resp.get("Content-Length")
        assert length is not None, "no Content-Length: %r" % resp
        n = int(length)
        while len(self.buf) < n:
            self._fill(deadline)
        resp.body, self.buf = self.buf[:n], self.buf[n:]
        return resp

    def request(self, method, path, headers=None, head=None, version="1.1",
                body=b""):
        self.send(req_bytes(method, path, headers, version, body))
        return self.read_response(head=method == "HEAD" if head is None
                                  else head)

    def closed(self, timeout=5.0):
        """True if the peer closes (EOF or reset) within timeout with
        nothing more to read."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return False
            except ConnectionResetError:
                return True
            if not chunk:
                return True
            self.buf += chunk
        return False

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def req_bytes(method, path, headers=None, version="1.1", body=b""):
    """A request's bytes; Host is added for HTTP/1.1 unless given."""
    hdrs = dict(headers or {})
    if version == "1.1" and not any(k.lower() == "host" for k in hdrs):
        hdrs["Host"] = "gw"
    lines = ["%s %s HTTP/%s" % (method, path, version)]
    lines += ["%s: %s" % kv for kv in hdrs.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
