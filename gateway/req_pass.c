/*
 * req_pass.c - the pass way: an answer straight from Swift.
 *
 * Taken when no cache is configured, when a fill says the answer cannot go
 * through the cache (no room, no length: then the fill's own request is
 * taken over, so the object is not fetched twice), and for a cold Range far
 * into an object (range_passthrough).  The client's Range and If-* go to
 * Swift, which decides them; the gateway only checks If-Range (Swift 2.30
 * ignores it) and the date preconditions' precedence (RFC 9110 §13.2.2).
 * The body streams through, the fetch paused while the client's write
 * queue is over its high watermark.  A body without a length goes chunked
 * (its last chunk tells a whole body from a cut one), or to an HTTP/1.0
 * client with the connection closed at its end.  A HEAD whose type Swift
 * does not tell is followed by a 16-byte Range GET to sniff it.
 *
 * A far Range that meets a large object is dropped as soon as Swift's head
 * shows it: the request then follows a fill and is answered from the
 * segments (Swift gets a multi-page DLO's ranges wrong, and answers a bare
 * 409 for an SLO whose segment it finds changed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "http.h"
#include "origin.h"
#include "req_int.h"
#include "stats.h"
#include "util.h"

static void fetch_begin(struct gw_req *r);

static void copy_header(char *dst, size_t cap, const char *v)
{
    snprintf(dst, cap, "%s", v ? v : "");
}

void req_pass_leave(struct gw_req *r)
{
    struct req_pass *p = &r->u.pass;
    gw_swift_req_cancel(&p->q);
    if (p->counted) gw_stats_fills(-1);
    p->counted = 0;
}

static void send_head(struct gw_req *r)
{
    struct req_pass *p = &r->u.pass;
    const struct gw_http_req *req = gw_sink_request(r->sink);
    const char *ct = p->need_sniff ? gw_sniff_type(&p->sniff) : p->content_type;
    int status = p->pass_status ? p->pass_status : 200;
    struct gw_buf b = {0};
    gw_http_head_begin(&b, status);
    if (status != 304) {
        gw_buf_printf(&b, "Content-Type: %s\r\n", ct);
        if (!p->no_length)
            gw_buf_printf(&b, "Content-Length: %llu\r\n", (unsigned long long)p->length);
        else if (p->chunked && !r->head_only)
            gw_buf_printf(&b, "Transfer-Encoding: chunked\r\n");
    }
    if (p->content_range[0]) gw_buf_printf(&b, "Content-Range: %s\r\n", p->content_range);
    gw_respond_common_headers(&b, r->svc->conf, gw_sink_request(r->sink),
                              gw_sink_cache(r->sink), p->etag, p->last_modified, 0,
                              p->replay);
    gw_http_head_end(&b, gw_sink_keepalive(r->sink), req->http_minor);
    gw_sink_set_status(r->sink, status);
    gw_sink_write_buf(r->sink, &b);
    p->head_sent = 1;
}

/* Body bytes to the client, framed as a chunk when the length is unknown. */
static void body_write(struct gw_req *r, const void *buf, size_t len)
{
    if (len == 0) return;
    if (r->u.pass.chunked) {
        char size[24];
        int n = snprintf(size, sizeof(size), "%zx\r\n", len);
        gw_sink_write(r->sink, size, (size_t)n);
        gw_sink_write(r->sink, buf, len);
        gw_sink_write(r->sink, "\r\n", 2);
        return;
    }
    gw_sink_write(r->sink, buf, len);
}

/* ---- Swift's head ---- */

/* Swift's answer is not one to pass on: 1 and the error set, or 0. */
static int refused(struct gw_req *r, long status)
{
    struct req_pass *p = &r->u.pass;
    if (status == 404) {
        p->error_status = 404;
        p->error_reason = "no such fractal";
        p->discard = 1;
        return 1;
    }
    int conditional = p->forwarded && (status == 206 || status == 304 || status == 412 ||
                                       status == 416);
    if (status == 200 || (p->sniff_fetch && status == 206) || conditional) return 0;
    gw_stats_error(GW_ERR_ORIGIN_STATUS);
    if (status < 500) /* a 5xx has its line from origin.c, with Swift's X-Trans-Id */
        gw_warn("req", "%s: Swift answered %ld for %s", gw_sink_peer(r->sink), status, r->name);
    p->error_status = 502;
    p->error_reason = status == 401 ? "Swift refused the gateway's token"
                                    : "unexpected answer from Swift";
    p->discard = 1;
    return 1;
}

/* Swift 2.30 ignores If-Range: 1 when it does not match what Swift answered
 * with, so the client's copy is old and it gets the whole object. */
