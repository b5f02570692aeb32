#!/usr/bin/python3
"""Write the seed corpus of every fuzz target into tests/fuzz/<target>/.

    /usr/bin/python3 tests/fuzz/seeds.py

The targets are those of tests/fuzz/fuzz.h: http (the request path), cond
(preconditions and ranges), slo (SLO manifests), dlo (X-Object-Manifest and
listing pages), plan (the plan's byte form), conf (the INI file) and proxy
(a connection's PROXY protocol header).  Each
target's seeds are in one dict below, which says what the input is.

HTTP: one file per shape: good requests (GET/HEAD of a fractal, /healthz,
/metrics, purge, HTTP/1.0, pipelining, bodies), request smuggling shapes
(Content-Length with Transfer-Encoding, two Content-Lengths, obs-fold,
bare LF and CR), path tricks, and each limit.  The files are committed;
this script says where they came from and rewrites them identically.

Each file is named VERDICT-shape: VERDICT is what the gateway must make of
the bytes, in the words of the target's file (for http, tests/fuzz/fuzz_http.h:
one word per request, PUBLIC+ADMIN, the answer on the public and on the admin
listener; xSTATUS for a stream rejected with STATUS and closed; `more` for one
left waiting), and the corpus replay (tests/unit/test_fuzz.c) fails when the
target's verdict differs.  To change a verdict on purpose, change it here and run
this script: it removes the file of the old verdict.
"""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seeds_parsers import COND, SLO, DLO, PLAN, CONF, PROXY

HERE = os.path.dirname(os.path.abspath(__file__))
U = "3f2b7c1e-9a4d-4c55-8e21-0b6a7d9c4f10"


def req(line, *fields, body=b"", host=True):
    head = [line] + (["Host: gw"] if host else []) + list(fields)
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


