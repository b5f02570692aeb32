/*
 * req.c - the /fractal/<uuid> request: token, origin fetch, response.
 *
 *   start -> [wait for a token] -> fetch -> headers -> body ... -> done
 *                  ^                  |
 *                  +---- 401, once ---+
 *
 * The body is streamed to the client as it arrives, never held whole: when
 * the connection's write queue passes its high watermark the fetch is
 * paused, and resumed when the queue drains.  The response head goes out
 * with the first body bytes, except that an object Swift calls
 * application/octet-stream waits for its first 16 bytes, whose magic number
 * tells the real type (the Fractals tutorial's backups store PNGs that way).
 * A HEAD of such an object asks Swift for those 16 bytes with a Range.
 *
 * Once the head is out, a failure can only cut the connection: the client
 * sees fewer bytes than Content-Length and knows the body is incomplete.
 * The request never closes the connection itself (gw_conn_abort only marks
 * it) and is freed by the connection through gw_req_free().
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf.h"
#include "http.h"
#include "origin.h"
#include "req.h"
#include "server.h"
#include "stats.h"
#include "swift.h"
#include "util.h"

#define REQ_MAGIC 0x52455155u
#define SNIFF_BYTES 16

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
};

static void fetch_begin(struct gw_req *r);

/* ---- small helpers ---- */

static void copy_header(char *dst, size_t cap, const char *v)
{
    snprintf(dst, cap, "%s", v ? v : "");
}

/* Swift's ETag, without quotes (plain objects have none, manifests do). */
static void copy_etag(char *dst, size_t cap, const char *v)
{
    if (v == NULL) {
        dst[0] = '\0';
        return;
    }
    size_t n = strlen(v);
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
        v++;
        n -= 2;
    }
    if (n >= cap) n = cap - 1;
    memcpy(dst, v, n);
    dst[n] = '\0';
}

static int is_octet_stream(const char *ct)
{
    return ct[0] == '\0' || strncasecmp(ct, "application/octet-stream", 24) == 0;
}

/* The image type the first bytes announce, or NULL. */
static const char *sniff_type(const unsigned char *p, size_t n)
{
    if (n >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0) return "image/png";
    if (n >= 3 && memcmp(p, "\xff\xd8\xff", 3) == 0) return "image/jpeg";
    if (n >= 6 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0))
        return "image/gif";
    if (n >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0)
        return "image/webp";
    return NULL;
}

static void send_head(struct gw_req *r)
{
    struct gw_conn *c = r->c;
    const char *ct = r->content_type;
    if (r->need_sniff) {
        const char *t = sniff_type(r->sniff, r->sniff_len);
        ct = t ? t : "application/octet-stream";
    }
    struct gw_buf b = {0};
    gw_http_head_begin(&b, 200);
    gw_buf_printf(&b, "Content-Type: %s\r\nContent-Length: %llu\r\n", ct,
                  (unsigned long long)r->length);
    if (r->etag[0]) gw_buf_printf(&b, "ETag: \"%s\"\r\n", r->etag);
    if (r->last_modified[0]) gw_buf_printf(&b, "Last-Modified: %s\r\n", r->last_modified);
    gw_http_head_end(&b, c->keepalive, c->hreq.http_minor);
    c->resp_status = 200;
    gw_conn_write_buf(c, &b);
    r->head_sent = 1;
}

static void finish_error(struct gw_req *r, int status, const char *reason)
{
    gw_respond_simple(r->c, status, reason, NULL);
}

/* ---- fetch callbacks ---- */

static int parse_u64(const char *s, uint64_t *out)
{
    if (s == NULL || *s < '0' || *s > '9') return -1;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0') return -1;
    *out = v;
    return 0;
}

