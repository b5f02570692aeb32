/*
 * respond.c - response heads and bodies (respond.h).
 *
 * Nothing here keeps state between calls: the caller owns its struct
 * gw_body and says where it is.  Every byte goes through the sink, and
 * every head sets the sink's status, so the access log sees what was sent.
 * A multipart/byteranges answer's Content-Length is computed from the part
 * heads it will send, so the framing written later must be exactly that.
 */
#include "respond.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blobfd.h"
#include "conf.h"
#include "cors.h"
#include "fill.h"
#include "http.h"
#include "replay.h"
#include "sink.h"
#include "util.h"

/* A fill's bytes per queued file range (sent, not copied). */
#define FILL_CHUNK (256u * 1024)

void gw_body_plan(struct gw_body *b, const struct gw_http_req *req, int head_only,
                  uint64_t length, const char *etag, const char *last_modified)
{
    b->nranges = head_only ? 0 : gw_cond_ranges(req, length, etag, last_modified, b->parts);
    b->multipart = b->nranges > 1;
    if (b->nranges > 0) {
        b->nparts = b->nranges;
    } else if (length > 0) {
        b->parts[0].first = 0;
        b->parts[0].last = length - 1;
        b->nparts = 1;
    } else {
        b->nparts = 0;
    }
    b->part_i = 0;
    b->part_off = 0;
    b->part_head_sent = 0;
    b->length = length;
}

int gw_body_wanted(const struct gw_body *b, const struct gw_http_req *req, int head_only,
                   const char *etag, const char *last_modified)
{
    return !head_only && b->nranges >= 0 && b->nparts > 0 &&
           gw_cond_evaluate(req, etag, last_modified) == GW_PRECOND_PASS;
}

const char *gw_respond_cache_status(enum gw_cache_result how)
{
    /* RFC 9211 Cache-Status, beside the X-Cache word everyone greps for. */
    switch (how) {
    case GW_CACHE_HIT: return "swiftgate; hit";
    case GW_CACHE_MISS: return "swiftgate; fwd=miss; stored";
    case GW_CACHE_STALE: return "swiftgate; hit; detail=stale-if-error";
    case GW_CACHE_STALE_UPDATING: return "swiftgate; fwd=stale; detail=stale-while-revalidate";
    case GW_CACHE_REVALIDATED: return "swiftgate; fwd=stale; fwd-status=304";
    case GW_CACHE_PASS: return "swiftgate; fwd=uri-miss";
    default: return "swiftgate";
    }
}

static void append_str(struct gw_buf *b, const char *s)
{
    gw_buf_append(b, s, strlen(s));
}

/*
 * The lines the representation alone decides: validators, ranges,
 * Cache-Control (the object's own from Swift, else [cache] cache_control)
 * and the rest of what Swift keeps for it (replay.h).
 */
static void representation_headers(struct gw_buf *b, const struct gw_conf *conf, int status,
                                   const char *etag, const char *lm, const char *replay)
{
    if (etag[0]) gw_buf_printf(b, "ETag: \"%s\"\r\n", etag);
    if (lm[0]) gw_buf_printf(b, "Last-Modified: %s\r\n", lm);
    append_str(b, "Accept-Ranges: bytes\r\n");
    if (conf->cache_control[0] && !gw_replay_has_cache_control(replay))
        gw_buf_printf(b, "Cache-Control: %s\r\n", conf->cache_control);
    gw_replay_write(b, replay, status);
}

/* The lines that change from answer to answer: Age and the cache's result. */
static void answer_headers(struct gw_buf *b, const struct gw_conf *conf,
                           const struct gw_http_req *req, enum gw_cache_result how,
                           int64_t stored_at)
{
    if (stored_at > 0) {
        int64_t age = (gw_wall_ms() - stored_at) / 1000;
        char line[48];
        int n = snprintf(line, sizeof(line), "Age: %lld\r\n", (long long)(age > 0 ? age : 0));
        gw_buf_append(b, line, (size_t)n);
    }
    append_str(b, "X-Cache: ");
    append_str(b, gw_cache_result_name(how));
    append_str(b, "\r\nCache-Status: ");
    append_str(b, gw_respond_cache_status(how));
    /* The type is Swift's (or sniffed from a known image signature): a
     * browser must not guess another one (an uploaded "image" run as HTML). */
    append_str(b, "\r\nX-Content-Type-Options: nosniff\r\n");
    if (req->request_id[0]) {
        append_str(b, "X-Request-Id: ");
        append_str(b, req->request_id);
        append_str(b, "\r\n");
    }
    gw_cors_headers(b, conf, req);
}

