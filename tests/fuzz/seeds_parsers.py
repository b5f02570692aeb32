"""Seeds of the parser fuzz targets (cond, slo, dlo, plan, conf, proxy), for
tests/fuzz/seeds.py, which writes them.  Each dict maps a corpus file name,
VERDICT-shape, to its bytes; the verdicts are in each target's words (its
file in tests/fuzz/ says them).
"""

import base64
import hashlib
import json
import struct

H1 = "0123456789abcdef0123456789abcdef"    # the cond target's ETag, an MD5
H2 = "d41d8cd98f00b204e9800998ecf8427e"
LM = "Sun, 06 Nov 1994 08:49:37 GMT"


def fields(*lines):
    return ("\r\n".join(lines) + "\r\n").encode("latin-1")


# cond: a GET's fields against a representation of 10000 bytes, ETag H1,
# Last-Modified LM.  Verdict PRE.RANGE.
COND = {
    "pass.full-nothing": b"",
    "pass.r1-range-first": fields("Range: bytes=0-99"),
    "pass.r1-range-open": fields("Range: bytes=9000-"),
    "pass.r1-range-suffix": fields("Range: bytes=-500"),
    "pass.r1-range-suffix-longer": fields("Range: bytes=-20000"),
    "pass.r1-range-last-clamped": fields("Range: bytes=9990-20000"),
    "pass.r2-range-two": fields("Range: bytes=0-0,-1"),
    "pass.r1-range-merge-overlap": fields("Range: bytes=0-10, 5-20, 21-30"),
    "pass.r2-range-unsorted": fields("Range: bytes=500-600,0-9"),
    "pass.r1-range-case-spaces": fields("Range:  BYTES=0-1 ,  2-3 "),
    "pass.r1-range-one-unsatisfiable": fields("Range: bytes=20000-,0-5"),
    "pass.416-range-unsatisfiable": fields("Range: bytes=10000-"),
    "pass.416-range-suffix-zero": fields("Range: bytes=-0"),
    "pass.full-range-reversed": fields("Range: bytes=5-4"),
    "pass.full-range-not-bytes": fields("Range: items=0-5"),
    "pass.full-range-empty-spec": fields("Range: bytes="),
    "pass.full-range-garbage": fields("Range: bytes=0-5x"),
    "pass.full-range-overflow": fields("Range: bytes=18446744073709551616-"),
    "pass.full-range-17": fields("Range: bytes=" + ",".join("%d-%d" % (i * 10, i * 10)
                                                           for i in range(17))),
    "pass.r16-range-16": fields("Range: bytes=" + ",".join("%d-%d" % (i * 10, i * 10)
                                                          for i in range(16))),
    "pass.r1-if-range-etag": fields('If-Range: "%s"' % H1, "Range: bytes=0-1"),
    "pass.full-if-range-other-etag": fields('If-Range: "%s"' % H2, "Range: bytes=0-1"),
    "pass.full-if-range-weak": fields('If-Range: W/"%s"' % H1, "Range: bytes=0-1"),
    "pass.r1-if-range-date": fields("If-Range: " + LM, "Range: bytes=0-1"),
    "pass.full-if-range-other-date": fields("If-Range: Mon, 07 Nov 1994 08:49:37 GMT",
                                            "Range: bytes=0-1"),
    "pass.r1-if-match": fields('If-Match: "%s"' % H1, "Range: bytes=1-2"),
    "pass.full-if-match-star": fields("If-Match: *"),
    "pass.full-if-match-list": fields('If-Match: "x", "%s"' % H1),
    "412.full-if-match-other": fields('If-Match: "%s"' % H2),
    "412.full-if-match-weak": fields('If-Match: W/"%s"' % H1),
    "304.full-if-none-match": fields('If-None-Match: "%s"' % H1),
    "304.full-if-none-match-weak": fields('If-None-Match: W/"%s"' % H1),
    "304.full-if-none-match-unquoted": fields("If-None-Match: %s" % H1),
    "304.full-if-none-match-star": fields("If-None-Match: *"),
    "pass.full-if-none-match-other": fields('If-None-Match: "%s", "y"' % H2),
    "304.full-if-modified-since-same": fields("If-Modified-Since: " + LM),
    "304.full-if-modified-since-rfc850": fields("If-Modified-Since: Sunday, 06-Nov-94 08:49:37 GMT"),
    "304.full-if-modified-since-asctime": fields("If-Modified-Since: Sun Nov  6 08:49:37 1994"),
    "pass.full-if-modified-since-before": fields("If-Modified-Since: Sat, 05 Nov 1994 08:49:37 GMT"),
    "pass.full-if-modified-since-future": fields("If-Modified-Since: Fri, 31 Dec 9999 23:59:59 GMT"),
    "pass.full-if-modified-since-garbage": fields("If-Modified-Since: yesterday"),
    "412.full-if-unmodified-since-before": fields("If-Unmodified-Since: Sat, 05 Nov 1994 08:49:37 GMT"),
    "pass.full-if-unmodified-since-after": fields("If-Unmodified-Since: Tue, 01 Jan 2030 00:00:00 GMT"),
    "412.full-if-match-beats-none-match": fields('If-Match: "%s"' % H2, 'If-None-Match: "%s"' % H1),
    "pass.full-if-match-ignores-unmodified": fields('If-Match: "%s"' % H1,
                                                    "If-Unmodified-Since: Sat, 05 Nov 1994 08:49:37 GMT"),
    "304.full-none-match-ignores-modified": fields('If-None-Match: "%s"' % H1,
                                                   "If-Modified-Since: Sat, 05 Nov 1994 08:49:37 GMT"),
    "pass.full-date-leap-second": fields("If-Unmodified-Since: Thu, 31 Dec 1998 23:59:60 GMT"),
    "pass.full-bare-lf-ctl": b"Range:\tbytes=0-\x01\nIf-Match\n: x\n",
}


