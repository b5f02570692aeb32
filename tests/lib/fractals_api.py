"""A stand-in for the Fractals API's listing, as Flask-Restless serves it.

    with FractalsApi(uuids) as api:
        # GET api.url + "/v1/fractal?page=2&results_per_page=100"
        ...
        api.requests        # [(path, {query: value})] in arrival order

GET /v1/fractal is served the way faafo's API (Flask-Restless 0.x)
answers it:

    {"num_results": N, "objects": [{"uuid": ..., "name": ..., ...}],
     "page": P, "total_pages": M}

`results_per_page` defaults to 10 and is capped at 100 (max_results_per_page);
-1, 0 or junk mean the default.  `page` defaults to 1; a page past the last
has no objects.

With `images` ({uuid: bytes}), GET /fractal/<uuid> answers the image as
faafo does (200, image/png, no ETag), and its listed object carries
`checksum` (the SHA-256 of the bytes, as faafo's worker computes it) and
`size`.  What the real API does only when it is broken, for tests:
`bad_pages` ({page: "500" or "junk"}) answers that listing page with a 500
or with bytes that are not JSON; `failing` ({uuid: n}) answers that image
500 n times (-1: always); `corrupt` (a set of uuids) serves other bytes
than the checksum says; `delay` (seconds) holds each image answer;
`before_image`, if set, is called with the number of each image GET
(from 1) before it is answered.
`image_requests` counts the image GETs by uuid, `max_inflight` is the
most image GETs seen at once, and `tokens_seen` counts the requests that
carried X-Auth-Token or Authorization (a token meant for someone else).  Anything else is a 404 with a JSON message.
A threaded http.server on 127.0.0.1, port 0 (free), stopped by stop() or
the `with`.
"""

import hashlib
import http.server
import json
import time
import threading
import urllib.parse

DEFAULT_PER_PAGE = 10
MAX_PER_PAGE = 100


def _int(value, default):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def fractal_object(uuid, i):
    """One fractal as faafo's API lists it (only `uuid` matters to warm)."""
    return {"uuid": uuid, "url": "http://example.invalid/fractal/%s" % uuid,
            "width": 640, "height": 480, "iterations": 100 + i % 50,
            "xa": -2.0, "xb": 1.0, "ya": -1.5, "yb": 1.5,
            "duration": 1.5, "size": 0, "generated_on": None,
            "generated_by": "worker-%d" % (i % 3)}


class FractalsApi:
    """See the module docstring.  `uuids` is listed in order."""

    def __init__(self, uuids, default_per_page=DEFAULT_PER_PAGE,
                 max_per_page=MAX_PER_PAGE, images=None):
        self.objects = [fractal_object(u, i) for i, u in enumerate(uuids)]
        self.images = dict(images or {})
        for obj in self.objects:
            data = self.images.get(obj["uuid"])
            if data is not None:
                obj["checksum"] = hashlib.sha256(data).hexdigest()
                obj["size"] = len(data)
        self.bad_pages = {}
        self.failing = {}
        self.corrupt = set()
        self.delay = 0.0
        self.image_requests = {}
        self.inflight = 0
        self.max_inflight = 0
        self.tokens_seen = 0
        self.before_image = None
        self.default_per_page = default_per_page
        self.max_per_page = max_per_page
        self.requests = []
        self._lock = threading.Lock()
        self._server = None
        self._thread = None
        self.url = None

    def page(self, query):
        """(status, body dict) for the query of GET /v1/fractal."""
        per_page = _int(query.get("results_per_page"), self.default_per_page)
        if per_page <= 0:
            per_page = self.default_per_page
        per_page = min(per_page, self.max_per_page)
        page = _int(query.get("page"), 1)
        if page < 1:
            return 400, {"message": "page must be positive"}
        total = len(self.objects)
        total_pages = (total + per_page - 1) // per_page
        first = (page - 1) * per_page
        return 200, {"num_results": total,
                     "objects": self.objects[first:first + per_page],
                     "page": page, "total_pages": total_pages}

    def image(self, uuid):
        """(status, content type, body) for GET /fractal/<uuid>."""
        with self._lock:
            self.image_requests[uuid] = self.image_requests.get(uuid, 0) + 1
            left = self.failing.get(uuid, 0)
            if left > 0:
                self.failing[uuid] = left - 1
            self.inflight += 1
            self.max_inflight = max(self.max_inflight, self.inflight)
            number = sum(self.image_requests.values())
        try:
            if self.before_image is not None:
                self.before_image(number)
            if self.delay:
                time.sleep(self.delay)
        finally:
            with self._lock:
                self.inflight -= 1
        if left != 0:
            return 500, "text/html", b"<h1>Internal Server Error</h1>"
        data = self.images.get(uuid)
        if data is None:
            return 404, "application/json", json.dumps(
                {"code": 404, "message": "Fracal not found"}).encode()
        if uuid in self.corrupt:
            data = b"\0" + data[1:]
        return 200, "image/png", data

    def listing(self, query):
        """(status, content type, body) for GET /v1/fractal."""
        bad = self.bad_pages.get(_int(query.get("page"), 1))
        if bad == "500":
            return 500, "text/html", b"<h1>Internal Server Error</h1>"
        if bad == "junk":
            return 200, "application/json", b"<html>not a listing</html>"
        status, body = self.page(query)
        return status, "application/json", json.dumps(body).encode()

    def _handler(self):
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                parts = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(parts.query))
                with api._lock:
                    api.requests.append((parts.path, query))
                    if self.headers.get("X-Auth-Token") or \
                            self.headers.get("Authorization"):
                        api.tokens_seen += 1
                if parts.path.rstrip("/") == "/v1/fractal":
                    status, ctype, data = api.listing(query)
                elif parts.path.startswith("/fractal/"):
                    status, ctype, data = api.image(parts.path[9:])
                else:
                    status, ctype, data = 404, "application/json", \
                        json.dumps({"message": "no such resource"}).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass    # a client stopped (SIGINT) mid-answer

        return Handler

    def start(self):
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                       self._handler())
        self._server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="fractals-api", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=10)
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
