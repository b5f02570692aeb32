/*
 * req.c - the /fractal/<uuid> request, and purge.
 *
 * A request for an object takes one of three ways:
 *
 *   hit     a fresh entry: the head comes from the index, the body from the
 *           blob, mmap'd and written without a copy (gw_conn_write_ref).
 *   follow  no entry, or an expired one: the request joins the fill of its
 *           key (fill.c), starting it if none runs, and sends what the fill
 *           has written, as it arrives.  An expired entry makes the fill
 *           revalidate (If-None-Match): a 304 turns into a hit
 *           (REVALIDATED); a Swift failure into the stale entry (STALE),
 *           if it expired no longer ago than stale_if_error.
 *   direct  no cache configured, or the fill said UNCACHEABLE (no room, no
 *           length): the request fetches from Swift itself and streams the
 *           body through, pausing the fetch while the client's write queue
 *           is over its high watermark.
 *   segmented  a large object (SLO or DLO): its plan comes from a MANIFEST
 *           entry or from the fill that just read the manifest, and the
 *           body is put together from the segments the answer covers
 *           (assemble.c), each a hit or a fill of its own.  The head waits
 *           for the first segment, so a missing or changed one can still be
 *           a 502.
 *
 * A GET with "X-Swiftgate-Warm: 1" (swiftgate warm) takes the same ways
 * but answers 204 with no body once the object is in the cache, X-Cache
 * saying HIT (it was there), MISS (it was fetched now), REVALIDATED or PASS
 * (it cannot be cached).  It works through any balancer, which sends it to
 * the gateway that owns the object.
 *
 * In every way, once the head is out a failure can only cut the
 * connection: the client sees fewer bytes than Content-Length and knows the
 * body is incomplete.  The request never closes its connection itself
 * (gw_conn_abort only marks it) and is freed by the connection through
 * gw_req_free(), which undoes whatever is still running.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "assemble.h"
#include "blobmap.h"
#include "cache.h"
#include "cond.h"
#include "conf.h"
#include "fill.h"
#include "http.h"
#include "manifest.h"
#include "origin.h"
#include "req.h"
#include "server.h"
#include "stats.h"
#include "swift.h"
#include "util.h"

#define REQ_MAGIC 0x52455155u
#define SNIFF_BYTES GW_SNIFF_BYTES

enum req_mode { MODE_NONE, MODE_HIT, MODE_FOLLOW, MODE_DIRECT, MODE_SEGMENTED };

struct gw_req {
    uint32_t magic;
    struct gw_conn *c;
    struct gw_worker *w;
    char name[64];
    int head_only;
    int sniff_fetch;            /* the fetch is the HEAD's 16-byte Range GET */
    struct gw_swift_wait wait;
    struct gw_swift_creds creds;
    int auth_retries;
    int retry_auth;             /* this fetch saw a 401: renew and go again */
    struct gw_fetch *fetch;
    long origin_status;
    int error_status;           /* answer with this once the fetch is over */
    const char *error_reason;
    int discard;                /* the origin body means nothing to the client */

    uint64_t length;
    char etag[80];
    char last_modified[64];
    char content_type[128];
    int need_sniff;
    unsigned char sniff[SNIFF_BYTES];
    size_t sniff_len;
    int head_sent;
    uint64_t body_sent;
    int no_length;              /* Swift sent no Content-Length (direct way) */
    int taken_over;             /* the fetch was a fill's: already counted */
    int warm;                   /* X-Swiftgate-Warm: fill the cache, answer 204 */
    int forwarded;              /* direct: the client's Range/If-* went to Swift */
    int passthrough;            /* direct: a cold far Range (range_passthrough) */
    int large;                  /* ...that met a large object: go segmented */
    int pass_status;            /* direct: Swift's 206/304/412/416, passed on */
    int whole, whole_fetched;   /* direct: If-Range did not match: fetch it whole */
    char content_range[96];

    /* The body plan of a cached-way answer: whole, one range, or several. */
    int nranges;                /* gw_cond_ranges(): 0 whole, n, -1 unsatisfiable */
    int multipart;
    int nparts;
    struct gw_range parts[GW_RANGES_MAX];
    int part_i;
    uint64_t part_off;          /* bytes of parts[part_i] sent */
    int part_head_sent;
    char boundary[24];
    char ctype[128];
    int chunked;                /* ...so the client gets chunked encoding */

    /* The cache ways. */
    enum req_mode mode;
    uint8_t key[GW_CACHE_KEY_LEN];
    struct gw_cache_entry *entry;   /* the index entry, when there is one */
    int restarts;                   /* blob gone under us: look again, boundedly */
    struct gw_fill_reader reader;
    int following;
    struct gw_blobmap *map;         /* the blob, shared (blobmap.c) */
    int open_rc;
    uint64_t sent;                  /* body bytes queued (hit and follow) */
    struct gw_asm *asm_;            /* segmented: the body from the segments */
    uint64_t total;                 /* segmented: the large object's length */
    int64_t stored_at;              /* segmented: the manifest entry's, 0 if fresh */
    uv_work_t work;                 /* purge */
    int purge_rc;
    int opening;                    /* open_req or work is in the thread pool */
    int orphaned;                   /* freed meanwhile: the pool's callback frees */
};

static void fetch_begin(struct gw_req *r);
static void follow_start(struct gw_req *r, int revalidate);
static void common_headers(struct gw_req *r, struct gw_buf *b, const char *etag, const char *lm,
                           int64_t stored_at);

/* Range or any If-*: what a fill's plain GET did not ask Swift. */
static int has_conditionals(const struct gw_conn *c)
{
    static const char *const names[] = {"Range", "If-Range", "If-Match", "If-None-Match",
                                        "If-Modified-Since", "If-Unmodified-Since"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        size_t n;
        if (gw_http_header(&c->hreq, names[i], &n)) return 1;
    }
    return 0;
}

/* ---- small helpers ---- */

static void copy_header(char *dst, size_t cap, const char *v)
{
    snprintf(dst, cap, "%s", v ? v : "");
}