SEEDS = {
    "fractal+401-get-fractal": req("GET /fractal/%s HTTP/1.1" % U),
    "fractal+401-get-fractal-upper-query":
        req("GET /fractal/%s?v=2 HTTP/1.1" % U.upper(),
            "Accept: image/*", "User-Agent: seed"),
    "fractal+401-head-fractal": req("HEAD /fractal/%s HTTP/1.1" % U),
    "200+401-get-healthz": req("GET /healthz HTTP/1.1", "Connection: close"),
    "200+401-head-healthz": req("HEAD /healthz HTTP/1.1"),
    "404+metrics-get-metrics-bearer":
        req("GET /metrics HTTP/1.1",
            "Authorization: Bearer s3cr3t"),
    "404+purge-delete-purge":
        req("DELETE /cache/fractal/%s HTTP/1.1" % U,
            "Authorization: Bearer s3cr3t"),
    "405+purge-purge-method":
        req("PURGE /fractal/%s HTTP/1.1" % U,
            "Authorization: Bearer s3cr3t"),
    "404+softpurge-delete-soft":
        req("DELETE /cache/fractal/%s HTTP/1.1" % U,
            "Authorization: Bearer s3cr3t", "X-Purge-Soft: 1"),
    "405+400-purge-soft-bad-value":
        req("PURGE /fractal/%s HTTP/1.1" % U,
            "Authorization: Bearer s3cr3t", "X-Purge-Soft: yes"),
    "404+inspect-get-cache-entry":
        req("GET /cache/fractal/%s HTTP/1.1" % U,
            "Authorization: Bearer s3cr3t"),
    "404+inspect-head-cache-entry":
        req("HEAD /cache/fractal/%s?x=1 HTTP/1.1" % U,
            "Authorization: Bearer s3cr3t"),
    "404+405-post-cache-entry":
        req("POST /cache/fractal/%s HTTP/1.1" % U,
            "Authorization: Bearer s3cr3t", "Content-Length: 0"),
    "404+404-get-cache-not-uuid":
        req("GET /cache/fractal/%s/x HTTP/1.1" % U,
            "Authorization: Bearer s3cr3t"),
    "fractal+401-http10": req("GET /fractal/%s HTTP/1.0" % U, host=False),
    "200+401-http10-keepalive":
        req("GET /healthz HTTP/1.0", "Connection: keep-alive",
            host=False),
    "fractal+401.200+401.404+401-pipelined":
        req("GET /fractal/%s HTTP/1.1" % U) + req("HEAD /healthz HTTP/1.1")
        + b"\r\n" + req("GET /nothing HTTP/1.1"),
    "200+401.fractal+401-pipelined-body":
        req("GET /healthz HTTP/1.1", "Content-Length: 5",
            body=b"hello") + req("GET /fractal/%s HTTP/1.1" % U),
    "405+401-post-405":
        req("POST /fractal/%s HTTP/1.1" % U, "Content-Length: 3",
            body=b"a=1"),
    "404+401-options-star": req("OPTIONS * HTTP/1.1"),
    "404+401-absolute-form": req("GET http://gw/fractal/%s HTTP/1.1" % U),
    "200+401-expect-100":
        req("GET /healthz HTTP/1.1", "Expect: 100-continue",
            "Content-Length: 4", body=b"abcd"),
    "200+401-upgrade-h2c":
        req("GET /healthz HTTP/1.1", "Connection: Upgrade, HTTP2-Settings",
            "Upgrade: h2c", "HTTP2-Settings: AAMAAABkAAQAAP__"),
    "200+401-leading-crlf": b"\r\n\r\n" + req("GET /healthz HTTP/1.1"),
    "x400-smuggle-cl-te":
        req("GET /healthz HTTP/1.1", "Content-Length: 44",
            "Transfer-Encoding: chunked",
            body=b"0\r\n\r\n" + req("GET /fractal/%s HTTP/1.1" % U)),
    "x400-smuggle-te-cl":
        req("GET /healthz HTTP/1.1", "Transfer-Encoding: chunked",
            "Content-Length: 4", body=b"5c\r\n" + req("GET /x HTTP/1.1")
            + b"\r\n0\r\n\r\n"),
    "x400-smuggle-cl-cl":
        req("GET /healthz HTTP/1.1", "Content-Length: 0",
            "Content-Length: 40", body=req("GET /fractal/%s HTTP/1.1" % U)),
    "x400-smuggle-cl-list":
        req("GET /healthz HTTP/1.1", "Content-Length: 3, 3",
            body=b"abc"),
    "x400-smuggle-cl-sign":
        req("GET /healthz HTTP/1.1", "Content-Length: +3",
            body=b"abc"),
    "x400-smuggle-te-space":
        req("GET /healthz HTTP/1.1", "Transfer-Encoding : chunked",
            body=b"0\r\n\r\n"),
    "x400-smuggle-te-list":
        req("GET /healthz HTTP/1.1", "Transfer-Encoding: chunked, x",
            body=b"0\r\n\r\n"),
    "x411-smuggle-te-chunked":
        req("GET /healthz HTTP/1.1", "Transfer-Encoding: chunked",
            body=b"3;ext=1\r\nabc\r\n0\r\nTrailer: x\r\n\r\n"),
    "x400-smuggle-obs-fold": req("GET /healthz HTTP/1.1", "X-A: b", " Content-Length: 40"),
    "x400-smuggle-obs-fold-tab": req("GET /healthz HTTP/1.1", "X-A: b", "\tc"),
    "x400-smuggle-bare-lf-end": b"GET /healthz HTTP/1.1\r\nHost: gw\r\n\n",
    "x400-smuggle-bare-lf": b"GET /healthz HTTP/1.1\nHost: gw\nContent-Length: 3\n\nabc",
    "x400-smuggle-bare-cr": b"GET /healthz HTTP/1.1\r\nHost: gw\rX: y\r\n\r\n",
    "x400-smuggle-space-in-name":
        req("GET /healthz HTTP/1.1", "Content Length: 3",
            body=b"abc"),
    "404+401-path-dotdot-pct": req("GET /fractal/..%%2f%s HTTP/1.1" % U),
    "404+401-path-dot-segments": req("GET /fractal/./../fractal/%s HTTP/1.1" % U),
    "404+401-path-nul-pct": req("GET /fractal/%s%%00 HTTP/1.1" % U),
    "x400-path-nul-raw": b"GET /fractal/" + U.encode() + b"\x00 HTTP/1.1\r\nHost: gw\r\n\r\n",
    "404+401-path-crlf-pct": req("GET /fractal/%s%%0d%%0aX:%%201 HTTP/1.1" % U),
    "x505-path-crlf-raw": b"GET /fractal/" + U.encode() + b"\r\nX: 1 HTTP/1.1\r\nHost: gw\r\n\r\n",
    "404+401-path-pct-dash": req("GET /fractal/%s HTTP/1.1" % U.replace("-", "%2D")),
    "404+401-path-double-slash": req("GET //fractal//%s HTTP/1.1" % U),
    "x400-url-tab": b"GET /fractal/a\tb HTTP/1.1\r\nHost: gw\r\n\r\n",
    "x400-url-8bit": b"GET /fractal/\xc3\xa9 HTTP/1.1\r\nHost: gw\r\n\r\n",
    "x400-two-spaces": req("GET  /healthz HTTP/1.1"),
    "x414-long-url": req("GET /healthz?%s HTTP/1.1" % ("a" * 600)),
    "x431-many-headers": req("GET /healthz HTTP/1.1", *["X-%d: v" % i for i in range(20)]),
    "x431-big-header": req("GET /healthz HTTP/1.1", "X-Big: " + "b" * 3000),
    "x413-body-too-big": req("GET /healthz HTTP/1.1", "Content-Length: 1000"),
    "x400-no-host": req("GET /healthz HTTP/1.1", host=False),
    "x400-two-hosts": req("GET /healthz HTTP/1.1", "Host: other"),
    "x405-connect": req("CONNECT gw:443 HTTP/1.1"),
    "x400-pri-h2": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "x505-http09": b"GET /healthz\r\n\r\n",
    "x505-http2-version": req("GET /healthz HTTP/2.0"),
    "x400-lowercase-method": req("get /healthz HTTP/1.1"),
    "x400-tls-hello": b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(range(32)),
}


