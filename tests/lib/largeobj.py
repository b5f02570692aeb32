"""Swift large objects for the tests: segments, DLO and SLO uploads, the
bytes and ETag Swift serves for them, Range expectations, and what a
gateway asked Swift for them (read from the proxy log).

An assembled object is modelled as a list of Piece: a run of its bytes and
the segment object they come from (None for an SLO's inline data).  The
whole object is the pieces' bytes in order; a Range covers the segments
of the pieces it touches.

    segs = put_segments(saio, uuid, [3000, 4000, 1234], seed=1)
    slo = put_slo(saio, name, [seg_part(segs[0]), data_part(b"hi"),
                               seg_part(segs[1], "10-19")])
    dlo = put_dlo(saio, name2, segs)
    slo.data, slo.etag, slo.keys()
"""

import base64
import hashlib
import http.client
import json
import random
import re
import urllib.parse

import httputil

CONTAINER = "fractals"
SEGMENTS = "fractals_segments"
ACCOUNT_PATH = "/v1/AUTH_test"


def md5_hex(data):
    return hashlib.md5(data).hexdigest()


# -- what an object is made of -------------------------------------------

class Piece:
    """A run of an assembled object's bytes; key is (container, object)
    of the segment they are read from, or None for inline data."""

    def __init__(self, key, data):
        self.key = key
        self.data = data

    def __repr__(self):
        return "<Piece %s %d bytes>" % (self.key and "/".join(self.key),
                                        len(self.data))


def assemble(pieces):
    return b"".join(p.data for p in pieces)


def slice_pieces(pieces, first, last):
    """The pieces of bytes first..last (inclusive) of the assembled object."""
    out = []
    pos = 0
    for p in pieces:
        start, end = pos, pos + len(p.data) - 1
        pos += len(p.data)
        lo, hi = max(first, start), min(last, end)
        if lo <= hi:
            out.append(Piece(p.key, p.data[lo - start:hi - start + 1]))
    return out


def boundaries(pieces):
    """Offsets where each piece starts, then the total length."""
    out = [0]
    for p in pieces:
        out.append(out[-1] + len(p.data))
    return out


def covered_keys(pieces, ranges):
    """Segment keys of the pieces that bytes in `ranges` [(first, last)]
    touch."""
    keys = set()
    for first, last in ranges:
        keys.update(p.key for p in slice_pieces(pieces, first, last)
                    if p.key is not None)
    return keys


class Segment:
    """One segment object stored in Swift."""

    def __init__(self, container, name, data, etag):
        self.container = container
        self.name = name
        self.data = data
        self.etag = etag

    @property
    def key(self):
        return (self.container, self.name)

    @property
    def path(self):
        return "/%s/%s" % (self.container, self.name)

    def __repr__(self):
        return "<Segment %s %d bytes>" % (self.path, len(self.data))


def put_segments(saio, prefix, sizes, seed, container=SEGMENTS, start=0,
                 name_format="%s/%08d"):
    """Upload one segment per size as <prefix>/00000000, 00000001, ...
    (numbered from start) with pseudo-random bytes; returns [Segment]."""
    rnd = random.Random(seed)
    segs = []
    for i, size in enumerate(sizes, start):
        name = name_format % (prefix, i)
        data = rnd.randbytes(size)
        etag = saio.put_object(container, name, data,
                               "application/octet-stream")
        assert etag == md5_hex(data), (name, etag)
        segs.append(Segment(container, name, data, etag))
    return segs


# -- DLO -----------------------------------------------------------------

class Dlo:
    """A DLO: a manifest object naming `<container>/<prefix>`; its bytes
    are the segments under that prefix in name order."""

    def __init__(self, name, segments, content_type=None):
        self.name = name
        self.segments = sorted(segments, key=lambda s: s.name)
        self.content_type = content_type
        self.pieces = [Piece(s.key, s.data) for s in self.segments]
        self.data = assemble(self.pieces)
        # Swift's dlo.py: MD5 of the segments' hex ETags, in listing order.
        self.etag = md5_hex("".join(s.etag for s in self.segments).encode())

    def keys(self):
        return [s.key for s in self.segments]


def put_dlo(saio, name, segments, manifest_prefix, content_type="image/png",
            container=CONTAINER):
    """A zero-byte manifest with X-Object-Manifest: manifest_prefix
    ("<container>/<prefix>"); `segments` are all that prefix holds."""
    saio.put_object(container, name, b"", content_type,
                    {"X-Object-Manifest": manifest_prefix})
    return Dlo(name, segments, content_type)


# -- SLO -----------------------------------------------------------------

def parse_segment_range(spec, size):
    """An SLO entry's "M-N", "M-" or "-N" against a segment of size bytes:
    (first, last) inclusive."""
    a, _, b = spec.partition("-")
    if a == "":
        return max(0, size - int(b)), size - 1
    first = int(a)
    last = min(int(b), size - 1) if b else size - 1
    return first, last