static void send_head(struct gw_req *r)
{
    struct gw_conn *c = r->c;
    const char *ct = r->content_type;
    if (r->need_sniff) {
        const char *t = gw_sniff_image_type(r->sniff, r->sniff_len);
        ct = t ? t : "application/octet-stream";
    }
    int status = r->pass_status ? r->pass_status : 200;
    struct gw_buf b = {0};
    gw_http_head_begin(&b, status);
    if (status != 304) gw_buf_printf(&b, "Content-Type: %s\r\n", ct);
    if (status == 304)
        ; /* no body, no length */
    else if (!r->no_length)
        gw_buf_printf(&b, "Content-Length: %llu\r\n", (unsigned long long)r->length);
    else if (r->chunked && !r->head_only)
        gw_buf_printf(&b, "Transfer-Encoding: chunked\r\n");
    if (r->content_range[0]) gw_buf_printf(&b, "Content-Range: %s\r\n", r->content_range);
    common_headers(r, &b, r->etag, r->last_modified, 0);
    gw_http_head_end(&b, c->keepalive, c->hreq.http_minor);
    c->resp_status = status;
    gw_conn_write_buf(c, &b);
    r->head_sent = 1;
}

static void finish_error(struct gw_req *r, int status, const char *reason)
{
    gw_respond_simple(r->c, status, reason, NULL);
}

/* ---- fetch callbacks ---- */

static int on_headers(void *ud, struct gw_fetch *f, long status)
{
    struct gw_req *r = ud;
    GW_CHECK_MAGIC(r, REQ_MAGIC);
    r->origin_status = status;
    r->c->origin_ms = gw_fetch_ttfb_ms(f);
    if (!r->taken_over) gw_stats_origin("object", (int)status, r->c->origin_ms);

    if (status == 401 && r->auth_retries == 0) {
        r->retry_auth = 1;
        r->discard = 1;
        return 0;
    }
    if (r->passthrough && (gw_fetch_header(f, "X-Object-Manifest") ||
                           gw_fetch_header(f, "X-Static-Large-Object") || status == 409)) {
        /* A large object: the gateway covers the range from its segments
         * (and Swift gets a multi-page DLO's ranges wrong, and answers 409
         * for a segment it finds changed, saying no more). */
        r->large = 1;
        return GW_EORIGIN;
    }
    if (status == 404) {
        r->error_status = 404;
        r->error_reason = "no such fractal";
        r->discard = 1;
        return 0;
    }
    int conditional = r->forwarded && (status == 206 || status == 304 || status == 412 ||
                                       status == 416);
    int ok = status == 200 || (r->sniff_fetch && status == 206) || conditional;
    if (!ok) {
        gw_stats_error(GW_ERR_ORIGIN_STATUS);
        gw_warn("req", "%s: Swift answered %ld for %s", r->c->peer, status, r->name);
        r->error_status = 502;
        r->error_reason = status == 401 ? "Swift refused the gateway's token"
                                        : "unexpected answer from Swift";
        r->discard = 1;
        return 0;
    }

    if (r->sniff_fetch) return 0; /* the object's headers came from the HEAD */

    if (conditional && status != 206) {
        /* Swift decided the client's preconditions or range: say the same. */
        gw_etag_unquote(r->etag, sizeof(r->etag), gw_fetch_header(f, "ETag"));
        copy_header(r->last_modified, sizeof(r->last_modified),
                    gw_fetch_header(f, "Last-Modified"));
        copy_header(r->content_range, sizeof(r->content_range),
                    gw_fetch_header(f, "Content-Range"));
        r->pass_status = (int)status;
        r->discard = 1;
        return 0;
    }
    if (status == 206 && !r->whole) {
        size_t irn;
        const char *ir = gw_http_header(&r->c->hreq, "If-Range", &irn);
        if (ir != NULL) {
            /* Swift 2.30 ignores If-Range: check it here against the
             * representation Swift answered with; a mismatch means the
             * client's copy is old and it gets the whole object. */
            struct gw_range rg[GW_RANGES_MAX];
            char etag[80], lm[64];
            gw_etag_unquote(etag, sizeof(etag), gw_fetch_header(f, "ETag"));
            copy_header(lm, sizeof(lm), gw_fetch_header(f, "Last-Modified"));
            if (gw_cond_ranges(&r->c->hreq, UINT64_MAX, etag, lm, rg) == 0) {
                r->whole = 1;
                r->discard = 1;
                return 0;
            }
        }
    }
    if (status == 206) {
        r->pass_status = 206;
        copy_header(r->content_range, sizeof(r->content_range),
                    gw_fetch_header(f, "Content-Range"));
    }
    gw_etag_unquote(r->etag, sizeof(r->etag), gw_fetch_header(f, "ETag"));
    copy_header(r->last_modified, sizeof(r->last_modified), gw_fetch_header(f, "Last-Modified"));
    copy_header(r->content_type, sizeof(r->content_type), gw_fetch_header(f, "Content-Type"));
    if (gw_parse_u64(gw_fetch_header(f, "Content-Length"), &r->length) != 0) {
        /*
         * No length (a large object with more segments than one listing
         * page): chunked encoding, whose last chunk tells a whole body from
         * a cut one.  An HTTP/1.0 client can only have the connection
         * closed at the end.
         */
        r->no_length = 1;
        r->length = UINT64_MAX;
        if (r->c->hreq.http_minor >= 1)
            r->chunked = 1;
        else
            r->c->keepalive = 0;
    }
    r->need_sniff = gw_is_octet_stream(r->content_type) && r->length > 0 && status == 200;
    if (!r->head_only && !r->need_sniff) send_head(r);
    return 0;
}

/* Body bytes to the client, framed as a chunk when the length is unknown. */
static void body_write(struct gw_req *r, const void *buf, size_t len)
{
    if (len == 0) return;
    if (r->chunked) {
        char size[24];
        int n = snprintf(size, sizeof(size), "%zx\r\n", len);
        gw_conn_write(r->c, size, (size_t)n);
        gw_conn_write(r->c, buf, len);
        gw_conn_write(r->c, "\r\n", 2);
        return;
    }
    gw_conn_write(r->c, buf, len);
}

