/*
 * upload.c - PUT /fractal/<uuid>: a client's body streamed to Swift and
 * written through to the cache (upload.h).
 *
 * The body's way: the connection (bodyin.c) -> u->buf (UPLOAD_BUF bytes)
 * -> curl's read callback -> Swift, chunked.  Backpressure both ways: the
 * connection reads only while u->buf has room, and curl's read callback
 * pauses while it is empty; each side wakes the other.  So an upload costs
 * UPLOAD_BUF and the connection's stash, whatever its size.
 *
 * A body whose Content-Length is over [swift] segment_size, and a chunked
 * body (whose size is known only at its end), go to upload_slo.c instead,
 * from the start; so the body this file streams has a Content-Length.
 *
 * On the way in, every byte goes into the MD5 and, when the cache is on,
 * into a temp blob (reserved in steps against max_size; an object past
 * max_object_size, or a refused reservation, is simply not cached).
 *
 * Invariants:
 *  - Swift gets the last chunk (curl's read callback returns 0) only when
 *    the body is whole and matches the client's Content-MD5 or ETag.  Any
 *    failure before that cancels the transfer mid-body, so Swift, which
 *    stores a chunked object only once its last chunk came, keeps nothing.
 *  - The cache entry is committed only after Swift's 201 with an ETag equal
 *    to the MD5 of the bytes in the temp blob; anything else unlinks it.
 *    The commit replaces the entry by rename and index update: readers of
 *    the old blob finish with the old bytes, readers after get the new.
 *  - The answer (201 or the error) is queued once; the connection frees u
 *    through release() (writereq.h), deferred while a commit runs in the
 *    thread pool.
 */
#include "upload.h"
#include "upload_int.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <uv.h>

#include "cache.h"
#include "conf.h"
#include "http.h"
#include "neg.h"
#include "origin.h"
#include "respond.h"
#include "services.h"
#include "sink.h"
#include "sniff.h"
#include "stats.h"
#include "swift.h"
#include "util.h"
#include "writereq.h"

#define UPLOAD_MAGIC 0x55504c44u

struct gw_upload {
    struct gw_writereq w;       /* first: the sink's owner */
    uint32_t magic;
    int q_started;
    struct gw_upload_buf b;
    int curl_waiting;           /* curl's read callback paused on an empty buf */
    int body_whole;             /* the body came whole and matched the client's digest */
    uint64_t bytes;
    EVP_MD_CTX *md5;
    char md5hex[33];
    char want_md5[33];          /* the client's Content-MD5 or ETag as hex; "" none */
    char ctype[128];
    int need_sniff;             /* the client gave no type, or octet-stream */
    struct gw_sniff sniff;
    int fd;                     /* the temp blob, -1: not cached */
    char tmp[512];
    uint64_t reserved;
    long status;                /* Swift's */
    char swift_etag[80];
    char last_modified[64];
    uv_work_t work;
    struct gw_cache_entry entry;
    int commit_rc;
};

static struct gw_upload *up_of(void *ud)
{
    struct gw_upload *u = ud;
    GW_CHECK_MAGIC(u, UPLOAD_MAGIC);
    return u;
}

/* ---- the temp blob ---- */

static void tee_drop(struct gw_upload *u)
{
    if (u->fd < 0) return;
    close(u->fd);
    unlink(u->tmp);
    u->fd = -1;
    if (u->reserved) gw_cache_unreserve(u->w.svc->cache, u->reserved);
    u->reserved = 0;
}

static void tee_open(struct gw_upload *u)
{
    const struct gw_http_req *r = gw_sink_request(u->w.s);
    size_t n;
    const char *cl = gw_http_header(r, "Content-Length", &n);
    uint64_t announced = cl ? strtoull(cl, NULL, 10) : 0;
    u->fd = -1;
    if (u->w.svc->cache == NULL || announced > u->w.svc->conf->max_object_size) return;
    uint64_t want = cl ? announced : UPLOAD_RESERVE_STEP;
    if (want > 0 && gw_cache_reserve(u->w.svc->cache, want, 0) != 0) return;
    u->reserved = want;
    u->fd = gw_cache_tmp_open(u->w.svc->cache, u->tmp, sizeof(u->tmp));
    if (u->fd < 0) {
        gw_cache_unreserve(u->w.svc->cache, want);
        u->reserved = 0;
        u->fd = -1;
    }
}

