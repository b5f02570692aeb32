"""A small Keystone-shaped identity endpoint for the auth tests.

    with Keystone(saio, token_life=3) as ks:
        ks.auth_url          # http://127.0.0.1:PORT/v3
        ks.count             # POST /v3/auth/tokens answered with 201
        ks.down = True       # from now on answer 503 (ks.refused counts them)

POST /v3/auth/tokens with a password identity and a project scope answers
201, X-Subject-Token and a token body whose catalog lists object-store
endpoints for two interfaces (public, internal) in two regions (r1, r2).
Only internal/r2 points at the real Swift; the others point at a closed
port, so a gateway that picks the wrong endpoint fails.  The subject token
is a real TempAuth token of the test Swift, so Swift accepts it; the
expires_at this endpoint announces is its own (token_life seconds from the
answer), which is what the gateway must follow.
"""

import datetime
import http.server
import json
import threading

import httputil

USER, PASSWORD, PROJECT = "demo", "secret", "fractals"


class Keystone:
    def __init__(self, saio, token_life=3600):
        self.saio = saio
        self.token_life = token_life
        self.count = 0
        self.bad = 0
        self.down = False       # answer 503, as an identity service that is down
        self.refused = 0        # answers given while down
        self.lock = threading.Lock()
        dead = "http://127.0.0.1:%d/v1/AUTH_test" % httputil.free_port()
        storage_url, _ = saio.auth()
        self.catalog = [
            {"type": "identity", "name": "keystone", "endpoints": [
                {"interface": "public", "region": "r1", "url": "http://127.0.0.1:1/v3"}]},
            {"type": "object-store", "name": "swift", "endpoints": [
                {"interface": "public", "region": "r1", "region_id": "r1", "url": dead},
                {"interface": "internal", "region": "r1", "region_id": "r1", "url": dead},
                {"interface": "public", "region": "r2", "region_id": "r2", "url": dead},
                {"interface": "internal", "region": "r2", "region_id": "r2",
                 "url": storage_url},
            ]},
        ]
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.path.rstrip("/") != "/v3/auth/tokens":
                    return self._send(404, {"error": "not found"})
                if owner.down:
                    with owner.lock:
                        owner.refused += 1
                    return self._send(503, {"error": {"code": 503}})
                try:
                    auth = json.loads(body)["auth"]
                    user = auth["identity"]["password"]["user"]
                    ok = (auth["identity"]["methods"] == ["password"]
                          and user["name"] == USER and user["password"] == PASSWORD
                          and user["domain"]["name"] == "Default"
                          and auth["scope"]["project"]["name"] == PROJECT)
                except (ValueError, KeyError, TypeError):
                    ok = False
                if not ok:
                    with owner.lock:
                        owner.bad += 1
                    return self._send(401, {"error": {"code": 401}})
                _, token = owner.saio.auth()
                expires = (datetime.datetime.now(datetime.timezone.utc)
                           + datetime.timedelta(seconds=owner.token_life))
                with owner.lock:
                    owner.count += 1
                self._send(201, {"token": {
                    "methods": ["password"],
                    "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                    "project": {"name": PROJECT, "domain": {"name": "Default"}},
                    "catalog": owner.catalog}}, token)

            def _send(self, status, obj, token=None):
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if token:
                    self.send_header("X-Subject-Token", token)
                self.end_headers()
                self.wfile.write(data)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.auth_url = "http://127.0.0.1:%d/v3" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
