/*
 * route.c - which handler answers a request.
 *
 * Public listener: GET|HEAD /fractal/<uuid> and GET|HEAD /healthz.  The
 * object name is taken only from a path that is exactly "/fractal/" and a
 * uuid (8-4-4-4-12 hex digits, either case), so no percent-encoding,
 * dot-segment or control byte can ever turn into another object name at
 * Swift: whatever does not match is answered here and never leaves the
 * gateway.  A query string is ignored (browsers add one to bust caches).
 * With [server] write_token set, PUT and DELETE /fractal/<uuid> store and
 * delete objects, for a request with that bearer token (401 without one,
 * 403 with another: nothing reaches Swift); without it they are 405.
 * Admin listener: /metrics, /healthz, GET|HEAD /cache/fractal/<uuid>
 * (what the cache holds), DELETE /cache/fractal/<uuid> and PURGE
 * /fractal/<uuid> (purge; soft with X-Purge-Soft: 1), behind the bearer
 * token if one is configured.
 *
 * /healthz, on either listener, is 200 "ok" only when the gateway can
 * answer a miss: 503 "draining" while it drains, and 503 with a
 * Retry-After while Swift's auth is not ready (swift.h, gw_swift_ready),
 * so that a balancer sends nothing to a gateway that could only answer
 * 502.  The admin listener's body says why ("swift auth: 401 Unauthorized
 * from URL"); the public one's only "swift auth not ready": the auth URL
 * and curl's errors are not for the public web.
 *
 * The decision is gw_route_decide(), a pure function of the parsed head
 * (the fuzz target calls it); gw_route() only carries it out.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cache.h"
#include "conf.h"
#include "cors.h"
#include "gate.h"
#include "http.h"
#include "inspect.h"
#include "req.h"
#include "respond.h"
#include "route.h"
#include "upload.h"
#include "services.h"
#include "sink.h"
#include "stats.h"
#include "swift.h"
#include "util.h"

static int is_hex(char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

int gw_route_is_uuid(const char *s, size_t len)
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

static void simple(struct gw_route *out, int status, const char *reason, const char *extra)
{
    out->kind = GW_ROUTE_SIMPLE;
    out->status = status;
    out->reason = reason;
    out->extra = extra;
}

static const char allow_get_head[] = "Allow: GET, HEAD\r\n";
static const char allow_writes[] = "Allow: GET, HEAD, PUT, DELETE, OPTIONS\r\n";

/* The request's bearer token: NULL if it has none. */
static const char *bearer(const struct gw_http_req *r, size_t *len)
{
    size_t alen;
    const char *auth = gw_http_header(r, "Authorization", &alen);
    if (auth == NULL || alen < 7 || strncasecmp(auth, "Bearer ", 7) != 0) return NULL;
    *len = alen - 7;
    return auth + 7;
}

/* uuid: 36 bytes that gw_route_is_uuid() accepted. */
static void fractal_name(struct gw_route *out, enum gw_route_kind kind, const char *uuid)
{
    out->kind = kind;
    memcpy(out->name, uuid, 36);
    out->name[36] = '\0';
}

static void decide_healthz(int get_or_head, int draining, struct gw_route *out)
{
    if (!get_or_head)
        simple(out, 405, "method not allowed", allow_get_head);
    else if (draining)
        simple(out, 503, "draining", NULL);
    else {
        simple(out, 200, "ok", NULL);
        out->healthz = 1;
    }
}

/*
 * A purge of uuid: hard, or soft with "X-Purge-Soft: 1" (the entry is
 * only made to expire); any other value of that field is refused.
 */
static void decide_purge(const struct gw_http_req *r, const char *uuid, struct gw_route *out)
{
    size_t n;
    const char *soft = gw_http_header(r, "X-Purge-Soft", &n);
    if (soft != NULL && !(n == 1 && (soft[0] == '0' || soft[0] == '1'))) {
        simple(out, 400, "X-Purge-Soft must be 0 or 1", NULL);
        return;
    }
    fractal_name(out, GW_ROUTE_PURGE, uuid);
    out->soft = soft != NULL && soft[0] == '1';
}