static int if_range_failed(struct gw_req *r, struct gw_fetch *f)
{
    size_t n;
    if (gw_http_header(gw_sink_request(r->sink), "If-Range", &n) == NULL) return 0;
    struct gw_range rg[GW_RANGES_MAX];
    char etag[80], lm[64];
    gw_etag_unquote(etag, sizeof(etag), gw_fetch_header(f, "ETag"));
    copy_header(lm, sizeof(lm), gw_fetch_header(f, "Last-Modified"));
    return gw_cond_ranges(gw_sink_request(r->sink), UINT64_MAX, etag, lm, rg) == 0;
}

/* The object's length, or chunked (or a close) when Swift sent none. */
static void take_length(struct gw_req *r, struct gw_fetch *f)
{
    struct req_pass *p = &r->u.pass;
    if (gw_parse_u64(gw_fetch_header(f, "Content-Length"), &p->length) == 0) return;
    /* A large object with more segments than one listing page. */
    p->no_length = 1;
    p->length = UINT64_MAX;
    if (gw_sink_request(r->sink)->http_minor >= 1)
        p->chunked = 1;
    else
        gw_sink_no_keepalive(r->sink);
}

static int on_headers(void *ud, struct gw_fetch *f, long status)
{
    struct gw_req *r = ud;
    GW_CHECK_MAGIC(r, REQ_MAGIC);
    struct req_pass *p = &r->u.pass;
    gw_sink_set_origin_ms(r->sink, gw_fetch_ttfb_ms(f));
    if (p->passthrough && (gw_fetch_header(f, "X-Object-Manifest") ||
                           gw_fetch_header(f, "X-Static-Large-Object") || status == 409)) {
        p->large = 1; /* the gateway covers the range from its segments */
        return GW_EORIGIN;
    }
    if (refused(r, status)) return 0;
    if (p->sniff_fetch) return 0; /* the object's headers came from the HEAD */
    if (p->forwarded && (status == 304 || status == 412 || status == 416)) {
        /* Swift decided the client's preconditions or range: say the same. */
        gw_etag_unquote(p->etag, sizeof(p->etag), gw_fetch_header(f, "ETag"));
        copy_header(p->last_modified, sizeof(p->last_modified),
                    gw_fetch_header(f, "Last-Modified"));
        copy_header(p->content_range, sizeof(p->content_range),
                    gw_fetch_header(f, "Content-Range"));
        gw_replay_collect(f, p->replay, sizeof(p->replay));
        p->pass_status = (int)status;
        p->discard = 1;
        return 0;
    }
    if (status == 206 && !p->whole && if_range_failed(r, f)) {
        p->whole = 1;
        p->discard = 1;
        return 0;
    }
    if (status == 206) {
        p->pass_status = 206;
        copy_header(p->content_range, sizeof(p->content_range),
                    gw_fetch_header(f, "Content-Range"));
    }
    gw_etag_unquote(p->etag, sizeof(p->etag), gw_fetch_header(f, "ETag"));
    copy_header(p->last_modified, sizeof(p->last_modified), gw_fetch_header(f, "Last-Modified"));
    copy_header(p->content_type, sizeof(p->content_type), gw_fetch_header(f, "Content-Type"));
    gw_replay_collect(f, p->replay, sizeof(p->replay));
    take_length(r, f);
    p->need_sniff = gw_is_octet_stream(p->content_type) && p->length > 0 && status == 200;
    if (!r->head_only && !p->need_sniff) send_head(r);
    return 0;
}

/* ---- Swift's body ---- */

static int on_data(void *ud, const char *buf, size_t len)
{
    struct gw_req *r = ud;
    GW_CHECK_MAGIC(r, REQ_MAGIC);
    struct req_pass *p = &r->u.pass;
    if (p->discard) return 0;
    if (p->sniff_fetch || r->head_only) {
        gw_sniff_add(&p->sniff, buf, len);
        return 0;
    }
    if (gw_sink_congested(r->sink)) {
        gw_sink_wait_drain(r->sink);
        return GW_FETCH_PAUSE;
    }
    if (p->body_sent + len > p->length) {
        gw_warn("req", "%s: Swift sent more than Content-Length for %s", gw_sink_peer(r->sink),
                r->name);
        return GW_EORIGIN;
    }
    if (!p->head_sent) {
        /* The type waits for the first bytes. */
        size_t n = gw_sniff_add(&p->sniff, buf, len);
        buf += n;
        len -= n;
        p->body_sent += n;
        if (!gw_sniff_full(&p->sniff) && p->body_sent < p->length) return 0;
        send_head(r);
        body_write(r, p->sniff.b, p->sniff.n);
    }
    body_write(r, buf, len);
    p->body_sent += len;
    gw_sink_set_bytes(r->sink, p->body_sent);
    return 0;
}