def slo(*entries):
    return json.dumps(list(entries)).encode()


def seg(name="/fractals_segments/big/1", size=10, h=H1, **kw):
    e = {"name": name, "bytes": size, "hash": h}
    e.update(kw)
    return e


def data(raw):
    return {"data": base64.b64encode(raw).decode()}


# slo: the body of GET <slo>?multipart-manifest=get.  Verdict ok or bad.
SLO = {
    "ok-one": slo(seg()),
    "ok-two": slo(seg(), seg("/fractals_segments/big/2", 5, H2)),
    "ok-range": slo(seg(range="2-5")),
    "ok-range-open": slo(seg(range="3-")),
    "ok-range-suffix": slo(seg(range="-4")),
    "ok-data-around": slo(data(b"head"), seg(), data(b"\x00tail")),
    "ok-sub-slo": slo(seg("/fractals/sub", 1000, sub_slo=True), seg()),
    "ok-sub-slo-swift-bytes": slo(seg("/fractals/sub", 0, sub_slo=True,
                                      content_type="application/json;swift_bytes=77")),
    "ok-extra-keys": slo(seg(content_type="image/png", last_modified="2024-01-01T00:00:00")),
    "ok-unicode": slo(seg("/fractals_segments/\u00e9t\u00e9/\U0001f600")),
    "ok-upper-hash": slo(seg(h=H1.upper())),
    "ok-zero-bytes": slo(seg(size=0), seg()),
    "ok-range-null": slo(seg(range=None)),
    "ok-object-with-slashes": slo(seg("/c/a//b/")),
    "bad-not-json": b"[{\"name\": ",
    "bad-trailing": slo(seg()) + b" x",
    "bad-object": b'{"name": "/c/o", "bytes": 1, "hash": "%s"}' % H1.encode(),
    "bad-empty": b"[]",
    "bad-only-data": slo(data(b"abc")),
    "bad-no-hash": slo({"name": "/c/o", "bytes": 1}),
    "bad-hash-short": slo(seg(h=H1[:31])),
    "bad-hash-not-hex": slo(seg(h="g" * 32)),
    "bad-bytes-negative": slo(seg(size=-1)),
    "bad-bytes-string": slo(seg(size="10")),
    "bad-bytes-float": b'[{"name": "/c/o", "bytes": 1.0, "hash": "%s"}]' % H1.encode(),
    "bad-name-relative": slo(seg("c/o")),
    "bad-name-no-object": slo(seg("/c/")),
    "bad-name-container-only": slo(seg("/c")),
    "bad-name-nul": slo(seg("/c/o\u0000")),
    "bad-name-invalid-utf8": b'[{"name": "/c/\xff", "bytes": 1, "hash": "%s"}]' % H1.encode(),
    "bad-container-too-long": slo(seg("/" + "c" * 257 + "/o")),
    "bad-range-past-end": slo(seg(range="5-10")),
    "bad-range-reversed": slo(seg(range="5-2")),
    "bad-range-suffix-zero": slo(seg(range="-0")),
    "bad-range-two": slo(seg(range="0-1,3-4")),
    "bad-range-number": slo(seg(range=5)),
    "bad-data-not-base64": slo({"data": "a*=="}, seg()),
    "bad-data-empty": slo({"data": ""}, seg()),
    "bad-data-and-name": slo({"data": "YQ==", "name": "/c/o"}, seg()),
    "bad-sub-slo-string": slo(seg(sub_slo="true")),
    "bad-total-overflow": slo(seg(size=2 ** 62), seg(size=2 ** 62)),
    "bad-bytes-too-big": slo(seg(size=2 ** 63)),
    "bad-duplicate-key": b'[{"name": "/c/o", "name": "/c/p", "bytes": 1, "hash": "%s"}]' % H1.encode(),
    "bad-entry-not-object": slo(seg(), "x"),
}


