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
 *           length, a large object): the request fetches from Swift itself
 *           and streams the body through, pausing the fetch while the
 *           client's write queue is over its high watermark.
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
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache.h"
#include "conf.h"
#include "fill.h"
#include "http.h"
#include "origin.h"
#include "req.h"
#include "server.h"
#include "stats.h"
#include "swift.h"
#include "util.h"

#define REQ_MAGIC 0x52455155u
#define SNIFF_BYTES GW_SNIFF_BYTES

/* An mmap'd blob, shared by the slices queued on the connection. */
struct blobmap {
    int refs;
    void *addr;
    size_t len;
};

enum req_mode { MODE_NONE, MODE_HIT, MODE_FOLLOW, MODE_DIRECT };

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
    int chunked;                /* ...so the client gets chunked encoding */

    /* The cache ways. */
    enum req_mode mode;
    uint8_t key[GW_CACHE_KEY_LEN];
    struct gw_cache_entry *entry;   /* the index entry, when there is one */
    int restarts;                   /* blob gone under us: look again, boundedly */
    struct gw_fill_reader reader;
    int following;
    struct blobmap *map;
    uint64_t sent;                  /* body bytes queued (hit and follow) */
    uv_fs_t open_req;
    uv_work_t work;                 /* purge */
    int purge_rc;
    int opening;                    /* open_req or work is in the thread pool */
    int orphaned;                   /* freed meanwhile: the pool's callback frees */
};

static void fetch_begin(struct gw_req *r);

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
    struct gw_buf b = {0};
    gw_http_head_begin(&b, 200);
    gw_buf_printf(&b, "Content-Type: %s\r\n", ct);
    if (!r->no_length)
        gw_buf_printf(&b, "Content-Length: %llu\r\n", (unsigned long long)r->length);
    else if (r->chunked && !r->head_only)
        gw_buf_printf(&b, "Transfer-Encoding: chunked\r\n");
    if (r->etag[0]) gw_buf_printf(&b, "ETag: \"%s\"\r\n", r->etag);
    if (r->last_modified[0]) gw_buf_printf(&b, "Last-Modified: %s\r\n", r->last_modified);
    gw_buf_printf(&b, "X-Cache: %s\r\n", gw_cache_result_name(c->cache));
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
    r->need_sniff = gw_is_octet_stream(r->content_type) && r->length > 0;
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

/* ---- the response head of the cache ways ---- */

static void cached_head(struct gw_req *r, uint64_t length, const char *etag, const char *lm,
                        const char *ct, int64_t stored_at)
{
    struct gw_conn *c = r->c;
    struct gw_buf b = {0};
    gw_http_head_begin(&b, 200);
    gw_buf_printf(&b, "Content-Type: %s\r\nContent-Length: %llu\r\n",
                  ct[0] ? ct : "application/octet-stream", (unsigned long long)length);
    if (etag[0]) gw_buf_printf(&b, "ETag: \"%s\"\r\n", etag);
    if (lm[0]) gw_buf_printf(&b, "Last-Modified: %s\r\n", lm);
    if (stored_at > 0) {
        int64_t age = (gw_wall_ms() - stored_at) / 1000;
        gw_buf_printf(&b, "Age: %lld\r\n", (long long)(age > 0 ? age : 0));
    }
    gw_buf_printf(&b, "X-Cache: %s\r\n", gw_cache_result_name(c->cache));
    gw_http_head_end(&b, c->keepalive, c->hreq.http_minor);
    c->resp_status = 200;
    gw_conn_write_buf(c, &b);
    r->head_sent = 1;
}

/* ---- hit: the body from an mmap'd blob ---- */

static void map_release(void *arg)
{
    struct blobmap *m = arg;
    if (--m->refs > 0) return;
    if (m->addr) munmap(m->addr, m->len);
    free(m);
}

