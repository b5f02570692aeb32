"""Objects fetched through the gateway, and what their answers must be.

    resp = get(gw, name)                        # httputil.Response
    assert_object(resp, data, "MISS", gw)       # 200, X-Cache, ETag, bytes
    status, headers, body, error = fetch(gw, name)   # keeps a cut body

Shared by the end-to-end modules that check objects (the cache, the faults
of plain and large objects); failure messages carry describe(resp) and the
gateway's stderr lines that matter (gw_stderr).
"""

import http.client
import re

import fixtures
import httputil


def get(gw, name, method="GET", timeout=30.0):
    """GET (or HEAD...) /fractal/<name> through gw; an httputil.Response."""
    return httputil.request(method, gw.url + "/fractal/" + name,
                            timeout=timeout)


def fetch(gw, name, timeout=15.0, headers=None):
    """GET over http.client, keeping what arrives if the body is cut.
    Returns (status, headers, body, error): error is None for a body that
    ended where its framing said, else what happened."""
    sent = headers or {}
    host, port, _ = httputil.split_url(gw.url)
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    chunks = []
    error = None
    status = headers = None
    try:
        conn.request("GET", "/fractal/" + name, headers=sent)
        resp = conn.getresponse()
        status, headers = resp.status, httputil.Headers(resp.getheaders())
        for _ in range(100000):
            chunk = resp.read(65536)
            if not chunk:
                break
            chunks.append(chunk)
    except http.client.IncompleteRead as e:
        chunks.append(e.partial)
        error = "IncompleteRead"
    except (OSError, http.client.HTTPException) as e:
        error = "%s: %s" % (type(e).__name__, e)
    finally:
        conn.close()
    body = b"".join(chunks)
    # read(n) returns b"" at an early EOF rather than raising.
    length = headers.get("Content-Length") if headers is not None else None
    if error is None and length is not None and len(body) != int(length):
        error = "closed after %d of %s bytes" % (len(body), length)
    return status, headers, body, error


def describe(resp):
    """A response in one line, for failure messages."""
    h = resp.headers
    return ("%d %s X-Cache=%s Age=%s ETag=%s Content-Length=%s body=%d bytes "
            "md5=%s" % (resp.status, resp.reason, h.get("X-Cache"),
                        h.get("Age"), h.get("ETag"), h.get("Content-Length"),
                        len(resp.body), fixtures.md5_hex(resp.body)))


def gw_stderr(gw, pattern=r"error|warn|fail|cache|fill|evict|sweep",
              lines=25):
    """The gateway's stderr lines matching pattern (for failure messages)."""
    text = gw.stderr_text().splitlines()
    hits = [ln for ln in text if re.search(pattern, ln, re.I)]
    return "\n    gateway stderr:\n    " + "\n    ".join(
        (hits or text)[-lines:])


def assert_object(resp, data, want_cache, gw=None, method="GET",
                  content_type=None):
    """resp is a 200 for data, X-Cache want_cache (a word or a tuple),
    with Age on answers from the cache."""
    where = gw_stderr(gw) if gw is not None else ""
    want = (want_cache,) if isinstance(want_cache, str) else want_cache
    assert resp.status == 200, "want 200, got %s%s" % (describe(resp), where)
    h = resp.headers
    assert h.get("X-Cache") in want, "want X-Cache %s, got %s%s" % (
        "|".join(want), describe(resp), where)
    assert h.get("Content-Length") == str(len(data)), (
        "Content-Length: want %d, got %s" % (len(data), describe(resp)))
    assert h.get("ETag") == '"%s"' % fixtures.md5_hex(data), (
        "ETag: want \"%s\", got %s" % (fixtures.md5_hex(data),
                                       describe(resp)))
    if content_type is not None:
        assert h.get("Content-Type") == content_type, h
    if method == "GET":
        assert resp.body == data, "body differs: want %d bytes md5 %s, got " \
            "%s%s" % (len(data), fixtures.md5_hex(data), describe(resp),
                      where)
    else:
        assert resp.body == b"", "HEAD with a body: %s" % describe(resp)
    if h.get("X-Cache") in ("HIT", "REVALIDATED", "STALE"):
        age = h.get("Age")
        assert age is not None and re.fullmatch(r"\d+", age), (
            "an answer from the cache needs Age: %s" % describe(resp))