def listing(*entries):
    return json.dumps([{"name": n, "hash": h, "bytes": b, "content_type": "image/png"}
                       for n, h, b in entries]).encode()


# dlo: the X-Object-Manifest value, LF, then listing pages separated by form
# feeds.  Verdict: the value's word, then one per page: ok, bad or limit.
DLO = {
    "ok.ok-one-page": b"fractals_segments/big/\n" + listing(("big/1", H1, 10), ("big/2", H2, 0)),
    "ok.ok.ok-two-pages": b"segs/p\n" + listing(("p1", H1, 3)) + b"\f" + listing(("p2", H2, 4)),
    "ok.ok-empty-listing": b"segs/p\n[]",
    "ok-value-only": b"segs/prefix",
    "ok.ok-quoted-hash": b"segs/p\n" + listing(("p", '"%s"' % H1, 1)),
    "ok.ok-hash-param": b"segs/p\n" + listing(("p", H1 + "; s3_etag=abc", 1)),
    "ok.ok-pct-encoded": b"my%20segs/a%2Fb\n" + listing(("a/b1", H1, 5)),
    "ok.ok-bad-pct-kept": b"segs/%zz\n" + listing(("%zz", H1, 5)),
    "ok.ok-unicode": "s\u00e9gs/\u00e9\n".encode() + listing(("\u00e9\u00e9", H1, 5)),
    "bad.ok-no-slash": b"segsprefix\n" + listing(("a", H1, 1)),
    "bad.ok-empty-container": b"/prefix\n" + listing(("a", H1, 1)),
    "bad.ok-empty-prefix": b"segs/\n" + listing(("a", H1, 1)),
    "bad.ok-prefix-slash": b"segs//p\n" + listing(("a", H1, 1)),
    "bad.ok-query": b"segs/p?x=1\n" + listing(("a", H1, 1)),
    "bad.ok-pct-nul": b"segs/p%00\n" + listing(("a", H1, 1)),
    "bad.ok-pct-bad-utf8": b"segs/p%ff\n" + listing(("a", H1, 1)),
    "bad.ok-container-long": b"c" * 257 + b"/p\n" + listing(("a", H1, 1)),
    "ok.bad-not-json": b"segs/p\n[{",
    "ok.bad-not-list": b"segs/p\n{}",
    "ok.bad-out-of-order": b"segs/p\n" + listing(("b", H1, 1), ("a", H1, 1)),
    "ok.bad-duplicate": b"segs/p\n" + listing(("a", H1, 1), ("a", H1, 1)),
    "ok.ok.bad-pages-out-of-order": b"segs/p\n" + listing(("b", H1, 1)) + b"\f" + listing(("a", H1, 1)),
    "ok.bad-hash": b"segs/p\n" + listing(("a", "etag", 1)),
    "ok.bad-negative": b"segs/p\n" + listing(("a", H1, -1)),
    "ok.bad-total-overflow": b"segs/p\n" + listing(("a", H1, 2 ** 62), ("b", H1, 2 ** 62)),
    "ok.bad-missing-bytes": b'segs/p\n[{"name": "a", "hash": "%s"}]' % H1.encode(),
    "ok.limit-too-many": b"segs/p\n" + listing(*[("s%03d" % i, H1, 1) for i in range(65)]),
    "ok.ok.limit-too-many-later": b"segs/p\n" + listing(*[("s%03d" % i, H1, 1) for i in range(60)])
    + b"\f" + listing(*[("t%03d" % i, H1, 1) for i in range(5)]),
    "ok.limit-too-large": b"segs/p\n" + listing(*[("x" * 300 + "%02d" % i, H1, 1) for i in range(60)]),
}