static int on_data(void *ud, const char *buf, size_t len)
{
    struct gw_req *r = ud;
    GW_CHECK_MAGIC(r, REQ_MAGIC);
    if (r->discard) return 0;
    if (r->sniff_fetch || r->head_only) {
        size_t n = len < SNIFF_BYTES - r->sniff_len ? len : SNIFF_BYTES - r->sniff_len;
        memcpy(r->sniff + r->sniff_len, buf, n);
        r->sniff_len += n;
        return 0;
    }
    struct gw_conn *c = r->c;
    if (gw_conn_congested(c)) {
        c->want_drain = 1;
        return GW_FETCH_PAUSE;
    }
    if (r->body_sent + len > r->length) {
        gw_warn("req", "%s: Swift sent more than Content-Length for %s", c->peer, r->name);
        return GW_EORIGIN;
    }
    if (!r->head_sent) {
        size_t n = len < SNIFF_BYTES - r->sniff_len ? len : SNIFF_BYTES - r->sniff_len;
        memcpy(r->sniff + r->sniff_len, buf, n);
        r->sniff_len += n;
        buf += n;
        len -= n;
        r->body_sent += n;
        if (r->sniff_len < SNIFF_BYTES && r->body_sent < r->length) return 0;
        send_head(r);
        body_write(r, r->sniff, r->sniff_len);
    }
    body_write(r, buf, len);
    r->body_sent += len;
    c->resp_bytes = r->body_sent;
    return 0;
}

static void on_token(struct gw_swift_wait *w, int err);

static void on_done(void *ud, struct gw_fetch *f, int err)
{
    struct gw_req *r = ud;
    GW_CHECK_MAGIC(r, REQ_MAGIC);
    struct gw_conn *c = r->c;
    r->fetch = NULL;
    gw_stats_fills(-1);
    if (r->large) {
        r->passthrough = r->large = 0;
        follow_start(r, 0);
        return;
    }
    if (err != 0 && r->origin_status == 0) gw_stats_origin("object", 0, 0);
    if (err == GW_ETIMEOUT)
        gw_stats_error(GW_ERR_ORIGIN_TIMEOUT);
    else if (err == GW_ESHORT || (err == 0 && !r->discard && !r->head_only &&
                                  !r->no_length && r->body_sent != r->length))
        gw_stats_error(GW_ERR_ORIGIN_SHORT);
    else if (err != 0 && r->origin_status == 0)
        gw_stats_error(GW_ERR_ORIGIN_CONNECT);

    if (r->retry_auth && err == 0) {
        /* The token lapsed under us: renew it (once) and ask again. */
        gw_swift_invalidate(c->w->srv->swift, r->creds.generation);
        gw_swift_creds_free(&r->creds);
        r->retry_auth = 0;
        r->discard = 0;
        r->auth_retries++;
        /* A newer token may be there already (another request renewed it). */
        fetch_begin(r);
        return;
    }
    if (err != 0 && !r->head_sent) {
        if (r->error_status == 0) {
            gw_warn("req", "%s: fetching %s from Swift failed: %s", c->peer, r->name,
                    gw_fetch_error_text(f));
            if (err == GW_ETIMEOUT)
                finish_error(r, 504, "Swift timed out");
            else
                finish_error(r, 502, "Swift unreachable or failed");
        } else {
            finish_error(r, r->error_status, r->error_reason);
        }
        return;
    }
    if (err != 0) {
        gw_warn("req", "%s: %s cut off after %llu of %llu bytes: %s", c->peer, r->name,
                (unsigned long long)r->body_sent, (unsigned long long)r->length,
                gw_fetch_error_text(f)[0] ? gw_fetch_error_text(f) : gw_strerror(err));
        gw_conn_abort(c);
        return;
    }
    if (r->error_status) {
        finish_error(r, r->error_status, r->error_reason);
        return;
    }
    if (r->whole && !r->whole_fetched) {
        /* If-Range did not match: ask again, for the whole object. */
        r->whole_fetched = 1;
        r->discard = 0;
        fetch_begin(r);
        return;
    }
    if (r->pass_status == 304) {
        send_head(r);
        gw_conn_end_response(c);
        return;
    }
    if (r->pass_status == 412 || r->pass_status == 416) {
        char extra[160] = "";
        if (r->content_range[0])
            snprintf(extra, sizeof(extra), "Content-Range: %s\r\n", r->content_range);
        gw_respond_simple(c, r->pass_status,
                          r->pass_status == 412 ? "precondition failed" : "range not satisfiable",
                          extra[0] ? extra : NULL);
        return;
    }
    if (r->head_only) {
        if (r->need_sniff && !r->sniff_fetch) {
            /* The HEAD told the length; 16 bytes tell the type. */
            r->sniff_fetch = 1;
            fetch_begin(r);
            return;
        }
        send_head(r);
        gw_conn_end_response(c);
        return;
    }
    if (!r->head_sent) {
        /* A body shorter than the sniff window, or empty. */
        send_head(r);
        body_write(r, r->sniff, r->sniff_len);
        c->resp_bytes = r->body_sent;
    }
    if (r->no_length) {
        if (r->chunked) gw_conn_write(c, "0\r\n\r\n", 5);
        gw_conn_end_response(c);
        return;
    }
    if (r->body_sent != r->length) {
        gw_warn("req", "%s: %s: Swift sent %llu of %llu bytes", c->peer, r->name,
                (unsigned long long)r->body_sent, (unsigned long long)r->length);
        gw_conn_abort(c);
        return;
    }
    gw_conn_end_response(c);
}

static const struct gw_fetch_cbs fetch_cbs = {
    .on_headers = on_headers,
    .on_data = on_data,
    .on_done = on_done,
};

static void fetch_begin(struct gw_req *r)
{
    struct gw_conn *c = r->c;
    const struct gw_conf *conf = c->w->srv->conf;
    if (r->creds.storage_url == NULL &&
        gw_swift_creds_refresh(c->w->srv->swift, c->w->swift, &r->creds) != 0) {
        gw_swift_wait(c->w->swift, &r->wait);
        return;
    }
    const char *method = (r->head_only && !r->sniff_fetch) ? "HEAD" : "GET";
    struct gw_fetch *f = gw_swift_object_fetch(c->w->origin, &r->creds, conf->container, r->name,
                                               NULL, method, &fetch_cbs, r);
    if (r->sniff_fetch) {
        gw_fetch_add_header(f, "Range: bytes=0-15");
    } else {
        /* Swift evaluates the client's preconditions and range itself. */
        static const char *const fwd[] = {"Range", "If-Range", "If-Match", "If-None-Match",
                                          "If-Modified-Since", "If-Unmodified-Since"};
        for (size_t i = 0; i < sizeof(fwd) / sizeof(fwd[0]); i++) {
            size_t n;
            const char *v = gw_http_header(&c->hreq, fwd[i], &n);
            if (v == NULL) continue;
            if ((i == 0 && r->head_only) || (i <= 1 && r->whole)) continue;
            /* RFC 9110 §13.2.2: the date forms count only without the tag
             * forms; Swift 2.30 would evaluate both. */
            size_t other;
            if (i == 4 && gw_http_header(&c->hreq, "If-None-Match", &other)) continue;
            if (i == 5 && gw_http_header(&c->hreq, "If-Match", &other)) continue;
            char *h = gw_asprintf("%s: %.*s", fwd[i], (int)n, v);
            gw_fetch_add_header(f, h);
            free(h);
            r->forwarded = 1;
        }
    }
    r->origin_status = 0;
    if (gw_fetch_start(f) != 0) {
        gw_fetch_cancel(f);
        finish_error(r, 502, "cannot start a request to Swift");
        return;
    }
    r->fetch = f;
    gw_stats_fills(1);
}