class Part:
    """One entry of an SLO manifest: the JSON entry, the pieces it adds,
    and what it adds to the ETag (slo.py: hash, "hash:M-N;" for a range,
    MD5 of the bytes for inline data)."""

    def __init__(self, entry, pieces, etag_part, segments=()):
        self.entry = entry
        self.pieces = pieces
        self.etag_part = etag_part
        self.segments = list(segments)


def seg_part(seg, range_spec=None):
    entry = {"path": seg.path, "etag": seg.etag, "size_bytes": len(seg.data)}
    if range_spec is None:
        return Part(entry, [Piece(seg.key, seg.data)], seg.etag, [seg])
    entry["range"] = range_spec
    first, last = parse_segment_range(range_spec, len(seg.data))
    assert (first, last) != (0, len(seg.data) - 1), \
        "Swift drops a range that is the whole segment"
    return Part(entry, [Piece(seg.key, seg.data[first:last + 1])],
                "%s:%d-%d;" % (seg.etag, first, last), [seg])


def data_part(data):
    return Part({"data": base64.b64encode(data).decode("ascii")},
                [Piece(None, data)], md5_hex(data))


def sub_slo_part(slo, range_spec=None):
    """An entry naming another SLO (its path, SLO ETag and total size)."""
    entry = {"path": "/%s/%s" % (slo.container, slo.name),
             "etag": slo.etag, "size_bytes": len(slo.data)}
    if range_spec is None:
        return Part(entry, list(slo.pieces), slo.etag, slo.segments)
    entry["range"] = range_spec
    first, last = parse_segment_range(range_spec, len(slo.data))
    pieces = slice_pieces(slo.pieces, first, last)
    keys = set(p.key for p in pieces)
    return Part(entry, pieces, "%s:%d-%d;" % (slo.etag, first, last),
                [seg for seg in slo.segments if seg.key in keys])


class Slo:
    """An SLO as uploaded: its parts, pieces, bytes and expected ETag."""

    def __init__(self, name, parts, content_type, container=CONTAINER):
        self.name = name
        self.container = container
        self.parts = parts
        self.content_type = content_type
        self.pieces = [p for part in parts for p in part.pieces]
        self.data = assemble(self.pieces)
        self.etag = md5_hex("".join(p.etag_part for p in parts).encode())
        self.segments = []
        for part in parts:
            for seg in part.segments:
                if seg.key not in [s.key for s in self.segments]:
                    self.segments.append(seg)

    def keys(self):
        """Segment keys in order, each once."""
        out = []
        for p in self.pieces:
            if p.key is not None and p.key not in out:
                out.append(p.key)
        return out


def put_slo(saio, name, parts, content_type="image/png",
            container=CONTAINER):
    """PUT <name>?multipart-manifest=put; returns the Slo, after checking
    that Swift's ETag is the one computed here."""
    slo = Slo(name, parts, content_type, container)
    body = json.dumps([p.entry for p in parts]).encode()
    r = saio.request("PUT", saio.object_url(container, name)
                     + "?multipart-manifest=put",
                     {"Content-Type": content_type}, body)
    assert r.status == 201, "SLO PUT %s: %d %r" % (name, r.status,
                                                   r.body[:500])
    got = r.headers.get("Etag", "").strip('"')
    assert got == slo.etag, "SLO %s: Swift's ETag %s, computed %s" % (
        name, got, slo.etag)
    return slo


# -- HTTP --------------------------------------------------------------------

class Fetched(httputil.Response):
    """A Response that may be cut short: complete is False when the
    connection closed (or was reset) before the announced body ended."""

    def __init__(self, status, reason, headers, body, complete):
        super().__init__(status, reason, headers, body)
        self.complete = complete

    def __repr__(self):
        return "<Fetched %d %s, %d bytes%s>" % (
            self.status, self.reason, len(self.body),
            "" if self.complete else ", cut short")


def fetch(url, headers=None, method="GET", timeout=30.0):
    """One request; reads the body as far as it comes.  Unlike
    httputil.request a short body is returned (complete=False), not
    raised."""
    host, port, path = httputil.split_url(url)
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        conn.endheaders()
        resp = conn.getresponse()
        hdrs = httputil.Headers(resp.getheaders())
        chunks = []
        complete = True
        while True:
            try:
                chunk = resp.read(65536)
            except http.client.IncompleteRead as e:
                chunks.append(e.partial)
                complete = False
                break
            except (ConnectionResetError, BrokenPipeError):
                complete = False
                break
            if not chunk:
                break
            chunks.append(chunk)
        body = b"".join(chunks)
        length = hdrs.get("Content-Length")
        if method != "HEAD" and length is not None and \
                resp.status not in (204, 304) and len(body) != int(length):
            complete = False
        return Fetched(resp.status, resp.reason, hdrs, body, complete)
    finally:
        conn.close()