/*
 * The admin listener: /metrics, /healthz, and /cache/fractal/<uuid>: GET
 * or HEAD inspects the entry, DELETE (or PURGE /fractal/<uuid>) purges it.
 * With admin_token set, every request needs "Authorization: Bearer <token>".
 */
static void decide_admin(const struct gw_http_req *r, const struct gw_route_ctx *ctx,
                         const char *path, size_t plen, int get_or_head, struct gw_route *out)
{
    if (ctx->admin_token && ctx->admin_token[0]) {
        size_t tlen;
        const char *token = bearer(r, &tlen);
        if (token == NULL || !token_equal(token, tlen, ctx->admin_token)) {
            simple(out, 401, "admin token required", "WWW-Authenticate: Bearer\r\n");
            return;
        }
    }
    if (path_is(path, plen, "/metrics")) {
        if (!get_or_head)
            simple(out, 405, "method not allowed", allow_get_head);
        else
            out->kind = GW_ROUTE_METRICS;
        return;
    }
    if (path_is(path, plen, "/healthz")) {
        decide_healthz(get_or_head, ctx->draining, out);
        return;
    }
    static const char cached[] = "/cache/fractal/";
    size_t cl = sizeof(cached) - 1;
    if (plen >= cl && memcmp(path, cached, cl) == 0) {
        if (!gw_route_is_uuid(path + cl, plen - cl))
            simple(out, 404, "not a fractal id (want /cache/fractal/<uuid>)", NULL);
        else if (get_or_head)
            fractal_name(out, GW_ROUTE_INSPECT, path + cl);
        else if (r->method != HTTP_DELETE)
            simple(out, 405, "method not allowed", "Allow: GET, HEAD, DELETE\r\n");
        else
            decide_purge(r, path + cl, out);
        return;
    }
    /* Varnish's and Squid's spelling of the same: PURGE /fractal/<uuid>. */
    static const char fractal[] = "/fractal/";
    size_t fl = sizeof(fractal) - 1;
    if (r->method == HTTP_PURGE && plen >= fl && memcmp(path, fractal, fl) == 0) {
        if (!gw_route_is_uuid(path + fl, plen - fl))
            simple(out, 404, "not a fractal id (want /fractal/<uuid>)", NULL);
        else
            decide_purge(r, path + fl, out);
        return;
    }
    simple(out, 404, "not found", NULL);
}

/* PUT or DELETE of /fractal/<uuid> (uuid checked): only with the write token. */
static void decide_write(const struct gw_http_req *r, const struct gw_route_ctx *ctx,
                         const char *uuid, struct gw_route *out)
{
    if (ctx->write_token == NULL || ctx->write_token[0] == '\0') {
        simple(out, 405, "method not allowed", allow_get_head);
        return;
    }
    size_t tlen;
    const char *token = bearer(r, &tlen);
    if (token == NULL)
        simple(out, 401, "write token required", "WWW-Authenticate: Bearer\r\n");
    else if (!token_equal(token, tlen, ctx->write_token))
        simple(out, 403, "wrong write token", NULL);
    else
        fractal_name(out, r->method == HTTP_PUT ? GW_ROUTE_UPLOAD : GW_ROUTE_DELETE, uuid);
}

void gw_route_decide(const struct gw_http_req *r, const struct gw_route_ctx *ctx,
                     struct gw_route *out)
{
    memset(out, 0, sizeof(*out));
    size_t ulen;
    const char *url = gw_http_url(r, &ulen);
    const char *q = ulen ? memchr(url, '?', ulen) : NULL;
    size_t plen = q ? (size_t)(q - url) : ulen;
    int get_or_head = r->method == HTTP_GET || r->method == HTTP_HEAD;
    out->head_only = r->method == HTTP_HEAD;