static void hit_pump(struct gw_req *r)
{
    struct gw_conn *c = r->c;
    const uint64_t slice = c->w->srv->conf->write_buffer;
    while (r->sent < r->map->len && !gw_conn_congested(c)) {
        uint64_t n = r->map->len - r->sent;
        if (n > slice) n = slice;
        r->map->refs++;
        gw_conn_write_ref(c, (char *)r->map->addr + r->sent, (size_t)n, map_release, r->map);
        r->sent += n;
        c->resp_bytes = r->sent;
    }
    if (r->sent == r->map->len)
        gw_conn_end_response(c);
    else
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

static void on_open(uv_fs_t *req)
{
    struct gw_req *r = req->data;
    GW_CHECK_MAGIC(r, REQ_MAGIC);
    int fd = (int)req->result;
    uv_fs_req_cleanup(req);
    r->opening = 0;
    if (r->orphaned) {
        if (fd >= 0) close(fd);
        r->magic = 0;
        free(r->entry);
        free(r);
        return;
    }
    if (fd < 0) {
        hit_lost(r);
        return;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || (uint64_t)st.st_size != r->entry->size) {
        close(fd);
        hit_lost(r);
        return;
    }
    void *addr = mmap(NULL, r->entry->size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (addr == MAP_FAILED) {
        gw_warn("req", "%s: mmap %s: %s", r->c->peer, r->entry->name, strerror(errno));
        hit_lost(r);
        return;
    }
    r->map = gw_calloc(1, sizeof(*r->map));
    r->map->refs = 1;
    r->map->addr = addr;
    r->map->len = r->entry->size;
    cached_head(r, r->entry->size, r->entry->etag, r->entry->last_modified,
                r->entry->content_type, r->entry->stored_at);
    hit_pump(r);
}

/* Answer from the entry in r->entry, whose kind is OBJECT. */
static void serve_entry(struct gw_req *r, enum gw_cache_result how)
{
    struct gw_conn *c = r->c;
    c->cache = how;
    r->mode = MODE_HIT;
    gw_cache_touch(c->w->srv->cache, r->key);
    if (r->head_only || r->entry->size == 0) {
        cached_head(r, r->entry->size, r->entry->etag, r->entry->last_modified,
                    r->entry->content_type, r->entry->stored_at);
        gw_conn_end_response(c);
        return;
    }
    char path[1024];
    if (gw_cache_blob_path(c->w->srv->cache, r->entry, path, sizeof(path)) != 0) {
        hit_lost(r);
        return;
    }
    /* Opening a cold file may wait for the disk: not on the loop. */
    r->open_req.data = r;
    r->opening = 1;
    if (uv_fs_open(&c->w->loop, &r->open_req, path, O_RDONLY | O_CLOEXEC, 0, on_open) != 0) {
        r->opening = 0;
        hit_lost(r);
    }
}

/* ---- follow: the body from a fill, as it arrives ---- */

static int stale_usable(struct gw_req *r)
{
    const struct gw_conf *conf = r->c->w->srv->conf;
    if (r->entry == NULL || r->entry->kind != GW_CACHE_KIND_OBJECT) return 0;
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

static void follow_pump(struct gw_req *r, const struct gw_fill_info *info)
{
    struct gw_conn *c = r->c;
    const uint64_t chunk = 65536;
    while (r->sent < info->readable && !gw_conn_congested(c)) {
        uint64_t n = info->readable - r->sent;
        if (n > chunk) n = chunk;
        struct gw_buf b = {0};
        b.data = gw_malloc((size_t)n);
        b.cap = (size_t)n;
        long got = gw_fill_read(&r->reader, r->sent, b.data, n);
        if (got <= 0) {
            gw_buf_free(&b);
            gw_warn("req", "%s: reading the fill of %s: %s", c->peer, r->name,
                    got < 0 ? strerror((int)-got) : "short read");
            follow_leave(r);
            gw_conn_abort(c);
            return;
        }
        b.len = (size_t)got;
        r->sent += (uint64_t)got;
        c->resp_bytes = r->sent;
        gw_conn_write_buf(c, &b);
    }
    if (info->state == GW_FILL_VERIFIED && r->sent == info->length) {
        follow_leave(r);
        gw_conn_end_response(c);
        return;
    }
    if (r->sent < info->readable) c->want_drain = 1;
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
                r->entry->kind != GW_CACHE_KIND_OBJECT) {
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
    case GW_FILL_BODY:
    case GW_FILL_VERIFIED:
        break;
    }
    if (!r->head_sent) {
        /* Only the request that started the fill missed; the others are
         * served from the cache as it fills (Varnish: a hit on a busy
         * object). */
        if (!r->reader.primary) c->cache = GW_CACHE_HIT;
        cached_head(r, info.length, info.etag, info.last_modified, info.content_type,
                    r->reader.primary ? 0 : gw_wall_ms());
        if (r->head_only || info.length == 0) {
            if (!r->head_only && info.state != GW_FILL_VERIFIED) return; /* wait for it */
            follow_leave(r);
            gw_conn_end_response(c);
            return;
        }
    }
    if (info.length == 0) {
        if (info.state == GW_FILL_VERIFIED) {
            follow_leave(r);
            gw_conn_end_response(c);
        }
        return;
    }
    follow_pump(r, &info);
}

static int on_takeover(struct gw_fill_reader *rd, struct gw_fetch *fe, long status, int *rc)
{
    struct gw_req *r = (struct gw_req *)((char *)rd - offsetof(struct gw_req, reader));
    GW_CHECK_MAGIC(r, REQ_MAGIC);
    /* A HEAD would take a whole GET body: it asks Swift on its own. */
    if (r->head_only) return 0;
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
    gw_fill_join(c->w, r->key, r->name, revalidate ? r->entry->etag : NULL, &r->reader);
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
    case MODE_NONE:
        break;
    }
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

    struct gw_cache *cache = c->w->srv->cache;
    if (cache == NULL) {
        direct_start(r);
        return;
    }
    const struct gw_conf *conf = c->w->srv->conf;
    gw_cache_key(conf->container, name, r->key);
    r->entry = gw_malloc(sizeof(*r->entry));
    if (gw_cache_get(cache, r->key, r->entry) != 0) {
        free(r->entry);
        r->entry = NULL;
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
    if (r->entry->kind != GW_CACHE_KIND_OBJECT) {
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
    struct gw_req *r = gw_calloc(1, sizeof(*r));
    r->magic = REQ_MAGIC;
    r->c = c;
    r->w = c->w;
    snprintf(r->name, sizeof(r->name), "%s", name);
    c->req = r;
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
    if (r->map) map_release(r->map);
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