/* Body bytes into the temp blob; past a bound or on an error, no caching. */
static void tee_write(struct gw_upload *u, const char *data, size_t len)
{
    if (u->fd < 0) return;
    uint64_t end = u->bytes + len;
    if (end > u->w.svc->conf->max_object_size) {
        tee_drop(u);
        return;
    }
    if (end > u->reserved) {
        uint64_t more = end - u->reserved;
        if (more < UPLOAD_RESERVE_STEP) more = UPLOAD_RESERVE_STEP;
        if (gw_cache_reserve(u->w.svc->cache, more, 0) != 0) {
            tee_drop(u);
            return;
        }
        u->reserved += more;
    }
    int rc = gw_pwrite_all(u->fd, data, len, u->bytes);
    if (rc != 0) {
        gw_warn("upload", "%s: not cached: %s", u->w.name, gw_strerror(rc));
        gw_stats_error_for(GW_ERR_CACHE_WRITE, rc);
        tee_drop(u);
    }
}

/* ---- ending ---- */

static void up_free(struct gw_writereq *w)
{
    struct gw_upload *u = (struct gw_upload *)w;
    tee_drop(u);
    if (u->md5) EVP_MD_CTX_free(u->md5);
    free(u->b.buf);
    u->magic = 0;
    free(u);
}

/* The upload fails: Swift's transfer is cut before its last chunk. */
static void up_fail(struct gw_upload *u, int status, const char *reason,
                    enum gw_stats_error kind)
{
    if (u->w.answered) return;
    gw_info("upload", "%s: %d %s (%llu bytes in)", u->w.name, status, reason,
            (unsigned long long)u->bytes);
    gw_stats_error(kind);
    gw_swift_req_cancel(&u->w.q);
    tee_drop(u);
    gw_writereq_answer(&u->w, status, reason, NULL);
}

static void up_created(struct gw_upload *u)
{
    char extra[64];
    snprintf(extra, sizeof(extra), "ETag: \"%s\"\r\n", u->md5hex);
    gw_writereq_answer(&u->w, 201, "created", extra);
}

static void commit_work(uv_work_t *w)
{
    struct gw_upload *u = w->data;
    u->commit_rc = gw_cache_commit(u->w.svc->cache, &u->entry, u->tmp, u->fd);
}

static void commit_done(uv_work_t *w, int status)
{
    struct gw_upload *u = up_of(w->data);
    u->w.busy = 0;
    if (status != 0 || u->commit_rc != 0) {
        int err = status ? status : u->commit_rc;
        gw_warn("upload", "%s: stored in Swift, not cached: %s", u->w.name, gw_strerror(err));
        gw_stats_error_for(GW_ERR_CACHE_WRITE, err);
        if (u->commit_rc == 0) unlink(u->tmp); /* the commit never ran */
    }
    /* Renamed into blobs/, or unlinked by gw_cache_commit() or above. */
    u->tmp[0] = '\0';
    close(u->fd);
    u->fd = -1;
    gw_cache_unreserve(u->w.svc->cache, u->reserved);
    u->reserved = 0;
    if (gw_writereq_job_done(&u->w)) return;
    up_created(u);
}

/* Swift has it: the cache entry of what was verified, then 201. */
static void up_commit(struct gw_upload *u)
{
    if (u->w.svc->neg) gw_neg_forget(u->w.svc->neg, u->w.key);
    if (u->fd < 0) {
        up_created(u);
        return;
    }
    struct gw_cache_entry *e = &u->entry;
    memcpy(e->key, u->w.key, GW_CACHE_KEY_LEN);
    e->kind = GW_CACHE_KIND_OBJECT;
    e->size = u->bytes;
    e->stored_at = e->last_access = gw_wall_ms();
    memcpy(e->md5, u->md5hex, sizeof(e->md5));
    snprintf(e->etag, sizeof(e->etag), "%s", u->md5hex);
    snprintf(e->last_modified, sizeof(e->last_modified), "%s", u->last_modified);
    snprintf(e->content_type, sizeof(e->content_type), "%s", u->ctype);
    snprintf(e->name, sizeof(e->name), "%s/%s", u->w.svc->conf->container, u->w.name);
    u->w.busy = 1;
    u->work.data = u;
    if (uv_queue_work(u->w.svc->loop, &u->work, commit_work, commit_done) != 0) {
        u->commit_rc = GW_EORIGIN;
        commit_done(&u->work, 0);
    }
}

/* ---- Swift ---- */

static void up_prepare(void *ud, struct gw_fetch *f)
{
    struct gw_upload *u = up_of(ud);
    char line[200];
    if (u->want_md5[0]) {
        /* Swift checks it too, and answers 422 rather than store another body. */
        snprintf(line, sizeof(line), "ETag: %s", u->want_md5);
        gw_fetch_add_header(f, line);
    }
    gw_upload_put_headers(f, u->ctype, gw_sink_request(u->w.s));
}

static int up_on_headers(void *ud, struct gw_fetch *f, long status)
{
    struct gw_upload *u = up_of(ud);
    u->status = status;
    const char *etag = gw_fetch_header(f, "ETag"), *lm = gw_fetch_header(f, "Last-Modified");
    if (etag) gw_etag_unquote(u->swift_etag, sizeof(u->swift_etag), etag);
    if (lm) snprintf(u->last_modified, sizeof(u->last_modified), "%s", lm);
    return 0;
}