    if (ctx->admin) {
        decide_admin(r, ctx, url, plen, get_or_head, out);
        return;
    }
    static const char prefix[] = "/fractal/";
    size_t pl = sizeof(prefix) - 1;
    if (plen >= pl && memcmp(url, prefix, pl) == 0) {
        if (!gw_route_is_uuid(url + pl, plen - pl)) {
            simple(out, 404, "not a fractal id (want /fractal/<uuid>)", NULL);
            return;
        }
        if (r->method == HTTP_OPTIONS) {
            fractal_name(out, GW_ROUTE_PREFLIGHT, url + pl);
            return;
        }
        if (r->method == HTTP_PUT || r->method == HTTP_DELETE) {
            decide_write(r, ctx, url + pl, out);
            return;
        }
        if (!get_or_head) {
            int writes = ctx->write_token && ctx->write_token[0];
            simple(out, 405, "method not allowed", writes ? allow_writes : allow_get_head);
            return;
        }
        fractal_name(out, GW_ROUTE_FRACTAL, url + pl);
        return;
    }
    if (path_is(url, plen, "/healthz")) {
        decide_healthz(get_or_head, ctx->draining, out);
        return;
    }
    simple(out, 404, "not found", NULL);
}

/* /healthz when not draining: 200, or 503 while auth is not ready (and
 * why, on the admin listener). */
static void answer_healthz(struct gw_sink *s, const struct gw_services *svc, int admin)
{
    char why[GW_SWIFT_REASON_MAX], retry[40];
    unsigned after;
    if (gw_swift_ready(svc->swift, why, sizeof(why), &after)) {
        gw_respond_simple(s, 200, "ok", NULL);
        return;
    }
    snprintf(retry, sizeof(retry), "Retry-After: %u\r\n", after);
    gw_respond_simple(s, 503, admin ? why : "swift auth not ready", retry);
}

static void send_metrics(struct gw_sink *s, const struct gw_services *svc)
{
    const struct gw_http_req *r = gw_sink_request(s);
    struct gw_buf body = {0}, head = {0};
    if (svc->cache) {
        uint64_t entries, bytes;
        gw_cache_usage(svc->cache, &entries, &bytes);
        gw_stats_set_cache(entries, bytes);
    }
    gw_stats_render(&body);
    gw_gate_render(&body);
    char why[GW_SWIFT_REASON_MAX];
    unsigned after;
    gw_buf_printf(&body, "# HELP swiftgate_ready 1 when Swift's auth lets the gateway answer "
                         "misses (/healthz 200 unless draining), 0 before the first token and "
                         "while auth fails.\n# TYPE swiftgate_ready gauge\nswiftgate_ready %d\n",
                  gw_swift_ready(svc->swift, why, sizeof(why), &after));
    gw_stats_render_cache(&body, svc->cache);
    gw_stats_render_process(&body);
    gw_stats_render_config(&body);
    gw_http_head_begin(&head, 200);
    gw_buf_printf(&head, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                         "Content-Length: %zu\r\nCache-Control: no-store\r\n", body.len);
    gw_http_head_end(&head, gw_sink_keepalive(s), r->http_minor);
    gw_sink_set_status(s, 200);
    gw_sink_set_bytes(s, r->method == HTTP_GET ? body.len : 0);
    gw_sink_write_buf(s, &head);
    if (r->method == HTTP_GET)
        gw_sink_write_buf(s, &body);
    else
        gw_buf_free(&body);
    gw_sink_end(s);
}

void gw_route(struct gw_sink *s, const struct gw_services *svc, const struct gw_route_ctx *ctx)
{
    struct gw_route d;
    gw_route_decide(gw_sink_request(s), ctx, &d);
    switch (d.kind) {
    case GW_ROUTE_FRACTAL:
        gw_req_fractal(s, svc, d.name, d.head_only);
        return;
    case GW_ROUTE_METRICS:
        send_metrics(s, svc);
        return;
    case GW_ROUTE_PURGE:
        gw_req_purge(s, svc, d.name, d.soft);
        return;
    case GW_ROUTE_INSPECT:
        gw_inspect(s, svc, d.name, d.head_only);
        return;
    case GW_ROUTE_SIMPLE:
        if (d.healthz)
            answer_healthz(s, svc, ctx->admin);
        else
            gw_respond_simple(s, d.status, d.reason, d.extra);
        return;
    case GW_ROUTE_PREFLIGHT:
        gw_cors_preflight(s, svc->conf);
        return;
    case GW_ROUTE_UPLOAD:
        gw_upload(s, svc, d.name);
        return;
    case GW_ROUTE_DELETE:
        gw_delete(s, svc, d.name);
        return;
    }
    gw_panic(__FILE__, __LINE__, "unknown route kind");
}