static int on_headers(void *ud, struct gw_fetch *f, long status)
{
    struct gw_req *r = ud;
    GW_CHECK_MAGIC(r, REQ_MAGIC);
    r->origin_status = status;
    r->c->origin_ms = gw_fetch_ttfb_ms(f);
    gw_stats_origin("object", (int)status, r->c->origin_ms);

    if (status == 401 && r->auth_retries == 0) {
        r->retry_auth = 1;
        r->discard = 1;
        return 0;
    }
    if (status == 404) {
        r->error_status = 404;
        r->error_reason = "no such fractal";
        r->discard = 1;
        return 0;
    }
    int ok = status == 200 || (r->sniff_fetch && status == 206);
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

    copy_etag(r->etag, sizeof(r->etag), gw_fetch_header(f, "ETag"));
    copy_header(r->last_modified, sizeof(r->last_modified), gw_fetch_header(f, "Last-Modified"));
    copy_header(r->content_type, sizeof(r->content_type), gw_fetch_header(f, "Content-Type"));
    if (parse_u64(gw_fetch_header(f, "Content-Length"), &r->length) != 0) {
        /* Without a length the client could not tell a cut body from a whole one. */
        gw_warn("req", "%s: Swift sent %s without a Content-Length", r->c->peer, r->name);
        r->error_status = 502;
        r->error_reason = "Swift sent no Content-Length";
        r->discard = 1;
        return GW_EORIGIN;
    }
    r->need_sniff = is_octet_stream(r->content_type) && r->length > 0;
    if (!r->head_only && !r->need_sniff) send_head(r);
    return 0;
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
        gw_conn_write(c, r->sniff, r->sniff_len);
    }
    gw_conn_write(c, buf, len);
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
    if (err != 0 && r->origin_status == 0) gw_stats_origin("object", 0, 0);
    if (err == GW_ETIMEOUT)
        gw_stats_error(GW_ERR_ORIGIN_TIMEOUT);
    else if (err == GW_ESHORT || (err == 0 && !r->discard && !r->head_only &&
                                  r->body_sent != r->length))
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
        gw_swift_wait(c->w->swift, &r->wait);
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
        gw_conn_write(c, r->sniff, r->sniff_len);
        c->resp_bytes = r->body_sent;
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
    if (r->creds.storage_url == NULL && gw_swift_creds(c->w->srv->swift, &r->creds) != 0) {
        gw_swift_wait(c->w->swift, &r->wait);
        return;
    }
    char *url = gw_swift_object_url(r->creds.storage_url, conf->container, r->name);
    const char *method = (r->head_only && !r->sniff_fetch) ? "HEAD" : "GET";
    struct gw_fetch *f = gw_fetch_new(c->w->origin, method, url, &fetch_cbs, r);
    free(url);
    if (r->creds.token[0]) {
        char *h = gw_asprintf("X-Auth-Token: %s", r->creds.token);
        gw_fetch_add_header(f, h);
        free(h);
    }
    if (r->sniff_fetch) gw_fetch_add_header(f, "Range: bytes=0-15");
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

static void on_drain(struct gw_req *r)
{
    GW_CHECK_MAGIC(r, REQ_MAGIC);
    if (r->fetch) gw_fetch_resume(r->fetch);
}

void gw_req_fractal(struct gw_conn *c, const char *name, int head_only)
{
    struct gw_req *r = gw_calloc(1, sizeof(*r));
    r->magic = REQ_MAGIC;
    r->c = c;
    r->w = c->w;
    snprintf(r->name, sizeof(r->name), "%s", name);
    r->head_only = head_only;
    r->wait.cb = on_token;
    c->req = r;
    c->on_drain = on_drain;
    c->cache = GW_CACHE_MISS;
    fetch_begin(r);
}

void gw_req_free(struct gw_req *r)
{
    GW_CHECK_MAGIC(r, REQ_MAGIC);
    if (r->fetch) {
        gw_fetch_cancel(r->fetch);
        gw_stats_fills(-1);
    }
    if (r->wait.queued && r->w->swift) gw_swift_wait_cancel(r->w->swift, &r->wait);
    gw_swift_creds_free(&r->creds);
    r->magic = 0;
    free(r);
}