def plan_bytes(kind, etag, segs):
    """The byte form of plan.c, version 1, without its MD5 (the target adds it)."""
    total = sum(s["range_len"] for s in segs)
    out = b"SGPLAN" + struct.pack(">BBIQ", 1, kind, len(segs), total) + etag.encode()
    for s in segs:
        c, o, d = s.get("c", "").encode(), s.get("o", "").encode(), s.get("data", b"")
        e = s.get("etag", H1).encode()
        flags = (1 if s.get("sub_slo") else 0) | (2 if d else 0)
        out += struct.pack(">BBHHQQQB", flags, s.get("depth", 1), len(c), len(o), s["size"],
                           s.get("range_start", 0), s["range_len"], len(e))
        out += e + struct.pack(">I", len(d)) + d + c + o
    return out


def whole(c, o, size, **kw):
    return dict(c=c, o=o, size=size, range_len=size, **kw)


# plan: a plan's byte form without its trailing MD5.  Verdict ok or bad.
PLAN = {
    "ok-slo-one": plan_bytes(1, H2, [whole("c", "o", 10)]),
    "ok-slo-mixed": plan_bytes(1, H2, [whole("", "", 3, data=b"abc", etag=hashlib.md5(b"abc").hexdigest()),
                                       dict(c="c_segments", o="a/b", size=100, range_start=10,
                                            range_len=20),
                                       whole("c", "sub", 1000, sub_slo=True, depth=2)]),
    "ok-slo-depth-ten": plan_bytes(1, H2, [whole("c", "o", 1, depth=10)]),
    "ok-slo-empty-etag": plan_bytes(1, H2, [whole("c", "o", 1, etag="")]),
    "ok-dlo-empty": plan_bytes(2, H2, []),
    "ok-dlo-two": plan_bytes(2, H2, [whole("c", "p1", 5), whole("c", "p2", 0)]),
    "bad-empty": b"",
    "bad-magic": b"SGPLAM" + plan_bytes(1, H2, [whole("c", "o", 10)])[6:],
    "bad-version": b"SGPLAN\x02" + plan_bytes(1, H2, [whole("c", "o", 10)])[7:],
    "bad-kind": plan_bytes(3, H2, [whole("c", "o", 10)]),
    "bad-slo-empty": plan_bytes(1, H2, []),
    "bad-total": plan_bytes(1, H2, [whole("c", "o", 10)])[:11] + struct.pack(">Q", 11)
    + plan_bytes(1, H2, [whole("c", "o", 10)])[19:],
    "bad-count-high": plan_bytes(1, H2, [whole("c", "o", 10)])[:8] + struct.pack(">I", 2)
    + plan_bytes(1, H2, [whole("c", "o", 10)])[12:],
    "bad-trailing": plan_bytes(1, H2, [whole("c", "o", 10)]) + b"\x00",
    "bad-cut": plan_bytes(1, H2, [whole("c", "o", 10)])[:-1],
    "bad-etag-not-hex": plan_bytes(1, "z" * 32, [whole("c", "o", 10)]),
    "bad-seg-etag-short": plan_bytes(1, H2, [whole("c", "o", 10, etag="abc")]),
    "bad-depth-zero": plan_bytes(1, H2, [whole("c", "o", 1, depth=0)]),
    "bad-depth-eleven": plan_bytes(1, H2, [whole("c", "o", 1, depth=11)]),
    "bad-range-past-size": plan_bytes(1, H2, [dict(c="c", o="o", size=10, range_start=5, range_len=6)]),
    "bad-container-slash": plan_bytes(1, H2, [whole("c/d", "o", 1)]),
    "bad-object-empty": plan_bytes(1, H2, [whole("c", "", 1)]),
    "bad-data-with-name": plan_bytes(1, H2, [whole("c", "o", 3, data=b"abc")]),
    "bad-data-size": plan_bytes(1, H2, [dict(c="", o="", size=4, range_len=3, data=b"abc")]),
    "bad-dlo-sub-slo": plan_bytes(2, H2, [whole("c", "o", 1, sub_slo=True)]),
    "bad-dlo-ranged": plan_bytes(2, H2, [dict(c="c", o="o", size=10, range_start=1, range_len=9)]),
    "bad-flags": plan_bytes(1, H2, [whole("c", "o", 1)])[:50] + b"\x04"
    + plan_bytes(1, H2, [whole("c", "o", 1)])[51:],
    "bad-size-too-big": plan_bytes(1, H2, [whole("c", "o", 2 ** 63)]),
}

MIN = ("[swift]\nauth_url = http://127.0.0.1:8080/auth/v1.0\n"
       "user = test:tester\nkey = testing\n")