static int up_on_data(void *ud, const char *buf, size_t len)
{
    (void)ud, (void)buf, (void)len;
    return 0; /* Swift's few words on a PUT are not passed on */
}

/* The DELETE of an object Swift stored under another ETag is over. */
static void unstore_done(void *ud, struct gw_fetch *f, int err)
{
    struct gw_upload *u = up_of(ud);
    (void)f;
    int gone = err == 0 && (u->status == 204 || u->status == 404);
    up_fail(u, 502, gone ? "Swift's ETag does not match the body; nothing was stored"
                         : "Swift's ETag does not match the body, and Swift kept it",
            GW_ERR_UPLOAD_DIGEST);
}

static const struct gw_fetch_cbs unstore_cbs = {
    .on_headers = up_on_headers, .on_data = up_on_data, .on_done = unstore_done,
};

/*
 * Swift stored something other than the bytes sent (its ETag is not their
 * MD5): it must not stay, so it is deleted before the client hears of it.
 */
static void up_unstore(struct gw_upload *u)
{
    gw_warn("upload", "%s: Swift's ETag %s is not the body's MD5 %s: deleting it", u->w.name,
            u->swift_etag, u->md5hex);
    tee_drop(u);
    u->status = 0;
    if (gw_writereq_swift(&u->w, "DELETE", NULL, NULL, &unstore_cbs, u) != 0)
        unstore_done(u, NULL, GW_EORIGIN);
}

/* Swift's answer, or the reason there is none. */
static void up_on_done(void *ud, struct gw_fetch *f, int err)
{
    struct gw_upload *u = up_of(ud);
    (void)f;
    if (u->w.answered) return;
    if (err != 0)
        up_fail(u, gw_fetch_err_status(err),
                err == GW_EBUSY ? GW_FETCH_BUSY_REASON
                : err == GW_EAUTH ? "no token from Swift" : "Swift did not take the object",
                GW_ERR_UPLOAD_ABORTED);
    else if (u->status == 401)
        up_fail(u, 503, "Swift refused the gateway's token", GW_ERR_UPLOAD_ABORTED);
    else if (u->status == 422)
        up_fail(u, 422, "body does not match its ETag", GW_ERR_UPLOAD_DIGEST);
    else if (u->status != 201)
        up_fail(u, u->status == 413 ? 413 : 502, "Swift did not store the object",
                GW_ERR_UPLOAD_ABORTED);
    else if (!u->body_whole || strcasecmp(u->swift_etag, u->md5hex) != 0)
        up_unstore(u);
    else
        up_commit(u);
}

static size_t up_on_read(void *ud, char *buf, size_t len)
{
    struct gw_upload *u = up_of(ud);
    if (u->w.answered) return GW_FETCH_READ_ABORT;
    if (u->b.len == 0) {
        if (u->body_whole) return 0; /* the last chunk: the body is verified */
        u->curl_waiting = 1;
        return GW_FETCH_READ_PAUSE;
    }
    int was_full = u->b.len == UPLOAD_BUF;
    size_t n = gw_upload_buf_take(&u->b, buf, len);
    if (was_full && !u->w.released) gw_sink_body_resume(u->w.s);
    return n;
}

static int up_wanted(void *ud)
{
    struct gw_upload *u = up_of(ud);
    return !u->w.answered && !u->w.released;
}

static const struct gw_fetch_cbs swift_cbs = {
    .on_headers = up_on_headers, .on_data = up_on_data, .on_done = up_on_done,
    .wanted = up_wanted, .on_read = up_on_read,
};

/* Start the PUT once its Content-Type is known; wake a paused curl. */
static void swift_go(struct gw_upload *u)
{
    if (!u->q_started) {
        if (u->need_sniff && !gw_sniff_full(&u->sniff) && !u->body_whole) return;
        if (u->need_sniff) snprintf(u->ctype, sizeof(u->ctype), "%s", gw_sniff_type(&u->sniff));
        u->q_started = 1;
        if (gw_writereq_swift(&u->w, "PUT", NULL, up_prepare, &swift_cbs, u) != 0)
            up_fail(u, 502, "cannot reach Swift", GW_ERR_UPLOAD_ABORTED);
        return;
    }
    if (u->curl_waiting) {
        u->curl_waiting = 0;
        gw_swift_req_resume(&u->w.q);
    }
}

/* ---- the client's body ---- */

static size_t body_room(void *ud)
{
    struct gw_upload *u = up_of(ud);
    return u->w.answered ? 0 : UPLOAD_BUF - u->b.len;
}