void gw_respond_common_headers(struct gw_buf *b, const struct gw_conf *conf,
                               const struct gw_http_req *req, enum gw_cache_result how,
                               const char *etag, const char *lm, int64_t stored_at,
                               const char *replay)
{
    representation_headers(b, conf, 200, etag, lm, replay);
    answer_headers(b, conf, req, how, stored_at);
}

/* One part's head of a multipart/byteranges body; its length, 0 if it cannot fit. */
static size_t part_head(const struct gw_body *b, char *out, size_t cap, const struct gw_range *rg)
{
    int n = snprintf(out, cap,
                     "\r\n--%s\r\nContent-Type: %s\r\nContent-Range: bytes %llu-%llu/%llu\r\n\r\n",
                     b->boundary, b->ctype, (unsigned long long)rg->first,
                     (unsigned long long)rg->last, (unsigned long long)b->length);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

void gw_respond_part_head(struct gw_sink *s, const struct gw_body *b)
{
    if (!b->multipart) return;
    char ph[512];
    gw_sink_write(s, ph, part_head(b, ph, sizeof(ph), &b->parts[b->part_i]));
}

void gw_respond_multipart_tail(struct gw_sink *s, const struct gw_body *b)
{
    if (!b->multipart) return;
    char tail[64];
    int n = snprintf(tail, sizeof(tail), "\r\n--%s--\r\n", b->boundary);
    gw_sink_write(s, tail, (size_t)n);
}

/* Content-Type and Content-Length (and Content-Range) of a 200 or 206. */
static void body_headers(struct gw_buf *h, struct gw_body *b, int status)
{
    if (b->multipart) {
        snprintf(b->boundary, sizeof(b->boundary), "%016llx",
                 (unsigned long long)((uint64_t)gw_wall_ms() * 2654435761u ^ (uintptr_t)b));
        uint64_t total = 2 + strlen(b->boundary) + 6; /* "\r\n--B--\r\n" */
        char ph[512];
        for (int i = 0; i < b->nparts; i++)
            total += part_head(b, ph, sizeof(ph), &b->parts[i]) + b->parts[i].last -
                     b->parts[i].first + 1;
        gw_buf_printf(h, "Content-Type: multipart/byteranges; boundary=%s\r\n"
                         "Content-Length: %llu\r\n", b->boundary, (unsigned long long)total);
    } else if (status == 206) {
        gw_buf_printf(h, "Content-Type: %s\r\nContent-Length: %llu\r\n"
                         "Content-Range: bytes %llu-%llu/%llu\r\n", b->ctype,
                      (unsigned long long)(b->parts[0].last - b->parts[0].first + 1),
                      (unsigned long long)b->parts[0].first, (unsigned long long)b->parts[0].last,
                      (unsigned long long)b->length);
    } else {
        gw_buf_printf(h, "Content-Type: %s\r\nContent-Length: %llu\r\n", b->ctype,
                      (unsigned long long)b->length);
    }
}

/*
 * A whole 200's lines from Content-Type to Cache-Control, built once per
 * cached blob and kept in *m->prepared; two threads may build them at
 * once, one keeps its copy.
 */
static const char *prepared_200(const struct gw_conf *conf, struct gw_body *b,
                                const struct gw_object_meta *m)
{
    char *have = atomic_load_explicit(m->prepared, memory_order_acquire);
    if (have) return have;
    struct gw_buf f = {0};
    body_headers(&f, b, 200);
    representation_headers(&f, conf, 200, m->etag, m->last_modified, m->replay);
    char *none = NULL;
    if (atomic_compare_exchange_strong_explicit(m->prepared, &none, f.data, memory_order_acq_rel,
                                                memory_order_acquire))
        return f.data;
    gw_buf_free(&f);
    return none;
}

static void respond_not_modified(struct gw_sink *s, const struct gw_conf *conf,
                                 const struct gw_object_meta *m)
{
    const struct gw_http_req *req = gw_sink_request(s);
    struct gw_buf h = {0};
    gw_http_head_begin(&h, 304);
    representation_headers(&h, conf, 304, m->etag, m->last_modified, m->replay);
    answer_headers(&h, conf, req, gw_sink_cache(s), m->stored_at);
    gw_http_head_end(&h, gw_sink_keepalive(s), req->http_minor);
    gw_sink_set_status(s, 304);
    gw_sink_write_buf(s, &h);
    gw_sink_end(s);
}

int gw_respond_object_head(struct gw_sink *s, const struct gw_conf *conf, struct gw_body *b,
                           const struct gw_object_meta *m, int head_only)
{
    const struct gw_http_req *req = gw_sink_request(s);
    enum gw_precond pre = gw_cond_evaluate(req, m->etag, m->last_modified);
    if (pre == GW_PRECOND_412) {
        gw_respond_object_error(s, conf, 412, "precondition failed", NULL);
        return 1;
    }
    if (pre == GW_PRECOND_304) {
        respond_not_modified(s, conf, m);
        return 1;
    }
    if (b->nranges < 0) {
        char extra[64];
        snprintf(extra, sizeof(extra), "Content-Range: bytes */%llu\r\n",
                 (unsigned long long)m->length);
        gw_respond_object_error(s, conf, 416, "range not satisfiable", extra);
        return 1;
    }
    b->length = m->length;
    snprintf(b->ctype, sizeof(b->ctype), "%s",
             m->content_type[0] ? m->content_type : "application/octet-stream");
    int status = b->nranges > 0 ? 206 : 200;
    struct gw_buf h = {0};
    gw_http_head_begin(&h, status);
    if (status == 200 && m->prepared) {
        append_str(&h, prepared_200(conf, b, m));
        answer_headers(&h, conf, req, gw_sink_cache(s), m->stored_at);
    } else {
        body_headers(&h, b, status);
        gw_respond_common_headers(&h, conf, req, gw_sink_cache(s), m->etag, m->last_modified,
                                  m->stored_at, m->replay);
    }
    gw_http_head_end(&h, gw_sink_keepalive(s), req->http_minor);
    gw_sink_set_status(s, status);
    gw_sink_write_buf(s, &h);
    if (head_only || b->nparts == 0) {
        gw_sink_end(s);
        return 1;
    }
    return 0;
}

void gw_respond_simple(struct gw_sink *s, int status, const char *reason, const char *extra)
{
    const struct gw_http_req *req = gw_sink_request(s);
    struct gw_buf x = {0};
    if (extra) append_str(&x, extra);
    /* Every 503 says when to come back, as HAProxy and nginx operators expect. */
    if (status == 503 && (extra == NULL || strstr(extra, "Retry-After:") == NULL))
        append_str(&x, "Retry-After: 1\r\n");
    if (gw_sink_cache(s) != GW_CACHE_NONE)
        gw_buf_printf(&x, "X-Cache: %s\r\n", gw_cache_result_name(gw_sink_cache(s)));
    if (req->request_id[0]) gw_buf_printf(&x, "X-Request-Id: %s\r\n", req->request_id);
    gw_buf_append(&x, "", 1);   /* its NUL */
    struct gw_buf b = {0};
    int head_only = req->method_known && req->method == HTTP_HEAD;
    gw_sink_set_bytes(s, gw_http_simple(&b, status, reason, x.data, gw_sink_keepalive(s),
                                        req->http_minor, head_only));
    gw_buf_free(&x);
    gw_sink_set_status(s, status);
    gw_sink_write_buf(s, &b);
    gw_sink_end(s);
}

void gw_respond_warm(struct gw_sink *s, enum gw_cache_result how)
{
    gw_sink_set_cache(s, how);
    struct gw_buf b = {0};
    gw_http_head_begin(&b, 204);
    gw_buf_printf(&b, "X-Cache: %s\r\n", gw_cache_result_name(how));
    if (gw_sink_request(s)->request_id[0])
        gw_buf_printf(&b, "X-Request-Id: %s\r\n", gw_sink_request(s)->request_id);
    gw_http_head_end(&b, gw_sink_keepalive(s), gw_sink_request(s)->http_minor);
    gw_sink_set_status(s, 204);
    gw_sink_write_buf(s, &b);
    gw_sink_end(s);
}

/* ---- bodies ---- */

/*
 * A body of at most BLOB_COPY_MAX bytes is read and queued as a copy, so
 * that it leaves with its head in one writev; a longer one is sent from the
 * blob with sendfile (after the head, corked).  The crossover, measured as
 * server CPU per hit of two builds side by side under wrk, is about 8 KiB
 * (the commit that set it gives the figures).
 */
#define BLOB_COPY_MAX 8192

/* Queue a copy of a short range; 0, or -1 when the blob cannot be read. */
static int copy_from_blob(struct gw_sink *s, struct gw_blobfd *m, uint64_t off, uint64_t len)
{
    char buf[BLOB_COPY_MAX];
    ssize_t n;
    do {
        n = pread(m->fd, buf, (size_t)len, (off_t)off);
    } while (n < 0 && errno == EINTR);
    if (n != (ssize_t)len) return -1;
    gw_sink_write(s, buf, (size_t)len);
    return 0;
}

uint64_t gw_respond_from_blob(struct gw_sink *s, struct gw_blobfd *m, uint64_t off,
                              uint64_t len, uint64_t slice)
{
    if (len > 0 && len <= BLOB_COPY_MAX) {
        if (copy_from_blob(s, m, off, len) != 0) gw_sink_abort(s); /* never a short body */
        return len;
    }
    uint64_t done = 0;
    while (done < len && !gw_sink_congested(s)) {
        uint64_t n = len - done < slice ? len - done : slice;
        gw_blobfd_ref(m);
        gw_sink_write_file(s, m->fd, off + done, n, gw_blobfd_release_cb, m);
        done += n;
    }
    return done;
}

int gw_respond_parts_from_blob(struct gw_sink *s, struct gw_body *b, struct gw_blobfd *m,
                               uint64_t slice)
{
    for (;;) {
        if (b->part_i == b->nparts) {
            gw_respond_multipart_tail(s, b);
            return 1;
        }
        if (gw_sink_congested(s)) return 0;
        const struct gw_range *rg = &b->parts[b->part_i];
        if (!b->part_head_sent) {
            gw_respond_part_head(s, b);
            b->part_head_sent = 1;
        }
        uint64_t left = rg->last + 1 - rg->first - b->part_off;
        if (left == 0) {
            b->part_i++;
            b->part_off = 0;
            b->part_head_sent = 0;
            continue;
        }
        uint64_t n = gw_respond_from_blob(s, m, rg->first + b->part_off, left, slice);
        b->part_off += n;
        gw_sink_set_bytes(s, gw_sink_bytes(s) + n);
    }
}

int64_t gw_respond_from_fill(struct gw_sink *s, struct gw_fill_reader *r, uint64_t off,
                             uint64_t len)
{
    uint64_t done = 0;
    while (done < len && !gw_sink_congested(s)) {
        uint64_t n = len - done < FILL_CHUNK ? len - done : FILL_CHUNK;
        int fd;
        void *ref;
        int rc = gw_fill_file(r, &fd, &ref);
        if (rc != 0) return rc;
        gw_sink_write_file(s, fd, off + done, n, gw_fill_file_release, ref);
        done += n;
    }
    return (int64_t)done;
}

void gw_respond_object_error(struct gw_sink *s, const struct gw_conf *conf, int status,
                             const char *reason, const char *extra)
{
    if (conf->cors_allow_origin[0] == '\0') {
        gw_respond_simple(s, status, reason, extra);
        return;
    }
    struct gw_buf x = {0};
    if (extra) gw_buf_append(&x, extra, strlen(extra));
    gw_cors_headers(&x, conf, gw_sink_request(s));
    gw_buf_append(&x, "", 1);  /* its NUL */
    gw_respond_simple(s, status, reason, x.data);
    gw_buf_free(&x);
}