_ROUTE = r"(?:fractal|purge|softpurge|inspect|metrics|\d{3})"
_REQUEST = _ROUTE + r"\+" + _ROUTE
VERDICTS = {
    "http": re.compile(r"(?:%s\.)*(?:%s|x\d{3}|more|none)$" % (_REQUEST, _REQUEST)),
    "cond": re.compile(r"(?:pass|304|412)\.(?:full|416|r\d+)$"),
    "slo": re.compile(r"(?:ok|bad)$"),
    "dlo": re.compile(r"(?:ok|bad)(?:\.(?:ok|bad|limit))*$"),
    "plan": re.compile(r"(?:ok|bad)$"),
    "conf": re.compile(r"(?:ok|bad\.\d+)$"),
    "proxy": re.compile(r"(?:v1|v2|both)\.(?:more|bad|v[12]\.(?:addr|local))$"),
}
TARGETS = {"http": SEEDS, "cond": COND, "slo": SLO, "dlo": DLO, "plan": PLAN, "conf": CONF,
           "proxy": PROXY}


def shape_of(name):
    """The part of a corpus file's name after its verdict."""
    return name.split("-", 1)[1] if "-" in name else None


def write(target, seeds):
    out = os.path.join(HERE, target)
    os.makedirs(out, exist_ok=True)
    shapes = {}
    for name in seeds:
        verdict, _, shape = name.partition("-")
        assert VERDICTS[target].match(verdict) and shape, "bad seed name %r" % name
        assert shape not in shapes, "two seeds of shape %r" % shape
        shapes[shape] = name
    for name in sorted(os.listdir(out)):
        if name in seeds:
            continue
        if shape_of(name) in shapes:    # a seed under its old verdict
            os.unlink(os.path.join(out, name))
            print("removed %s/%s (now %s)" % (target, name, shapes[shape_of(name)]))
        else:
            print("not a seed of this script: %s/%s" % (target, name))
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print("%d seeds in %s" % (len(seeds), out))


def main():
    for target, seeds in TARGETS.items():
        write(target, seeds)


if __name__ == "__main__":
    main()