static void body_data(void *ud, const char *data, size_t len)
{
    struct gw_upload *u = up_of(ud);
    gw_assert(len <= UPLOAD_BUF - u->b.len);
    gw_upload_buf_put(&u->b, data, len);
    EVP_DigestUpdate(u->md5, data, len);
    if (u->need_sniff) gw_sniff_add(&u->sniff, data, len);
    tee_write(u, data, len);
    u->bytes += len;
    swift_go(u);
}

static void body_end(void *ud, int status, const char *reason)
{
    struct gw_upload *u = up_of(ud);
    if (u->w.answered) return;
    if (status != 0) {
        up_fail(u, status, reason, GW_ERR_UPLOAD_ABORTED);
        return;
    }
    if (gw_upload_digest_check(u->md5, u->want_md5, u->md5hex) != 0) {
        up_fail(u, 422, "body does not match its Content-MD5 or ETag", GW_ERR_UPLOAD_DIGEST);
        return;
    }
    u->body_whole = 1;
    swift_go(u);
}

static const struct gw_sink_body body_cbs = {
    .room = body_room, .data = body_data, .end = body_end,
};

/* ---- the request ---- */

int gw_upload_digest_check(EVP_MD_CTX *md5, const char *want_md5, char *md5hex)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned dn = 0;
    EVP_DigestFinal_ex(md5, d, &dn);
    gw_hex(d, dn, md5hex);
    return want_md5[0] && strcmp(want_md5, md5hex) != 0 ? -1 : 0;
}

void gw_upload_put_headers(struct gw_fetch *f, const char *ctype, const struct gw_http_req *r)
{
    char line[200];
    snprintf(line, sizeof(line), "Content-Type: %s", ctype);
    gw_fetch_add_header(f, line);
    gw_swift_trans_extra(f, r->request_id);
}

int gw_upload_client_digest(const struct gw_http_req *r, char *out)
{
    size_t n;
    const char *v = gw_http_header(r, "Content-MD5", &n);
    out[0] = '\0';
    if (v != NULL) {
        unsigned char in[25], bin[19];
        if (n != 24) return -1;
        memcpy(in, v, 24);
        if (EVP_DecodeBlock(bin, in, 24) != 18 || v[22] != '=' || v[23] != '=') return -1;
        gw_hex(bin, 16, out);
        return 0;
    }
    if ((v = gw_http_header(r, "ETag", &n)) == NULL) return 0;
    if (n == 34 && v[0] == '"' && v[33] == '"') v++, n -= 2;
    if (n != 32) return -1;
    for (size_t i = 0; i < 32; i++) {
        char c = (char)(v[i] | 0x20);
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return -1;
        out[i] = c;
    }
    out[32] = '\0';
    return 0;
}

int gw_upload_client_type(const struct gw_http_req *r, char *ctype, size_t cap,
                          int *need_sniff)
{
    size_t n;
    const char *v = gw_http_header(r, "Content-Type", &n);
    if (v == NULL || n == 0 || (n >= 24 && strncasecmp(v, "application/octet-stream", 24) == 0)) {
        *need_sniff = 1;
        return 0;
    }
    if (n >= cap) return -1;
    memcpy(ctype, v, n);
    ctype[n] = '\0';
    return 0;
}

void gw_upload(struct gw_sink *s, const struct gw_services *svc, const char *name)
{
    const struct gw_http_req *r = gw_sink_request(s);
    size_t n;
    const char *cl = gw_http_header(r, "Content-Length", &n);
    if (cl == NULL && gw_http_header(r, "Transfer-Encoding", &n) != NULL) {
        gw_upload_slo(s, svc, name, UPLOAD_LEN_UNKNOWN);
        return;
    }
    if (cl != NULL && strtoull(cl, NULL, 10) > svc->conf->segment_size) {
        gw_upload_slo(s, svc, name, strtoull(cl, NULL, 10));
        return;
    }
    struct gw_upload *u = gw_calloc(1, sizeof(*u));
    u->magic = UPLOAD_MAGIC;
    u->fd = -1;
    gw_writereq_init(&u->w, s, svc, name, up_free);
    if (gw_upload_client_digest(r, u->want_md5) != 0) {
        gw_writereq_answer(&u->w, 400, "malformed Content-MD5 or ETag", NULL);
        return;
    }
    if (gw_upload_client_type(r, u->ctype, sizeof(u->ctype), &u->need_sniff) != 0) {
        gw_writereq_answer(&u->w, 400, "Content-Type too long", NULL);
        return;
    }
    u->md5 = EVP_MD_CTX_new();
    gw_assert(u->md5 != NULL && EVP_DigestInit_ex(u->md5, EVP_md5(), NULL) == 1);
    u->b.buf = gw_malloc(UPLOAD_BUF);
    tee_open(u);
    gw_sink_read_body(s, &body_cbs, u);
    swift_go(u);
}
