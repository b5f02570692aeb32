/*
 * route.c - which handler answers a request.
 *
 * Public listener: GET|HEAD /fractal/<uuid> and GET|HEAD /healthz.  The
 * object name is taken only from a path that is exactly "/fractal/" and a
 * uuid (8-4-4-4-12 hex digits, either case), so no percent-encoding,
 * dot-segment or control byte can ever turn into another object name at
 * Swift: whatever does not match is answered here and never leaves the
 * gateway.  A query string is ignored (browsers add one to bust caches).
 */
#include <string.h>
#include <strings.h>

#include "conf.h"
#include "http.h"
#include "req.h"
#include "server.h"
#include "stats.h"
#include "swift.h"
#include "util.h"

void gw_respond_simple(struct gw_conn *c, int status, const char *reason, const char *extra)
{
    struct gw_buf b = {0};
    int head_only = c->hreq.method == HTTP_HEAD;
    c->resp_bytes =
        gw_http_simple(&b, status, reason, extra, c->keepalive, c->hreq.http_minor, head_only);
    c->resp_status = status;
    gw_conn_write_buf(c, &b);
    gw_conn_end_response(c);
}

static int is_hex(char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

/* 1 if s[0..len) is a uuid: 8-4-4-4-12 hex digits. */
static int is_uuid(const char *s, size_t len)
{
    if (len != 36) return 0;
    for (size_t i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-') return 0;
        } else if (!is_hex(s[i])) {
            return 0;
        }
    }
    return 1;
}


static int path_is(const char *path, size_t len, const char *want)
{
    size_t n = strlen(want);
    return len == n && memcmp(path, want, n) == 0;
}

/* Compare in time independent of where the first difference is. */
static int token_equal(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    unsigned char diff = alen != blen;
    for (size_t i = 0; i < alen; i++) diff |= (unsigned char)(a[i] ^ b[i < blen ? i : 0]);
    return diff == 0;
}

/*
 * The admin listener: /metrics and /healthz.  With admin_token set, every
 * request needs "Authorization: Bearer <token>".
 */
static void route_admin(struct gw_conn *c, const char *path, size_t plen)
{
    const struct gw_conf *conf = c->w->srv->conf;
    struct gw_http_req *r = &c->hreq;
    if (conf->admin_token[0]) {
        size_t alen;
        const char *auth = gw_http_header(r, "Authorization", &alen);
        if (auth == NULL || alen < 7 || strncasecmp(auth, "Bearer ", 7) != 0 ||
            !token_equal(auth + 7, alen - 7, conf->admin_token)) {
            gw_respond_simple(c, 401, "admin token required", "WWW-Authenticate: Bearer\r\n");
            return;
        }
    }
    int get_or_head = r->method == HTTP_GET || r->method == HTTP_HEAD;
    if (path_is(path, plen, "/metrics")) {
        if (!get_or_head) {
            gw_respond_simple(c, 405, "method not allowed", "Allow: GET, HEAD\r\n");
            return;
        }
        struct gw_buf body = {0}, head = {0};
        gw_stats_render(&body, gw_swift_auth_count(c->w->srv->swift));
        gw_http_head_begin(&head, 200);
        gw_buf_printf(&head, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                             "Content-Length: %zu\r\nCache-Control: no-store\r\n", body.len);
        gw_http_head_end(&head, c->keepalive, r->http_minor);
        c->resp_status = 200;
        c->resp_bytes = r->method == HTTP_GET ? body.len : 0;
        gw_conn_write_buf(c, &head);
        if (r->method == HTTP_GET)
            gw_conn_write_buf(c, &body);
        else
            gw_buf_free(&body);
        gw_conn_end_response(c);
        return;
    }
    if (path_is(path, plen, "/healthz")) {
        gw_respond_simple(c, c->w->srv->draining ? 503 : 200,
                          c->w->srv->draining ? "draining" : "ok", NULL);
        return;
    }
    gw_respond_simple(c, 404, "not found", NULL);
}

void gw_route(struct gw_conn *c)
{
    struct gw_http_req *r = &c->hreq;
    size_t ulen;
    const char *url = gw_http_url(r, &ulen);
    const char *q = memchr(url, '?', ulen);
    size_t plen = q ? (size_t)(q - url) : ulen;
    int get_or_head = r->method == HTTP_GET || r->method == HTTP_HEAD;

    if (c->admin) {
        route_admin(c, url, plen);
        return;
    }
    static const char prefix[] = "/fractal/";
    size_t pl = sizeof(prefix) - 1;
    if (plen >= pl && memcmp(url, prefix, pl) == 0) {
        if (!is_uuid(url + pl, plen - pl)) {
            gw_respond_simple(c, 404, "not a fractal id (want /fractal/<uuid>)", NULL);
            return;
        }
        if (!get_or_head) {
            gw_respond_simple(c, 405, "method not allowed", "Allow: GET, HEAD\r\n");
            return;
        }
        char name[37];
        memcpy(name, url + pl, 36);
        name[36] = '\0';
        gw_req_fractal(c, name, r->method == HTTP_HEAD);
        return;
    }
    if (path_is(url, plen, "/healthz")) {
        if (!get_or_head) {
            gw_respond_simple(c, 405, "method not allowed", "Allow: GET, HEAD\r\n");
            return;
        }
        if (c->w->srv->draining)
            gw_respond_simple(c, 503, "draining", NULL);
        else
            gw_respond_simple(c, 200, "ok", NULL);
        return;
    }
    gw_respond_simple(c, 404, "not found", NULL);
}