/* ---- the end of a fetch ---- */

static void count_failure(struct gw_req *r, int err)
{
    struct req_pass *p = &r->u.pass;
    if (err == GW_ETIMEOUT)
        gw_stats_error(GW_ERR_ORIGIN_TIMEOUT);
    else if (err == GW_EBUSY)
        gw_stats_error(GW_ERR_FETCH_BUSY);
    else if (gw_err_no_files(err))
        gw_stats_error(GW_ERR_NO_FILES);
    else if (err == GW_ESHORT || (err == 0 && !p->discard && !r->head_only && !p->no_length &&
                                  p->body_sent != p->length))
        gw_stats_error(GW_ERR_ORIGIN_SHORT);
    else if (err != 0 && err != GW_EAUTH && err != GW_EBADHEADER && p->q.status == 0)
        gw_stats_error(GW_ERR_ORIGIN_CONNECT); /* a bad header: counted by origin.c */
}

/* The fetch broke off: an error answer if nothing went out, else a cut. */
static void fetch_failed(struct gw_req *r, struct gw_fetch *f, int err)
{
    struct req_pass *p = &r->u.pass;
    const char *text = f && gw_fetch_error_text(f)[0] ? gw_fetch_error_text(f) : gw_strerror(err);
    if (p->head_sent) {
        gw_warn("req", "%s: %s cut off after %llu of %llu bytes: %s", gw_sink_peer(r->sink),
                r->name, (unsigned long long)p->body_sent, (unsigned long long)p->length, text);
        req_goto(r, REQ_DONE);
        gw_sink_abort(r->sink);
    } else if (p->error_status) {
        if (p->error_status == 404) req_not_found(r);
        else req_finish(r, p->error_status, p->error_reason, NULL);
    } else if (err == GW_EAUTH) {
        req_finish(r, 502, "cannot authenticate with Swift", NULL);
    } else if (err == GW_EBUSY) {
        req_finish(r, 503, GW_FETCH_BUSY_REASON, NULL);
    } else if (gw_err_no_files(err)) {
        gw_warn("req", "%s: %s: no socket to Swift: %s", gw_sink_peer(r->sink), r->name, text);
        req_finish(r, 503, GW_NO_FILES_REASON, NULL);
    } else if (err == GW_EBADHEADER) {
        gw_warn("req", "%s: %s: Swift's answer refused: %s", gw_sink_peer(r->sink), r->name,
                text);
        req_finish(r, 502, "bad header from Swift", NULL);
    } else {
        gw_warn("req", "%s: fetching %s from Swift failed: %s", gw_sink_peer(r->sink), r->name,
                text);
        req_finish(r, err == GW_ETIMEOUT ? 504 : 502,
                   err == GW_ETIMEOUT ? "Swift timed out" : "Swift unreachable or failed", NULL);
    }
}

/* Swift decided the client's preconditions: 304, 412 or 416 as it said. */
static void pass_status_answer(struct gw_req *r)
{
    struct req_pass *p = &r->u.pass;
    if (p->pass_status == 304) {
        send_head(r);
        req_goto(r, REQ_DONE);
        gw_sink_end(r->sink);
        return;
    }
    char extra[160] = "";
    if (p->content_range[0])
        snprintf(extra, sizeof(extra), "Content-Range: %s\r\n", p->content_range);
    req_finish(r, p->pass_status,
               p->pass_status == 412 ? "precondition failed" : "range not satisfiable",
               extra[0] ? extra : NULL);
}

/* The whole body went out (or a HEAD's head is due): end the answer. */
static void body_over(struct gw_req *r)
{
    struct req_pass *p = &r->u.pass;
    if (!p->head_sent) {
        /* A body shorter than the sniff window, or empty. */
        send_head(r);
        body_write(r, p->sniff.b, p->sniff.n);
        gw_sink_set_bytes(r->sink, p->body_sent);
    }
    if (p->no_length) {
        if (p->chunked) gw_sink_write(r->sink, "0\r\n\r\n", 5);
    } else if (p->body_sent != p->length) {
        gw_warn("req", "%s: %s: Swift sent %llu of %llu bytes", gw_sink_peer(r->sink), r->name,
                (unsigned long long)p->body_sent, (unsigned long long)p->length);
        req_goto(r, REQ_DONE);
        gw_sink_abort(r->sink);
        return;
    }
    req_goto(r, REQ_DONE);
    gw_sink_end(r->sink);
}