static void on_token(struct gw_swift_wait *w, int err)
{
    struct gw_req *r = (struct gw_req *)((char *)w - offsetof(struct gw_req, wait));
    GW_CHECK_MAGIC(r, REQ_MAGIC);
    if (err != 0) {
        gw_stats_error(GW_ERR_AUTH);
        finish_error(r, 502, "cannot authenticate with Swift");
        return;
    }
    if (gw_swift_creds(r->c->w->srv->swift, &r->creds) != 0) {
        finish_error(r, 502, "cannot authenticate with Swift");
        return;
    }
    fetch_begin(r);
}

/* ---- the response head of the cache ways ---- */

static const char *cache_status_header(enum gw_cache_result how)
{
    /* RFC 9211 Cache-Status, beside the X-Cache word everyone greps for. */
    switch (how) {
    case GW_CACHE_HIT: return "swiftgate; hit";
    case GW_CACHE_MISS: return "swiftgate; fwd=miss; stored";
    case GW_CACHE_STALE: return "swiftgate; hit; detail=stale-if-error";
    case GW_CACHE_REVALIDATED: return "swiftgate; fwd=stale; fwd-status=304";
    case GW_CACHE_PASS: return "swiftgate; fwd=uri-miss";
    default: return "swiftgate";
    }
}

/* Headers every answer about the object carries, 200, 206 and 304 alike. */
static void common_headers(struct gw_req *r, struct gw_buf *b, const char *etag, const char *lm,
                           int64_t stored_at)
{
    struct gw_conn *c = r->c;
    if (etag[0]) gw_buf_printf(b, "ETag: \"%s\"\r\n", etag);
    if (lm[0]) gw_buf_printf(b, "Last-Modified: %s\r\n", lm);
    gw_buf_printf(b, "Accept-Ranges: bytes\r\n");
    if (c->w->srv->conf->cache_control[0])
        gw_buf_printf(b, "Cache-Control: %s\r\n", c->w->srv->conf->cache_control);
    if (stored_at > 0) {
        int64_t age = (gw_wall_ms() - stored_at) / 1000;
        gw_buf_printf(b, "Age: %lld\r\n", (long long)(age > 0 ? age : 0));
    }
    gw_buf_printf(b, "X-Cache: %s\r\nCache-Status: %s\r\n", gw_cache_result_name(c->cache),
                  cache_status_header(c->cache));
}

/* The ranges of this GET against the representation (r->nparts, r->parts). */
static void plan_ranges(struct gw_req *r, uint64_t length, const char *etag, const char *lm)
{
    r->nranges = r->head_only ? 0 : gw_cond_ranges(&r->c->hreq, length, etag, lm, r->parts);
    r->multipart = r->nranges > 1;
    if (r->nranges > 0) {
        r->nparts = r->nranges;
    } else if (length > 0) {
        r->parts[0].first = 0;
        r->parts[0].last = length - 1;
        r->nparts = 1;
    } else {
        r->nparts = 0;
    }
    r->part_i = 0;
    r->part_off = 0;
    r->part_head_sent = 0;
}