def swift_fetch(saio, name, headers=None, method="GET", container=CONTAINER):
    """Swift's own answer for an object (large objects assembled by
    Swift), read like fetch()."""
    _, token = saio.auth()
    h = dict(headers or {}, **{"X-Auth-Token": token})
    return fetch(saio.object_url(container, name), h, method)


# -- ranges ------------------------------------------------------------------

def resolve_ranges(header, size):
    """A "bytes=..." Range against size bytes: [(first, last)] in request
    order (the tests only send satisfiable, disjoint, sorted ranges)."""
    assert header.startswith("bytes="), header
    out = []
    for spec in header[len("bytes="):].split(","):
        out.append(parse_segment_range(spec.strip(), size))
    return out


def multipart_parts(resp):
    """[(Content-Range, bytes)] of a multipart/byteranges body."""
    ctype = resp.headers.get("Content-Type", "")
    m = re.search(r"boundary=\"?([^\";\s]+)", ctype)
    assert ctype.startswith("multipart/byteranges") and m, \
        "not multipart/byteranges: %r" % ctype
    delim = b"--" + m.group(1).encode()
    out = []
    for chunk in resp.body.split(delim)[1:]:
        if chunk.startswith(b"--"):
            break
        head, sep, data = chunk.partition(b"\r\n\r\n")
        assert sep, "part without a head: %r" % chunk[:200]
        cr = re.search(rb"(?im)^content-range: *([^\r\n]+)", head)
        if data.endswith(b"\r\n"):
            data = data[:-2]
        out.append((cr.group(1).decode() if cr else None, data))
    return out


def expected_parts(data, header):
    size = len(data)
    return [("bytes %d-%d/%d" % (f, l, size), data[f:l + 1])
            for f, l in resolve_ranges(header, size)]


def standard_ranges(pieces):
    """(label, Range header) cases over an object's piece boundaries: inside
    one piece, exactly one piece, across several pieces, a suffix and an
    open range across the last boundary, and a multi-range.  Needs at
    least 4 pieces of 4 bytes or more."""
    b = boundaries(pieces)
    n = len(pieces)
    total = b[-1]
    assert n >= 4 and all(len(p.data) >= 4 for p in pieces), pieces

    def mid(i):
        return b[i] + len(pieces[i].data) // 2

    i = n // 2
    cases = [
        ("inside piece %d" % i,
         "bytes=%d-%d" % (b[i] + 1, b[i + 1] - 2)),
        ("exactly piece %d" % i, "bytes=%d-%d" % (b[i], b[i + 1] - 1)),
        ("pieces 1..%d" % min(3, n - 1),
         "bytes=%d-%d" % (mid(1), mid(min(3, n - 1)))),
        ("suffix across the last boundary",
         "bytes=-%d" % (total - mid(n - 2))),
        ("open from piece %d" % (n - 3), "bytes=%d-" % mid(n - 3)),
        ("multi-range",
         "bytes=%d-%d,%d-%d,-3" % (b[0] + 1, mid(0), mid(n - 3),
                                   mid(n - 2))),
    ]
    return cases


# -- what reached Swift -------------------------------------------------------

def object_path(container, name):
    return "%s/%s/%s" % (ACCOUNT_PATH, urllib.parse.quote(container),
                         urllib.parse.quote(name))


def count(requests, method, path_regex, status=None):
    """Requests (from Saio.proxy_log_requests) whose method and path match
    the regexes whole."""
    return sum(1 for m, p, s, _ in requests
               if re.fullmatch(method, m) and re.fullmatch(path_regex, p)
               and (status is None or s == status))


def segment_gets(requests, key):
    """Plain GETs (no query) of one segment object."""
    return count(requests, "GET", re.escape(object_path(*key)))


def segment_get_sizes(requests, key):
    """[(status, bytes sent)] of the plain GETs of one segment object."""
    path = object_path(*key)
    return [(s, sent) for m, p, s, sent in requests
            if m == "GET" and p == path]


def manifest_gets(requests, name, container=CONTAINER):
    """GET <object>?multipart-manifest=get (other query fields allowed)."""
    return count(requests, "GET", re.escape(object_path(container, name))
                 + r"%3F(?:\S*%26)?multipart-manifest%3Dget(?:%26\S*)?")


def plain_requests(requests, method, name, container=CONTAINER):
    """Requests for an object with no query string."""
    return count(requests, method, re.escape(object_path(container, name)))


def object_requests(requests, method, name, container=CONTAINER):
    """Requests for an object, with or without a query string."""
    return count(requests, method, re.escape(object_path(container, name))
                 + r"(?:%3F\S*)?")


def listing_gets(requests, container, token):
    """Listings of a container whose query mentions token (a uuid in the
    prefix or marker)."""
    return count(requests, "GET", re.escape("%s/%s" % (
        ACCOUNT_PATH, urllib.parse.quote(container))) + r"%3F\S*"
        + re.escape(token) + r"\S*")


def mentioning(requests, token):
    """Every request whose path contains token."""
    return [r for r in requests if token in r[1]]