static void on_done(void *ud, struct gw_fetch *f, int err)
{
    struct gw_req *r = ud;
    GW_CHECK_MAGIC(r, REQ_MAGIC);
    struct req_pass *p = &r->u.pass;
    if (p->large) {
        req_follow_start(r, 0);
        return;
    }
    count_failure(r, err);
    if (err != 0) {
        fetch_failed(r, f, err);
    } else if (p->error_status) {
        if (p->error_status == 404) req_not_found(r);
        else req_finish(r, p->error_status, p->error_reason, NULL);
    } else if (p->whole && !p->whole_fetched) {
        /* If-Range did not match: ask again, for the whole object. */
        p->whole_fetched = 1;
        p->discard = 0;
        fetch_begin(r);
    } else if (p->pass_status == 304 || p->pass_status == 412 || p->pass_status == 416) {
        pass_status_answer(r);
    } else if (r->head_only && p->need_sniff && !p->sniff_fetch) {
        /* The HEAD told the length; 16 bytes tell the type. */
        p->sniff_fetch = 1;
        fetch_begin(r);
    } else if (r->head_only) {
        send_head(r);
        req_goto(r, REQ_DONE);
        gw_sink_end(r->sink);
    } else {
        body_over(r);
    }
}

static const struct gw_fetch_cbs pass_cbs = {
    .on_headers = on_headers,
    .on_data = on_data,
    .on_done = on_done,
};

/* ---- asking Swift ---- */

/* The client's Range and If-* for Swift to evaluate, or the sniff's Range. */
static void add_headers(void *ud, struct gw_fetch *f)
{
    struct gw_req *r = ud;
    struct req_pass *p = &r->u.pass;
    const struct gw_http_req *req = gw_sink_request(r->sink);
    gw_swift_trans_extra(f, req->request_id);
    if (p->sniff_fetch) {
        gw_fetch_add_header(f, "Range: bytes=0-15");
        return;
    }
    static const char *const fwd[] = {"Range", "If-Range", "If-Match", "If-None-Match",
                                      "If-Modified-Since", "If-Unmodified-Since"};
    for (size_t i = 0; i < sizeof(fwd) / sizeof(fwd[0]); i++) {
        size_t n, other;
        const char *v = gw_http_header(req, fwd[i], &n);
        if (v == NULL) continue;
        if ((i == 0 && r->head_only) || (i <= 1 && p->whole)) continue;
        /* RFC 9110 §13.2.2: the date forms count only without the tag
         * forms; Swift 2.30 would evaluate both. */
        if (i == 4 && gw_http_header(req, "If-None-Match", &other)) continue;
        if (i == 5 && gw_http_header(req, "If-Match", &other)) continue;
        char *h = gw_asprintf("%s: %.*s", fwd[i], (int)n, v);
        gw_fetch_add_header(f, h);
        free(h);
        p->forwarded = 1;
    }
}

/* The object, as Swift is asked for it; the container is the request's copy. */
static struct gw_swift_target pass_target(struct gw_req *r, const char *method)
{
    struct req_pass *p = &r->u.pass;
    snprintf(p->container, sizeof(p->container), "%s", r->svc->conf->container);
    return (struct gw_swift_target){
        .kind = "object",
        .method = method,
        .container = p->container,
        .object = r->name,
        .prepare = add_headers,
    };
}

static void fetch_begin(struct gw_req *r)
{
    struct req_pass *p = &r->u.pass;
    struct gw_swift_target t = pass_target(r, r->head_only && !p->sniff_fetch ? "HEAD" : "GET");
    gw_swift_req_cancel(&p->q);
    gw_swift_req_init(&p->q, r->svc, &t, &pass_cbs, r);
    if (gw_swift_req_start(&p->q) != 0) {
        req_finish(r, 502, "cannot start a request to Swift", NULL);
        return;
    }
    if (!p->counted) gw_stats_fills(1);
    p->counted = 1;
}

void req_pass_start(struct gw_req *r, int passthrough)
{
    req_goto(r, REQ_PASS);
    gw_sink_set_cache(r->sink, GW_CACHE_PASS);
    r->u.pass.passthrough = passthrough;
    fetch_begin(r);
}

int req_pass_take(struct gw_req *r, struct gw_swift_req *from, long status)
{
    req_goto(r, REQ_PASS);
    struct req_pass *p = &r->u.pass;
    gw_sink_set_cache(r->sink, GW_CACHE_PASS);
    struct gw_swift_target t = pass_target(r, "GET");
    gw_swift_req_init(&p->q, r->svc, &t, &pass_cbs, r);
    gw_swift_req_take(&p->q, from);
    gw_stats_fills(1);
    p->counted = 1;
    return on_headers(r, p->q.fetch, status);
}

void req_pass_drain(struct gw_req *r)
{
    gw_swift_req_resume(&r->u.pass.q);
}