static size_t part_head(struct gw_req *r, char *out, size_t cap, const struct gw_range *rg)
{
    int n = snprintf(out, cap, "\r\n--%s\r\nContent-Type: %s\r\nContent-Range: bytes %llu-%llu/%llu\r\n\r\n",
                     r->boundary, r->ctype, (unsigned long long)rg->first,
                     (unsigned long long)rg->last, (unsigned long long)r->length);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* multipart/byteranges: the head of part r->part_i, and the closing line. */
static void write_part_head(struct gw_req *r)
{
    if (!r->multipart) return;
    char ph[512];
    gw_conn_write(r->c, ph, part_head(r, ph, sizeof(ph), &r->parts[r->part_i]));
}

static void write_multipart_tail(struct gw_req *r)
{
    if (!r->multipart) return;
    char tail[64];
    int n = snprintf(tail, sizeof(tail), "\r\n--%s--\r\n", r->boundary);
    gw_conn_write(r->c, tail, (size_t)n);
}

/*
 * Decide the answer of a cached way (hit or fill) and send its head:
 * preconditions first, then ranges.  Returns 1 when the answer is complete
 * (304, 412, 416, HEAD, empty body), 0 when the body in r->parts follows.
 * plan_ranges() must have run.
 */
static int object_head(struct gw_req *r, uint64_t length, const char *etag, const char *lm,
                       const char *ct, int64_t stored_at)
{
    struct gw_conn *c = r->c;
    enum gw_precond pre = gw_cond_evaluate(&c->hreq, etag, lm);
    if (pre == GW_PRECOND_412) {
        finish_error(r, 412, "precondition failed");
        return 1;
    }
    struct gw_buf b = {0};
    if (pre == GW_PRECOND_304) {
        gw_http_head_begin(&b, 304);
        common_headers(r, &b, etag, lm, stored_at);
        gw_http_head_end(&b, c->keepalive, c->hreq.http_minor);
        c->resp_status = 304;
        gw_conn_write_buf(c, &b);
        gw_conn_end_response(c);
        r->head_sent = 1;
        return 1;
    }
    if (r->nranges < 0) {
        char extra[64];
        snprintf(extra, sizeof(extra), "Content-Range: bytes */%llu\r\n",
                 (unsigned long long)length);
        gw_respond_simple(c, 416, "range not satisfiable", extra);
        return 1;
    }
    r->length = length;
    snprintf(r->ctype, sizeof(r->ctype), "%s", ct[0] ? ct : "application/octet-stream");
    int status = r->nranges > 0 ? 206 : 200;
    gw_http_head_begin(&b, status);
    if (r->multipart) {
        snprintf(r->boundary, sizeof(r->boundary), "%016llx",
                 (unsigned long long)((uint64_t)gw_wall_ms() * 2654435761u ^ (uintptr_t)r));
        uint64_t total = 2 + strlen(r->boundary) + 6; /* "\r\n--B--\r\n" */
        char ph[512];
        for (int i = 0; i < r->nparts; i++)
            total += part_head(r, ph, sizeof(ph), &r->parts[i]) + r->parts[i].last -
                     r->parts[i].first + 1;
        gw_buf_printf(&b, "Content-Type: multipart/byteranges; boundary=%s\r\n"
                          "Content-Length: %llu\r\n", r->boundary, (unsigned long long)total);
    } else if (status == 206) {
        gw_buf_printf(&b, "Content-Type: %s\r\nContent-Length: %llu\r\n"
                          "Content-Range: bytes %llu-%llu/%llu\r\n", r->ctype,
                      (unsigned long long)(r->parts[0].last - r->parts[0].first + 1),
                      (unsigned long long)r->parts[0].first, (unsigned long long)r->parts[0].last,
                      (unsigned long long)length);
    } else {
        gw_buf_printf(&b, "Content-Type: %s\r\nContent-Length: %llu\r\n", r->ctype,
                      (unsigned long long)length);
    }
    common_headers(r, &b, etag, lm, stored_at);
    gw_http_head_end(&b, c->keepalive, c->hreq.http_minor);
    c->resp_status = status;
    gw_conn_write_buf(c, &b);
    r->head_sent = 1;
    if (r->head_only || r->nparts == 0) {
        gw_conn_end_response(c);
        return 1;
    }
    return 0;
}

/* ---- hit: the body from an mmap'd blob ---- */

static void map_release(void *arg)
{
    gw_blobmap_release(arg);
}

static void hit_pump(struct gw_req *r)
{
    struct gw_conn *c = r->c;
    const uint64_t slice = c->w->srv->conf->write_buffer;
    for (;;) {
        if (r->part_i == r->nparts) {
            write_multipart_tail(r);
            gw_conn_end_response(c);
            return;
        }
        if (gw_conn_congested(c)) break;
        const struct gw_range *rg = &r->parts[r->part_i];
        if (!r->part_head_sent) {
            write_part_head(r);
            r->part_head_sent = 1;
        }
        uint64_t left = rg->last + 1 - rg->first - r->part_off;
        if (left == 0) {
            r->part_i++;
            r->part_off = 0;
            r->part_head_sent = 0;
            continue;
        }
        uint64_t n = left < slice ? left : slice;
        gw_blobmap_ref(r->map);
        gw_conn_write_ref(c, r->map->addr + rg->first + r->part_off, (size_t)n, map_release,
                          r->map);
        r->part_off += n;
        r->sent += n;
        c->resp_bytes = r->sent;
    }
    c->want_drain = 1;
}

static void follow_start(struct gw_req *r, int revalidate);

/* The blob named by the entry is gone (evicted, replaced): ask again. */
static void hit_lost(struct gw_req *r)
{
    if (r->restarts++ >= 3) {
        finish_error(r, 503, "cache entry keeps changing; try again");
        return;
    }
    free(r->entry);
    r->entry = NULL;
    follow_start(r, 0);
}

/* ---- segmented: a large object from its segments ---- */

static void direct_start(struct gw_req *r);
static void respond_warm(struct gw_req *r, enum gw_cache_result how);

/* Entries a request for an object can be answered from. */
static int servable(int kind)
{
    return kind == GW_CACHE_KIND_OBJECT || kind == GW_CACHE_KIND_SEGMENT ||
           kind == GW_CACHE_KIND_MANIFEST;
}

static void seg_event(void *ud, enum gw_asm_event ev)
{
    struct gw_req *r = ud;
    GW_CHECK_MAGIC(r, REQ_MAGIC);
    struct gw_conn *c = r->c;
    switch (ev) {
    case GW_ASM_READY:
        /* The first segment is at hand: the head can promise the body. */
        if (c->cache == GW_CACHE_HIT && gw_asm_fetched(r->asm_) > 0) c->cache = GW_CACHE_MISS;
        if (object_head(r, r->total, r->etag, r->last_modified, r->content_type, r->stored_at))
            return;
        write_part_head(r);
        gw_asm_pump(r->asm_);
        return;
    case GW_ASM_DONE:
        c->resp_bytes = gw_asm_sent(r->asm_);
        if (r->warm) {
            respond_warm(r, gw_asm_fetched(r->asm_) > 0 ? GW_CACHE_MISS : c->cache);
            return;
        }
        if (++r->part_i < r->nparts) {
            write_part_head(r);
            gw_asm_range(r->asm_, r->parts[r->part_i].first, r->parts[r->part_i].last, 0);
            gw_asm_pump(r->asm_);
            return;
        }
        write_multipart_tail(r);
        gw_conn_end_response(c);
        return;
    case GW_ASM_FAILED: {
        const char *why;
        int status = gw_asm_error(r->asm_, &why);
        c->resp_bytes = gw_asm_sent(r->asm_);
        if (r->head_sent) {
            gw_warn("req", "%s: %s cut off after %llu body bytes: %s", c->peer, r->name,
                    (unsigned long long)c->resp_bytes, why);
            gw_conn_abort(c);
        } else if (status == 503 && !r->warm) {
            /* A segment cannot go through the cache (no room): Swift puts
             * the object together itself. */
            direct_start(r);
        } else {
            finish_error(r, status, why);
        }
        return;
    }
    }
}

/*
 * Answer from a large object's plan (taken over): preconditions and ranges
 * against its ETag and length, then the covered segments.
 */
static void seg_start(struct gw_req *r, struct gw_plan *plan, const char *lm, const char *ct,
                      int64_t stored_at, enum gw_cache_result how)
{
    struct gw_conn *c = r->c;
    r->mode = MODE_SEGMENTED;
    c->cache = how;
    r->total = plan->total;
    snprintf(r->etag, sizeof(r->etag), "%s", plan->etag);
    snprintf(r->last_modified, sizeof(r->last_modified), "%s", lm);
    snprintf(r->content_type, sizeof(r->content_type), "%s", ct);
    r->stored_at = stored_at;
    if (r->warm) {
        /* Warming a large object caches every segment. */
        if (r->total == 0) {
            gw_plan_free(plan);
            respond_warm(r, how);
            return;
        }
        r->asm_ = gw_asm_new(c, plan, GW_ASM_SINK, seg_event, r);
        gw_asm_range(r->asm_, 0, r->total - 1, 0);
        gw_asm_pump(r->asm_);
        return;
    }
    plan_ranges(r, r->total, r->etag, r->last_modified);
    int body = !r->head_only && r->nranges >= 0 && r->nparts > 0 &&
               gw_cond_evaluate(&c->hreq, r->etag, r->last_modified) == GW_PRECOND_PASS;
    if (!body) {
        /* HEAD, 304, 412, 416 or an empty object: the plan says it all. */
        gw_plan_free(plan);
        object_head(r, r->total, r->etag, r->last_modified, r->content_type, stored_at);
        return;
    }
    r->asm_ = gw_asm_new(c, plan, r->nranges > 0 ? GW_ASM_RANGES : 0, seg_event, r);
    gw_asm_range(r->asm_, r->parts[0].first, r->parts[0].last, 1);
    gw_asm_pump(r->asm_);
}

/* A MANIFEST entry's blob is mapped: its plan, then the answer. */
static void manifest_send(struct gw_req *r)
{
    struct gw_plan plan;
    int rc = gw_plan_decode((const unsigned char *)r->map->addr, (size_t)r->map->len, &plan);
    gw_blobmap_release(r->map);
    r->map = NULL;
    if (rc != 0) {
        gw_warn("req", "%s: the cached plan of %s cannot be read: fetching it again", r->c->peer,
                r->entry->name);
        hit_lost(r);
        return;
    }
    seg_start(r, &plan, r->entry->last_modified, r->entry->content_type, r->entry->stored_at,
              r->c->cache);
}

/* The blob's mapping is at hand: the head, then the body. */
static void hit_send(struct gw_req *r)
{
    if (r->entry->kind == GW_CACHE_KIND_MANIFEST) {
        manifest_send(r);
        return;
    }
    if (object_head(r, r->entry->size, r->entry->etag, r->entry->last_modified,
                    r->entry->content_type, r->entry->stored_at))
        return;
    hit_pump(r);
}

static void open_work(uv_work_t *w)
{
    struct gw_req *r = w->data;
    r->open_rc = gw_blobmap_open(r->w->srv->cache, r->entry, &r->map);
}

static void open_done(uv_work_t *w, int status)
{
    struct gw_req *r = w->data;
    GW_CHECK_MAGIC(r, REQ_MAGIC);
    r->opening = 0;
    if (status != 0 && r->open_rc == 0) r->open_rc = status;
    if (r->orphaned) {
        if (r->open_rc == 0 && r->map) gw_blobmap_release(r->map);
        r->magic = 0;
        free(r->entry);
        free(r);
        return;
    }
    if (r->open_rc != 0) {
        r->map = NULL;
        if (r->open_rc != -ENOENT)
            gw_warn("req", "%s: mapping %s: %s", r->c->peer, r->entry->name,
                    gw_strerror(r->open_rc));
        hit_lost(r);
        return;
    }
    hit_send(r);
}

/* Answer from the entry in r->entry, whose kind is OBJECT. */
/* A warm request's answer: no body, just what the cache made of it. */
static void respond_warm(struct gw_req *r, enum gw_cache_result how)
{
    struct gw_conn *c = r->c;
    c->cache = how;
    char extra[64];
    snprintf(extra, sizeof(extra), "X-Cache: %s\r\n", gw_cache_result_name(how));
    struct gw_buf b = {0};
    gw_http_head_begin(&b, 204);
    gw_buf_append(&b, extra, strlen(extra));
    gw_http_head_end(&b, c->keepalive, c->hreq.http_minor);
    c->resp_status = 204;
    gw_conn_write_buf(c, &b);
    gw_conn_end_response(c);
}

static void serve_entry(struct gw_req *r, enum gw_cache_result how)
{
    struct gw_conn *c = r->c;
    c->cache = how;
    r->mode = MODE_HIT;
    gw_cache_touch(c->w->srv->cache, r->key);
    int manifest = r->entry->kind == GW_CACHE_KIND_MANIFEST;
    if (r->warm && !manifest) {
        respond_warm(r, how);
        return;
    }
    plan_ranges(r, r->entry->size, r->entry->etag, r->entry->last_modified);
    /* A large object's answer needs its plan, which is in the blob. */
    int body = manifest || (!r->head_only && r->nranges >= 0 && r->nparts > 0 &&
                            gw_cond_evaluate(&c->hreq, r->entry->etag,
                                             r->entry->last_modified) == GW_PRECOND_PASS);
    if (!body) {
        /* 304, 412, 416, HEAD or an empty body: the index says it all. */
        object_head(r, r->entry->size, r->entry->etag, r->entry->last_modified,
                    r->entry->content_type, r->entry->stored_at);
        return;
    }
    /* A hot blob is mapped already; a cold one is opened off the loop. */
    r->map = gw_blobmap_get(r->key, r->entry->blob_id);
    if (r->map) {
        hit_send(r);
        return;
    }
    r->work.data = r;
    r->opening = 1;
    if (uv_queue_work(&c->w->loop, &r->work, open_work, open_done) != 0) {
        r->opening = 0;
        hit_lost(r);
    }
}

/* ---- follow: the body from a fill, as it arrives ---- */

static int stale_usable(struct gw_req *r)
{
    const struct gw_conf *conf = r->c->w->srv->conf;
    if (r->entry == NULL || !servable(r->entry->kind)) return 0;
    int64_t expired_for = gw_wall_ms() - (r->entry->stored_at + (int64_t)conf->ttl_ms);
    return expired_for <= (int64_t)conf->stale_if_error_ms;
}

static void follow_leave(struct gw_req *r)
{
    if (!r->following) return;
    r->following = 0;
    gw_fill_leave(&r->reader);
}

static void direct_start(struct gw_req *r)
{
    r->mode = MODE_DIRECT;
    r->c->cache = GW_CACHE_PASS;
    fetch_begin(r);
}

/*
 * Send what the fill has of the one part (the whole body or one range).
 * Until the fill is verified the part's last byte is held back, so no
 * answer is ever complete before its bytes are known good.
 */
static void follow_pump(struct gw_req *r, const struct gw_fill_info *info)
{
    struct gw_conn *c = r->c;
    const uint64_t chunk = 65536;
    const struct gw_range *rg = &r->parts[0];
    uint64_t end = rg->last + 1;
    uint64_t limit = info->readable < end ? info->readable : end;
    if (info->state != GW_FILL_VERIFIED && limit == end) limit = end - 1;
    uint64_t pos = rg->first + r->part_off;
    while (pos < limit && !gw_conn_congested(c)) {
        uint64_t n = limit - pos;
        if (n > chunk) n = chunk;
        struct gw_buf b = {0};
        b.data = gw_malloc((size_t)n);
        b.cap = (size_t)n;
        long got = gw_fill_read(&r->reader, pos, b.data, n);
        if (got <= 0) {
            gw_buf_free(&b);
            gw_warn("req", "%s: reading the fill of %s: %s", c->peer, r->name,
                    got < 0 ? strerror((int)-got) : "short read");
            follow_leave(r);
            gw_conn_abort(c);
            return;
        }
        b.len = (size_t)got;
        pos += (uint64_t)got;
        r->part_off += (uint64_t)got;
        r->sent += (uint64_t)got;
        c->resp_bytes = r->sent;
        gw_conn_write_buf(c, &b);
    }
    if (pos == end) {
        follow_leave(r);
        gw_conn_end_response(c);
        return;
    }
    if (pos < limit) c->want_drain = 1;
}

static void on_fill_event(struct gw_fill_reader *rd)
{
    struct gw_req *r = (struct gw_req *)((char *)rd - offsetof(struct gw_req, reader));
    GW_CHECK_MAGIC(r, REQ_MAGIC);
    struct gw_conn *c = r->c;
    struct gw_fill_info info;
    gw_fill_info(rd, &info);
    c->origin_ms = info.origin_ms;

    switch (info.state) {
    case GW_FILL_HEAD:
        return;
    case GW_FILL_NOT_MODIFIED:
        follow_leave(r);
        /* The entry stands (its stored_at is being refreshed).  A request
         * that joined without one reads it now. */
        if (r->entry == NULL) {
            r->entry = gw_malloc(sizeof(*r->entry));
            if (gw_cache_get(c->w->srv->cache, r->key, r->entry) != 0 ||
                !servable(r->entry->kind)) {
                free(r->entry);
                r->entry = NULL;
                hit_lost(r);
                return;
            }
        }
        r->entry->stored_at = gw_wall_ms();
        /* Only the request that asked Swift revalidated; joiners hit. */
        serve_entry(r, r->reader.primary ? GW_CACHE_REVALIDATED : GW_CACHE_HIT);
        return;
    case GW_FILL_NOT_FOUND:
        follow_leave(r);
        finish_error(r, 404, "no such fractal");
        return;
    case GW_FILL_UNCACHEABLE:
        follow_leave(r);
        if (r->warm) {
            respond_warm(r, GW_CACHE_PASS); /* nothing could be cached */
            return;
        }
        direct_start(r);
        return;
    case GW_FILL_FAILED:
        follow_leave(r);
        if (r->head_sent) {
            gw_conn_abort(c);
        } else if (stale_usable(r)) {
            serve_entry(r, GW_CACHE_STALE);
        } else {
            finish_error(r, info.error_status ? info.error_status : 502,
                         info.error_status == 504 ? "Swift timed out"
                                                  : "Swift unreachable or failed");
        }
        return;
    case GW_FILL_MANIFEST: {
        /* A large object: its plan, then its segments. */
        struct gw_plan plan;
        int rc = gw_fill_plan(rd, &plan);
        int primary = r->reader.primary;
        follow_leave(r);
        if (rc != 0) {
            finish_error(r, 502, "bad large object manifest");
            return;
        }
        free(r->entry);
        r->entry = NULL;
        seg_start(r, &plan, info.last_modified, info.content_type, primary ? 0 : gw_wall_ms(),
                  primary ? GW_CACHE_MISS : GW_CACHE_HIT);
        return;
    }
    case GW_FILL_BODY:
    case GW_FILL_VERIFIED:
        break;
    }
    if (r->warm) {
        /* The answer waits until the object is in the cache. */
        if (info.state == GW_FILL_VERIFIED) {
            follow_leave(r);
            respond_warm(r, r->reader.primary ? GW_CACHE_MISS : GW_CACHE_HIT);
        }
        return;
    }
    if (!r->head_sent) {
        /* Only the request that started the fill missed; the others are
         * served from the cache as it fills (Varnish: a hit on a busy
         * object). */
        if (!r->reader.primary) c->cache = GW_CACHE_HIT;
        plan_ranges(r, info.length, info.etag, info.last_modified);
        if (r->multipart) {
            /* Several ranges wait for the whole object, then go as a hit. */
            if (info.state != GW_FILL_VERIFIED) return;
            follow_leave(r);
            r->entry = r->entry ? r->entry : gw_malloc(sizeof(*r->entry));
            if (gw_cache_get(c->w->srv->cache, r->key, r->entry) == 0 &&
                r->entry->kind == GW_CACHE_KIND_OBJECT) {
                serve_entry(r, c->cache);
                return;
            }
            /* Not in the index after all (the commit failed): the whole body. */
            free(r->entry);
            r->entry = NULL;
            finish_error(r, 503, "object not available; try again");
            return;
        }
        if (object_head(r, info.length, info.etag, info.last_modified, info.content_type,
                        r->reader.primary ? 0 : gw_wall_ms())) {
            follow_leave(r);
            return;
        }
    }
    follow_pump(r, &info);
}

static int on_takeover(struct gw_fill_reader *rd, struct gw_fetch *fe, long status, int *rc)
{
    struct gw_req *r = (struct gw_req *)((char *)rd - offsetof(struct gw_req, reader));
    GW_CHECK_MAGIC(r, REQ_MAGIC);
    /* A HEAD would take a whole GET body, and a conditional or ranged GET
     * needs Swift to see its headers: they ask Swift on their own. */
    if (r->head_only || r->warm || has_conditionals(r->c)) return 0;
    follow_leave(r);
    r->mode = MODE_DIRECT;
    r->c->cache = GW_CACHE_PASS;
    r->fetch = fe;
    r->taken_over = 1;
    gw_stats_fills(1);
    gw_fetch_retarget(fe, &fetch_cbs, r);
    *rc = on_headers(r, fe, status);
    return 1;
}

static void follow_start(struct gw_req *r, int revalidate)
{
    struct gw_conn *c = r->c;
    r->mode = MODE_FOLLOW;
    c->cache = GW_CACHE_MISS;
    r->reader.on_event = on_fill_event;
    r->reader.on_takeover = on_takeover;
    r->following = 1;
    struct gw_fill_spec spec = {.object = r->name,
                                .revalidate_etag = revalidate ? r->entry->etag : NULL};
    gw_fill_join(c->w, r->key, &spec, &r->reader);
}

/* ---- a cold Range far into the object ---- */

static int far_range(struct gw_req *r)
{
    const struct gw_conf *conf = r->c->w->srv->conf;
    size_t n;
    const char *v = gw_http_header(&r->c->hreq, "Range", &n);
    if (conf->range_passthrough == 0 || v == NULL || r->head_only || r->warm) return 0;
    struct gw_range rg[GW_RANGES_MAX];
    /* Against an unknown length, a suffix range counts as far in. */
    return gw_cond_parse_ranges(v, n, UINT64_MAX, rg) == 1 &&
           rg[0].first >= conf->range_passthrough;
}

/* Swift answers the Range; the whole object fills behind it if configured. */
static void range_passthrough(struct gw_req *r)
{
    struct gw_conn *c = r->c;
    if (c->w->srv->conf->range_fill) {
        struct gw_fill_spec spec = {.object = r->name};
        gw_fill_prefetch(c->w, r->key, &spec);
    }
    r->passthrough = 1;
    direct_start(r);
}

/* ---- entry points ---- */

static void on_drain(struct gw_req *r)
{
    GW_CHECK_MAGIC(r, REQ_MAGIC);
    switch (r->mode) {
    case MODE_DIRECT:
        if (r->fetch) gw_fetch_resume(r->fetch);
        break;
    case MODE_HIT:
        if (r->map) hit_pump(r);
        break;
    case MODE_FOLLOW:
        if (r->following) on_fill_event(&r->reader);
        break;
    case MODE_SEGMENTED:
        if (r->asm_) gw_asm_pump(r->asm_);
        break;
    case MODE_NONE:
        break;
    }
}

/* A request of c for object `name`, owned by c from now on. */
static struct gw_req *req_new(struct gw_conn *c, const char *name)
{
    struct gw_req *r = gw_calloc(1, sizeof(*r));
    r->magic = REQ_MAGIC;
    r->c = c;
    r->w = c->w;
    snprintf(r->name, sizeof(r->name), "%s", name);
    c->req = r;
    return r;
}

void gw_req_fractal(struct gw_conn *c, const char *name, int head_only)
{
    struct gw_req *r = req_new(c, name);
    r->head_only = head_only;
    r->wait.cb = on_token;
    c->req = r;
    c->on_drain = on_drain;

    size_t wl;
    const char *wv = gw_http_header(&c->hreq, "X-Swiftgate-Warm", &wl);
    r->warm = wv && wl == 1 && wv[0] == '1' && !head_only;

    struct gw_cache *cache = c->w->srv->cache;
    if (cache == NULL) {
        if (r->warm) {
            finish_error(r, 409, "no cache configured to warm");
            return;
        }
        direct_start(r);
        return;
    }
    const struct gw_conf *conf = c->w->srv->conf;
    gw_cache_key(conf->container, name, r->key);
    r->entry = gw_malloc(sizeof(*r->entry));
    if (gw_cache_get(cache, r->key, r->entry) != 0) {
        free(r->entry);
        r->entry = NULL;
        if (far_range(r))
            range_passthrough(r);
        else
            follow_start(r, 0);
        return;
    }
    int64_t age = gw_wall_ms() - r->entry->stored_at;
    if (r->entry->kind == GW_CACHE_KIND_NEGATIVE) {
        if (age < (int64_t)conf->negative_ttl_ms) {
            c->cache = GW_CACHE_HIT;
            finish_error(r, 404, "no such fractal");
            return;
        }
        free(r->entry);
        r->entry = NULL;
        follow_start(r, 0);
        return;
    }
    if (!servable(r->entry->kind)) {
        free(r->entry);
        r->entry = NULL;
        follow_start(r, 0);
        return;
    }
    if (age < (int64_t)conf->ttl_ms) {
        serve_entry(r, GW_CACHE_HIT);
        return;
    }
    follow_start(r, 1);
}

/* ---- purge (admin) ---- */

static void purge_work(uv_work_t *w)
{
    struct gw_req *r = w->data;
    r->purge_rc = gw_cache_remove(r->w->srv->cache, r->key);
}

static void purge_done(uv_work_t *w, int status)
{
    struct gw_req *r = w->data;
    GW_CHECK_MAGIC(r, REQ_MAGIC);
    r->opening = 0;
    if (r->orphaned) {
        r->magic = 0;
        free(r);
        return;
    }
    if (status != 0)
        finish_error(r, 500, "purge failed");
    else if (r->purge_rc == 0)
        finish_error(r, 200, "purged");
    else if (r->purge_rc == GW_ENOTFOUND)
        finish_error(r, 404, "not cached");
    else
        finish_error(r, 500, gw_strerror(r->purge_rc));
}

void gw_req_purge(struct gw_conn *c, const char *name)
{
    struct gw_cache *cache = c->w->srv->cache;
    if (cache == NULL) {
        gw_respond_simple(c, 404, "no cache configured", NULL);
        return;
    }
    struct gw_req *r = req_new(c, name);
    gw_cache_key(c->w->srv->conf->container, name, r->key);
    r->work.data = r;
    r->opening = 1;
    if (uv_queue_work(&c->w->loop, &r->work, purge_work, purge_done) != 0) {
        r->opening = 0;
        finish_error(r, 500, "purge failed");
    }
}

void gw_req_free(struct gw_req *r)
{
    GW_CHECK_MAGIC(r, REQ_MAGIC);
    if (r->fetch) {
        gw_fetch_cancel(r->fetch);
        gw_stats_fills(-1);
    }
    if (r->wait.queued && r->w->swift) gw_swift_wait_cancel(r->w->swift, &r->wait);
    follow_leave(r);
    gw_asm_free(r->asm_);
    r->asm_ = NULL;
    if (r->map && !r->opening) gw_blobmap_release(r->map);
    gw_swift_creds_free(&r->creds);
    if (r->opening) {
        /* uv_fs_open is in the thread pool: on_open frees r. */
        r->orphaned = 1;
        return;
    }
    free(r->entry);
    r->magic = 0;
    free(r);
}