def conf(text):
    return text.encode("utf-8")


# conf: an INI file.  Verdict ok, or bad.LINE (0: no line named).
CONF = {
    "ok-minimal": conf(MIN),
    "ok-comments": conf("; swiftgate\n# test\n\n" + MIN + "   ; indented comment\n"),
    "ok-server": conf("[server]\nlisten = 127.0.0.1:0\nworkers = 2\nadmin_listen =\n"
                      "admin_token = s3cr3t\naccess_log = off\nlog_level = debug\n"
                      "max_header_size = 32K\nheader_timeout = 250ms\n" + MIN),
    "ok-cache": conf(MIN + "[cache]\ndir = /tmp/c\nmax_size = 1G\nmax_object_size = 1048576\n"
                     "ttl = 1d\nnegative_ttl = 0s\nrange_fill = no\ncache_control =\n"),
    "ok-v3": conf("[swift]\nauth_version = 3\nauth_url = https://ks/v3\nuser = u\nkey = k\n"
                  "project = p\nregion = r1\ninterface = internal\n"),
    "ok-static": conf("[swift]\nauth_version = static\n"
                      "storage_url = http://127.0.0.1:8080/v1/AUTH_test\ntoken = t\n"),
    "ok-indented-keys": conf("[swift]\n  auth_url = http://a/auth/v1.0\n\tuser = u\n key = k\n"),
    "ok-segment-containers": conf(MIN + "container = f\nsegment_containers = a, b,c\n"
                                  "max_segments = 5\nmax_plan_size = 64K\n"),
    "ok-crlf": conf(MIN.replace("\n", "\r\n")),
    "ok-inline-comment": conf(MIN + "container = f ; the container\n"),
    "ok-colon": conf(MIN.replace("key = ", "key: ")),
    "bad.0-empty": b"",
    "bad.0-missing-key": conf("[swift]\nauth_url = http://a/auth/v1.0\nuser = u\n"),
    "bad.1-unknown-section": conf("[sever]\n" + MIN),
    "bad.2-unknown-key": conf("[server]\nlisen = 1:2\n" + MIN),
    "bad.1-key-before-section": conf("listen = 1:2\n" + MIN),
    "bad.6-duplicate-key": conf(MIN + "[swift]\nuser = v\n"),
    "bad.2-workers-word": conf("[server]\nworkers = many\n" + MIN),
    "bad.2-workers-zero": conf("[server]\nworkers = 0\n" + MIN),
    "bad.2-size-overflow": conf("[cache]\nmax_size = 99999999999999999999\n" + MIN),
    "bad.2-size-unit": conf("[cache]\nmax_size = 10X\n" + MIN),
    "bad.2-duration-negative": conf("[cache]\nttl = -1s\n" + MIN),
    "bad.2-bool": conf("[cache]\nrange_fill = maybe\n" + MIN),
    "bad.2-listen-port": conf("[server]\nlisten = 1.2.3.4:65536\n" + MIN),
    "bad.2-syntax": conf("[swift]\nthis is not a key\n"),
    "bad.2-long-line": conf("[swift]\nuser = " + "u" * 5000 + "\n"),
    "bad.3-admin-overlap": conf("[server]\nlisten = 0.0.0.0:9000\nadmin_listen = 127.0.0.1:9000\n" + MIN),
    "bad.2-url-over-header": conf("[server]\nmax_url_size = 64K\n" + MIN),
    "bad.2-auth-version": conf("[swift]\nauth_version = 2\nauth_url = http://a\n"),
    "bad.1-nul": b"[swift]\x00\n" + conf(MIN),
    "bad.1-unclosed-section": conf("[swift\n" + MIN),
    # Found by the fuzzer: "key =;x" read as ";x", printed "key = ;x", read back "".
    "bad.4-value-starts-with-semicolon": conf(MIN.replace("key = ", "key =;")),
    "ok-value-with-semicolon": conf(MIN.replace("key = testing", "key = test;ing")),
}


# proxy: the first byte picks the versions accepted (0 v1, 1 v2, 2 both),
# the rest is what a connection sent.  Verdict ACCEPTED.more, ACCEPTED.bad,
# or ACCEPTED.vN.addr / ACCEPTED.vN.local (tests/fuzz/fuzz_proxy.c).
V2SIG = b"\r\n\r\n\x00\r\nQUIT\n"
PP_V1, PP_V2, PP_BOTH = b"\x00", b"\x01", b"\x02"
PP_GET = b"GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n"
PP_TCP4 = bytes([192, 0, 2, 7, 198, 51, 100, 1]) + struct.pack("!HH", 51000, 8080)
PP_TCP6 = bytes(15) + b"\x01" + bytes(15) + b"\x01" + struct.pack("!HH", 443, 80)


