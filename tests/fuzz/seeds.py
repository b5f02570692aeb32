#!/usr/bin/python3
"""Write the seed corpus of the HTTP fuzz target into tests/fuzz/corpus/.

    /usr/bin/python3 tests/fuzz/seeds.py

One file per shape: good requests (GET/HEAD of a fractal, /healthz,
/metrics, purge, HTTP/1.0, pipelining, bodies), request smuggling shapes
(Content-Length with Transfer-Encoding, two Content-Lengths, obs-fold,
bare LF and CR), path tricks, and each limit.  The files are committed;
this script says where they came from and rewrites them identically.
"""

import os

HERE = os.path.dirname(os.path.abspath(__file__))
U = "3f2b7c1e-9a4d-4c55-8e21-0b6a7d9c4f10"


def req(line, *fields, body=b"", host=True):
    head = [line] + (["Host: gw"] if host else []) + list(fields)
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


SEEDS = {
    "get-fractal": req("GET /fractal/%s HTTP/1.1" % U),
    "get-fractal-upper-query": req("GET /fractal/%s?v=2 HTTP/1.1" % U.upper(),
                                   "Accept: image/*", "User-Agent: seed"),
    "head-fractal": req("HEAD /fractal/%s HTTP/1.1" % U),
    "get-healthz": req("GET /healthz HTTP/1.1", "Connection: close"),
    "head-healthz": req("HEAD /healthz HTTP/1.1"),
    "get-metrics-bearer": req("GET /metrics HTTP/1.1",
                              "Authorization: Bearer s3cr3t"),
    "delete-purge": req("DELETE /cache/fractal/%s HTTP/1.1" % U,
                        "Authorization: Bearer s3cr3t"),
    "http10": req("GET /fractal/%s HTTP/1.0" % U, host=False),
    "http10-keepalive": req("GET /healthz HTTP/1.0", "Connection: keep-alive",
                            host=False),
    "pipelined": req("GET /fractal/%s HTTP/1.1" % U) + req("HEAD /healthz HTTP/1.1")
    + b"\r\n" + req("GET /nothing HTTP/1.1"),
    "pipelined-body": req("GET /healthz HTTP/1.1", "Content-Length: 5",
                          body=b"hello") + req("GET /fractal/%s HTTP/1.1" % U),
    "post-405": req("POST /fractal/%s HTTP/1.1" % U, "Content-Length: 3",
                    body=b"a=1"),
    "options-star": req("OPTIONS * HTTP/1.1"),
    "absolute-form": req("GET http://gw/fractal/%s HTTP/1.1" % U),
    "expect-100": req("GET /healthz HTTP/1.1", "Expect: 100-continue",
                      "Content-Length: 4", body=b"abcd"),
    "upgrade-h2c": req("GET /healthz HTTP/1.1", "Connection: Upgrade, HTTP2-Settings",
                       "Upgrade: h2c", "HTTP2-Settings: AAMAAABkAAQAAP__"),
    "leading-crlf": b"\r\n\r\n" + req("GET /healthz HTTP/1.1"),
    "smuggle-cl-te": req("GET /healthz HTTP/1.1", "Content-Length: 44",
                         "Transfer-Encoding: chunked",
                         body=b"0\r\n\r\n" + req("GET /fractal/%s HTTP/1.1" % U)),
    "smuggle-te-cl": req("GET /healthz HTTP/1.1", "Transfer-Encoding: chunked",
                         "Content-Length: 4", body=b"5c\r\n" + req("GET /x HTTP/1.1")
                         + b"\r\n0\r\n\r\n"),
    "smuggle-cl-cl": req("GET /healthz HTTP/1.1", "Content-Length: 0",
                         "Content-Length: 40", body=req("GET /fractal/%s HTTP/1.1" % U)),
    "smuggle-cl-list": req("GET /healthz HTTP/1.1", "Content-Length: 3, 3",
                           body=b"abc"),
    "smuggle-cl-sign": req("GET /healthz HTTP/1.1", "Content-Length: +3",
                           body=b"abc"),
    "smuggle-te-space": req("GET /healthz HTTP/1.1", "Transfer-Encoding : chunked",
                            body=b"0\r\n\r\n"),
    "smuggle-te-list": req("GET /healthz HTTP/1.1", "Transfer-Encoding: chunked, x",
                           body=b"0\r\n\r\n"),
    "smuggle-te-chunked": req("GET /healthz HTTP/1.1", "Transfer-Encoding: chunked",
                              body=b"3;ext=1\r\nabc\r\n0\r\nTrailer: x\r\n\r\n"),
    "smuggle-obs-fold": req("GET /healthz HTTP/1.1", "X-A: b", " Content-Length: 40"),
    "smuggle-obs-fold-tab": req("GET /healthz HTTP/1.1", "X-A: b", "\tc"),
    "smuggle-bare-lf-end": b"GET /healthz HTTP/1.1\r\nHost: gw\r\n\n",
    "smuggle-bare-lf": b"GET /healthz HTTP/1.1\nHost: gw\nContent-Length: 3\n\nabc",
    "smuggle-bare-cr": b"GET /healthz HTTP/1.1\r\nHost: gw\rX: y\r\n\r\n",
    "smuggle-space-in-name": req("GET /healthz HTTP/1.1", "Content Length: 3",
                                 body=b"abc"),
    "path-dotdot-pct": req("GET /fractal/..%%2f%s HTTP/1.1" % U),
    "path-dot-segments": req("GET /fractal/./../fractal/%s HTTP/1.1" % U),
    "path-nul-pct": req("GET /fractal/%s%%00 HTTP/1.1" % U),
    "path-nul-raw": b"GET /fractal/" + U.encode() + b"\x00 HTTP/1.1\r\nHost: gw\r\n\r\n",
    "path-crlf-pct": req("GET /fractal/%s%%0d%%0aX:%%201 HTTP/1.1" % U),
    "path-crlf-raw": b"GET /fractal/" + U.encode() + b"\r\nX: 1 HTTP/1.1\r\nHost: gw\r\n\r\n",
    "path-pct-dash": req("GET /fractal/%s HTTP/1.1" % U.replace("-", "%2D")),
    "path-double-slash": req("GET //fractal//%s HTTP/1.1" % U),
    "url-tab": b"GET /fractal/a\tb HTTP/1.1\r\nHost: gw\r\n\r\n",
    "url-8bit": b"GET /fractal/\xc3\xa9 HTTP/1.1\r\nHost: gw\r\n\r\n",
    "two-spaces": req("GET  /healthz HTTP/1.1"),
    "long-url": req("GET /healthz?%s HTTP/1.1" % ("a" * 600)),
    "many-headers": req("GET /healthz HTTP/1.1", *["X-%d: v" % i for i in range(20)]),
    "big-header": req("GET /healthz HTTP/1.1", "X-Big: " + "b" * 3000),
    "body-too-big": req("GET /healthz HTTP/1.1", "Content-Length: 1000"),
    "no-host": req("GET /healthz HTTP/1.1", host=False),
    "two-hosts": req("GET /healthz HTTP/1.1", "Host: other"),
    "connect": req("CONNECT gw:443 HTTP/1.1"),
    "pri-h2": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "http09": b"GET /healthz\r\n\r\n",
    "http2-version": req("GET /healthz HTTP/2.0"),
    "lowercase-method": req("get /healthz HTTP/1.1"),
    "tls-hello": b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(range(32)),
}


def main():
    out = os.path.join(HERE, "corpus")
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print("%d seeds in %s" % (len(SEEDS), out))


if __name__ == "__main__":
    main()