def v2(ver_cmd, fam, block):
    return V2SIG + bytes([ver_cmd, fam]) + struct.pack("!H", len(block)) + block


PROXY = {
    "v1.v1.addr-v1-tcp4": PP_V1 + b"PROXY TCP4 192.0.2.7 198.51.100.1 51000 8080\r\n" + PP_GET,
    "both.v1.addr-v1-tcp6": PP_BOTH + b"PROXY TCP6 2001:db8::1 ::1 65535 0\r\n",
    "v1.v1.local-v1-unknown": PP_V1 + b"PROXY UNKNOWN\r\n" + PP_GET,
    "v1.v1.local-v1-unknown-107-bytes": PP_V1 + b"PROXY UNKNOWN " + b"f" * 91 + b"\r\n",
    "v1.bad-v1-108-bytes": PP_V1 + b"PROXY UNKNOWN " + b"f" * 92 + b"\r\n",
    "v1.more-v1-cut": PP_V1 + b"PROXY TCP4 192.0.2.7 198.51",
    "v1.bad-v1-port-range": PP_V1 + b"PROXY TCP4 192.0.2.7 198.51.100.1 65536 80\r\n",
    "v1.bad-v1-port-leading-zero": PP_V1 + b"PROXY TCP4 192.0.2.7 198.51.100.1 080 80\r\n",
    "v1.bad-v1-address": PP_V1 + b"PROXY TCP4 192.0.2.256 198.51.100.1 1 80\r\n",
    "v1.bad-v1-family-mismatch": PP_V1 + b"PROXY TCP6 192.0.2.7 ::1 1 80\r\n",
    "v1.bad-v1-field-missing": PP_V1 + b"PROXY TCP4 192.0.2.7 198.51.100.1 80\r\n",
    "v1.bad-v1-two-spaces": PP_V1 + b"PROXY TCP4 192.0.2.7  198.51.100.1 1 80\r\n",
    "v1.bad-v1-bare-lf": PP_V1 + b"PROXY TCP4 192.0.2.7 198.51.100.1 1 80\n",
    "v1.bad-plain-http": PP_V1 + PP_GET,
    "v1.bad-v2-header": PP_V1 + v2(0x21, 0x11, PP_TCP4),
    "v2.bad-v1-header": PP_V2 + b"PROXY UNKNOWN\r\n",
    "v2.v2.addr-v2-tcp4": PP_V2 + v2(0x21, 0x11, PP_TCP4) + PP_GET,
    "v2.v2.addr-v2-tcp6": PP_V2 + v2(0x21, 0x21, PP_TCP6),
    "v2.v2.local-v2-local": PP_V2 + v2(0x20, 0x00, b"") + PP_GET,
    "both.v2.local-v2-unix": PP_BOTH + v2(0x21, 0x31, bytes(216)),
    "both.v2.local-v2-udp": PP_BOTH + v2(0x21, 0x12, PP_TCP4),
    "v2.v2.addr-v2-tlvs": PP_V2 + v2(0x21, 0x11, PP_TCP4 + b"\x01\x00\x02h2" + b"\x04\x00\x00"
                                  + b"\x02\x00\x05a.b.c"),
    "v2.bad-v2-tlv-past-end": PP_V2 + v2(0x21, 0x11, PP_TCP4 + b"\x01\x00\x05ab"),
    "v2.more-v2-cut-signature": PP_V2 + V2SIG[:7],
    "v2.more-v2-cut-block": PP_V2 + v2(0x21, 0x11, PP_TCP4)[:20],
    "v2.bad-v2-version": PP_V2 + v2(0x11, 0x11, PP_TCP4),
    "v2.bad-v2-command": PP_V2 + v2(0x22, 0x11, PP_TCP4),
    "v2.bad-v2-family": PP_V2 + v2(0x21, 0x41, PP_TCP4),
    "v2.bad-v2-short-block": PP_V2 + v2(0x21, 0x21, PP_TCP4),
    "v2.bad-v2-over-max": PP_V2 + V2SIG + b"\x21\x11\xff\xff",
    "both.more-nothing": b"",
    "both.bad-tls-hello": PP_BOTH + b"\x16\x03\x01\x00\xa5\x01",
}
