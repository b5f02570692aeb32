/*
 * upload_slo.c - a PUT whose Content-Length is over [swift] segment_size,
 * stored as a static large object (upload_int.h): segments of segment_size
 * bytes in <container>_segments, named <uuid>/<timestamp>/<n>, then the
 * manifest (?multipart-manifest=put) that lists them.
 *
 * A chunked body (no Content-Length) goes this way too, from its first
 * byte, since its size is known only at its end and a plain PUT cannot
 * become segments once it runs (open_len).  Each segment is then
 * segment_size bytes until the body ends; the next one's PUT starts when
 * the last chunk of one goes, and is cut (Swift keeps nothing) if the body
 * ends on that boundary.  A body that needed more than one segment ends
 * with the manifest, as above; one that fit in segment 0 is made a plain
 * object by a copy in Swift (upload_slo_plain.c).  A body needing more
 * segments than a manifest may list fails with 413 at the first byte past
 * them.  Its segments are teed into the cache while within max_object_size,
 * reserving room in steps.
 *
 * The body's way: the connection -> u->buf (UPLOAD_BUF bytes) -> the PUT of
 * the segment being streamed (u->cur) -> Swift, chunked.  The connection is
 * read only for the bytes of that segment: once they are all in, room() is
 * 0 until curl has sent them and the segment's last chunk, and the next
 * segment's PUT has one of the segment_parallelism slots.  A segment whose
 * last chunk went waits in its slot for Swift's answer while the next one
 * streams.  So an upload costs UPLOAD_BUF and its slots, whatever its size.
 *
 * On the way in, every byte goes into the body's MD5 and its segment's MD5
 * and, when the cache is on and the segment within max_object_size, into
 * the segment's temp blob (reserved against max_size as it starts).
 *
 * Invariants:
 *  - A segment counts as stored only after Swift's 201 with an ETag equal
 *    to the MD5 of its bytes.
 *  - The manifest goes only when every segment is stored and the whole body
 *    matches the client's Content-MD5 or ETag; its 201 must carry the SLO
 *    ETag of those segments (upload_slo_end.c).
 *  - Any failure before that (the client's body cut or not matching,
 *    Swift refusing or failing, the client gone): the segment being
 *    streamed is cut (Swift keeps nothing of it), the PUTs whose last chunk
 *    went are awaited, then each of those segments is deleted, and only
 *    then does the client hear the reason.  Nothing is cached.
 *  - The write request stays busy (writereq.h) from the start until the
 *    last of that is over, so a client that goes away does not free it
 *    under running requests; its release only starts the failure.
 */
#include "upload_slo.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <unistd.h>

#include "conf.h"
#include "http.h"
#include "manifest.h"
#include "origin.h"
#include "respond.h"
#include "services.h"
#include "sink.h"
#include "util.h"

static void maybe_next(struct gw_upload_slo *u);
static void cleanup_next(struct gw_upload_slo *u);

struct gw_upload_slo *slo_of(void *ud)
{
    struct gw_upload_slo *u = ud;
    GW_CHECK_MAGIC(u, SLO_MAGIC);
    return u;
}

static struct slo_slot *slot_of(void *ud)
{
    struct slo_slot *sl = ud;
    GW_CHECK_MAGIC(sl, SLOT_MAGIC);
    return sl;
}

uint64_t slo_seg_len(const struct gw_upload_slo *u, size_t i)
{
    if (u->open_len) return u->seg_size;
    return i + 1 < u->nsegs ? u->seg_size : u->length - u->seg_size * (u->nsegs - 1);
}

void slo_seg_name(const struct gw_upload_slo *u, size_t i, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%08zu", u->prefix, i);
}

/* ---- the segments' temp blobs ---- */

/* Stop caching the segments: every temp blob goes. */
void slo_cache_off(struct gw_upload_slo *u)
{
    for (size_t i = 0; u->segs != NULL && i < u->nsegs; i++) {
        if (u->segs[i].tmp == NULL) continue;
        unlink(u->segs[i].tmp);
        free(u->segs[i].tmp);
        u->segs[i].tmp = NULL;
    }
    if (u->cur_fd >= 0) {
        close(u->cur_fd);
        unlink(u->cur_tmp);
        u->cur_fd = -1;
    }
    if (u->reserved) gw_cache_unreserve(u->w.svc->cache, u->reserved);
    u->reserved = 0;
    u->cache_segs = 0;
}

/* A segment of len bytes starts; of a chunked body, room is reserved in steps. */
static void tee_open(struct gw_upload_slo *u, uint64_t len)
{
    if (!u->cache_segs) return;
    if (u->open_len && len > UPLOAD_RESERVE_STEP) len = UPLOAD_RESERVE_STEP;
    if (gw_cache_reserve(u->w.svc->cache, len, 0) != 0) {
        slo_cache_off(u);
        return;
    }
    u->reserved += len;
    u->cur_reserved = len;
    u->cur_fd = gw_cache_tmp_open(u->w.svc->cache, u->cur_tmp, sizeof(u->cur_tmp));
    if (u->cur_fd < 0) {
        u->cur_fd = -1;
        slo_cache_off(u);
    }
}

static void tee_write(struct gw_upload_slo *u, const char *data, size_t len)
{
    if (u->cur_fd < 0) return;
    uint64_t end = u->cur_in + len;
    if (end > u->cur_reserved) { /* a chunked body's segment grows */
        uint64_t more = end - u->cur_reserved;
        if (more < UPLOAD_RESERVE_STEP) more = UPLOAD_RESERVE_STEP;
        if (end > u->w.svc->conf->max_object_size ||
            gw_cache_reserve(u->w.svc->cache, more, 0) != 0) {
            slo_cache_off(u);
            return;
        }
        u->reserved += more;
        u->cur_reserved += more;
    }
    int rc = gw_pwrite_all(u->cur_fd, data, len, u->cur_in);
    if (rc != 0) {
        gw_warn("upload", "%s: segments not cached: %s", u->w.name, gw_strerror(rc));
        gw_stats_error_for(GW_ERR_CACHE_WRITE, rc);
        slo_cache_off(u);
    }
}

/* The segment's bytes are all in: its MD5, and its temp blob kept by path. */
static void seg_whole(struct gw_upload_slo *u)
{
    size_t i = u->cur->index;
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned dn = 0;
    EVP_DigestFinal_ex(u->seg_md5, d, &dn);
    gw_hex(d, dn, u->segs[i].md5);
    if (u->cur_fd >= 0) {
        close(u->cur_fd);
        u->cur_fd = -1;
        u->segs[i].tmp = gw_strdup(u->cur_tmp);
    }
}

/* ---- ending ---- */

static void slo_free(struct gw_writereq *w)
{
    struct gw_upload_slo *u = (struct gw_upload_slo *)w;
    slo_cache_off(u);
    gw_swift_req_cancel(&u->mq);
    gw_swift_req_cancel(&u->dq);
    for (size_t i = 0; i < u->nslots; i++) {
        gw_swift_req_cancel(&u->slots[i].q);
        u->slots[i].magic = 0;
    }
    if (u->md5) EVP_MD_CTX_free(u->md5);
    if (u->seg_md5) EVP_MD_CTX_free(u->seg_md5);
    free(u->segs);
    free(u->slots);
    free(u->b.buf);
    free(u->mbody);
    free(u->plan);
    u->magic = 0;
    free(u);
}

/* Everything has run its course: answer (unless the client is gone) and let go. */
void slo_end(struct gw_upload_slo *u, int status, const char *reason, const char *extra)
{
    gw_writereq_answer(&u->w, status, reason, extra);
    gw_writereq_job_done(&u->w);
}

static int slots_busy(const struct gw_upload_slo *u)
{
    for (size_t i = 0; i < u->nslots; i++)
        if (u->slots[i].busy) return 1;
    return 0;
}

/*
 * The upload fails: the segment being streamed is cut, the temp blobs go;
 * the segments Swift may have are deleted once no PUT runs any more.
 */
void slo_fail(struct gw_upload_slo *u, int status, const char *reason,
              enum gw_stats_error kind)
{
    if (u->failing) return;
    gw_info("upload", "%s: %d %s (%llu bytes in, large object)", u->w.name, status, reason,
            (unsigned long long)u->bytes);
    gw_stats_error(kind);
    u->failing = 1;
    u->fail_status = status;
    u->fail_reason = reason;
    if (u->cur != NULL) {
        gw_swift_req_cancel(&u->cur->q);
        u->cur->busy = 0;
        u->cur = NULL;
    }
    slo_cache_off(u);
    if (!slots_busy(u)) cleanup_next(u);
}

static void del_on_done(void *ud, struct gw_fetch *f, int err);

static int del_on_headers(void *ud, struct gw_fetch *f, long status)
{
    (void)f;
    slo_of(ud)->del_status = status;
    return 0;
}

static int ignore_data(void *ud, const char *buf, size_t len)
{
    (void)ud, (void)buf, (void)len;
    return 0; /* Swift's few words on a PUT or DELETE are not passed on */
}

static const struct gw_fetch_cbs del_cbs = {
    .on_headers = del_on_headers, .on_data = ignore_data, .on_done = del_on_done,
};

static void del_on_done(void *ud, struct gw_fetch *f, int err)
{
    struct gw_upload_slo *u = slo_of(ud);
    (void)f;
    if (err != 0 || (u->del_status / 100 != 2 && u->del_status != 404)) {
        gw_warn("upload", "%s: cannot delete %s/%s (%ld): left in Swift", u->w.name,
                u->del_container, u->del_object, u->del_status);
        u->del_failed = 1;
    }
    cleanup_next(u);
}

/* DELETE the next object Swift may hold of this upload; then the answer. */
static void cleanup_next(struct gw_upload_slo *u)
{
    const char *container = NULL;
    if (u->manifest_bad && !u->manifest_deleted) {
        u->manifest_deleted = 1;
        container = u->w.svc->conf->container;
        snprintf(u->del_object, sizeof(u->del_object), "%s", u->w.name);
    } else {
        while (u->del_next < u->nsegs && !u->segs[u->del_next].sent) u->del_next++;
        if (u->del_next < u->nsegs) {
            container = u->segc;
            slo_seg_name(u, u->del_next++, u->del_object, sizeof(u->del_object));
        }
    }
    if (container == NULL) {
        slo_end(u, u->fail_status ? u->fail_status : 500,
                u->del_failed ? "upload failed; Swift kept some of its segments" : u->fail_reason,
                NULL);
        return;
    }
    snprintf(u->del_container, sizeof(u->del_container), "%s", container);
    struct gw_swift_target t = {
        .kind = "object", .method = "DELETE", .container = u->del_container,
        .object = u->del_object, .once = 1,
    };
    u->del_status = 0;
    gw_swift_req_cancel(&u->dq); /* the last DELETE's credentials */
    gw_swift_req_init(&u->dq, u->w.svc, &t, &del_cbs, u);
    if (gw_swift_req_start(&u->dq) != 0) del_on_done(u, NULL, GW_EORIGIN);
}

/* The client went away: unless its body is all in Swift's hands, give up. */
static void slo_released(struct gw_writereq *w)
{
    struct gw_upload_slo *u = (struct gw_upload_slo *)w;
    if (!u->manifest_started) slo_fail(u, 400, "client went away", GW_ERR_UPLOAD_ABORTED);
}

/* ---- the segments' PUTs ---- */

static void seg_prepare(void *ud, struct gw_fetch *f)
{
    struct slo_slot *sl = slot_of(ud);
    gw_fetch_add_header(f, "Content-Type: application/octet-stream");
    gw_swift_trans_extra(f, gw_sink_request(sl->u->w.s)->request_id);
}

static int seg_on_headers(void *ud, struct gw_fetch *f, long status)
{
    struct slo_slot *sl = slot_of(ud);
    sl->status = status;
    gw_etag_unquote(sl->etag, sizeof(sl->etag), gw_fetch_header(f, "ETag"));
    return 0;
}

static void seg_on_done(void *ud, struct gw_fetch *f, int err)
{
    struct slo_slot *sl = slot_of(ud);
    struct gw_upload_slo *u = sl->u;
    size_t i = sl->index;
    (void)f;
    sl->busy = 0;
    if (sl == u->cur) u->cur = NULL; /* broke off mid-body */
    if (u->failing) {
        if (!slots_busy(u)) cleanup_next(u);
        return;
    }
    if (err != 0)
        slo_fail(u, gw_fetch_err_status(err),
                 err == GW_EBUSY   ? GW_FETCH_BUSY_REASON
                 : err == GW_EAUTH ? "no token from Swift" : "Swift did not take a segment",
                 GW_ERR_UPLOAD_ABORTED);
    else if (sl->status == 401)
        slo_fail(u, 503, "Swift refused the gateway's token", GW_ERR_UPLOAD_ABORTED);
    else if (sl->status != 201)
        slo_fail(u, 502, "Swift did not store a segment", GW_ERR_UPLOAD_ABORTED);
    else if (!u->segs[i].sent || strcasecmp(sl->etag, u->segs[i].md5) != 0)
        slo_fail(u, 502, "Swift's ETag of a segment does not match its bytes",
                 GW_ERR_UPLOAD_DIGEST);
    else {
        u->stored++;
        maybe_next(u);
        slo_maybe_manifest(u);
    }
}

static size_t seg_on_read(void *ud, char *buf, size_t len)
{
    struct slo_slot *sl = slot_of(ud);
    struct gw_upload_slo *u = sl->u;
    if (u->failing || sl != u->cur) return GW_FETCH_READ_ABORT;
    if (u->b.len == 0) {
        if (u->cur_sent < slo_seg_len(u, sl->index)) {
            u->curl_waiting = 1;
            return GW_FETCH_READ_PAUSE;
        }
        /* The last chunk: the segment waits for Swift's answer in its slot. */
        u->segs[sl->index].sent = 1;
        u->cur = NULL;
        maybe_next(u);
        return 0;
    }
    int was_full = u->b.len == UPLOAD_BUF;
    size_t n = gw_upload_buf_take(&u->b, buf, len);
    u->cur_sent += n;
    if (was_full && !u->w.released) gw_sink_body_resume(u->w.s);
    return n;
}

static const struct gw_fetch_cbs seg_cbs = {
    .on_headers = seg_on_headers, .on_data = ignore_data, .on_done = seg_on_done,
    .on_read = seg_on_read,
};

/* The next segment's PUT starts when none streams and a slot is free. */
static void maybe_next(struct gw_upload_slo *u)
{
    if (u->failing || u->cur != NULL) return;
    if (u->next >= u->nsegs) {
        /* A chunked body with no segment left: a byte more fails it (body_room()). */
        if (u->open_len && !u->w.released) gw_sink_body_resume(u->w.s);
        return;
    }
    struct slo_slot *sl = NULL;
    for (size_t i = 0; i < u->nslots && sl == NULL; i++)
        if (!u->slots[i].busy) sl = &u->slots[i];
    if (sl == NULL) return; /* a slot's answer calls again */
    sl->index = u->next++;
    sl->busy = 1;
    sl->status = 0;
    sl->etag[0] = '\0';
    slo_seg_name(u, sl->index, sl->object, sizeof(sl->object));
    u->cur = sl;
    u->cur_in = u->cur_sent = 0;
    u->curl_waiting = 0;
    gw_assert(EVP_DigestInit_ex(u->seg_md5, EVP_md5(), NULL) == 1);
    tee_open(u, slo_seg_len(u, sl->index));
    struct gw_swift_target t = {
        .kind = "segment", .method = "PUT", .container = u->segc, .object = sl->object,
        .prepare = seg_prepare, .once = 1,
    };
    gw_swift_req_cancel(&sl->q); /* the slot's last PUT's credentials */
    gw_swift_req_init(&sl->q, u->w.svc, &t, &seg_cbs, sl);
    if (gw_swift_req_start(&sl->q) != 0) {
        sl->busy = 0;
        u->cur = NULL;
        slo_fail(u, 502, "cannot reach Swift", GW_ERR_UPLOAD_ABORTED);
        return;
    }
    if (!u->w.released) gw_sink_body_resume(u->w.s);
}

/* ---- the client's body ---- */

static size_t body_room(void *ud)
{
    struct gw_upload_slo *u = slo_of(ud);
    if (u->failing) return 0;
    /* A chunked body past the last segment there may be: its bytes fail it. */
    if (u->cur == NULL) return u->open_len && u->next >= u->nsegs ? UPLOAD_BUF - u->b.len : 0;
    uint64_t left = slo_seg_len(u, u->cur->index) - u->cur_in;
    size_t room = UPLOAD_BUF - u->b.len;
    return left < room ? (size_t)left : room;
}

static void body_data(void *ud, const char *data, size_t len)
{
    struct gw_upload_slo *u = slo_of(ud);
    if (u->failing) return;
    if (u->cur == NULL) {
        gw_assert(u->open_len);
        slo_fail(u, 413, "body needs too many segments of segment_size", GW_ERR_UPLOAD_ABORTED);
        return;
    }
    gw_assert(len <= UPLOAD_BUF - u->b.len);
    gw_upload_buf_put(&u->b, data, len);
    EVP_DigestUpdate(u->md5, data, len);
    EVP_DigestUpdate(u->seg_md5, data, len);
    if (u->need_sniff) gw_sniff_add(&u->sniff, data, len);
    tee_write(u, data, len);
    u->cur_in += len;
    u->bytes += len;
    gw_assert(u->cur_in <= slo_seg_len(u, u->cur->index));
    if (u->cur_in == slo_seg_len(u, u->cur->index)) seg_whole(u);
    if (u->curl_waiting) {
        u->curl_waiting = 0;
        gw_swift_req_resume(&u->cur->q);
    }
}

/*
 * A chunked body is all in (and matches): its length and segments become
 * known, and the segment being streamed gets its last chunk.
 */
static void open_end(struct gw_upload_slo *u)
{
    u->open_len = 0;
    u->length = u->bytes;
    if (u->cur != NULL && u->cur_in == 0 && u->cur->index > 0) {
        /* Started at a boundary for bytes that never came: cut before its
         * last chunk, so Swift keeps nothing of it. */
        gw_swift_req_cancel(&u->cur->q);
        u->cur->busy = 0;
        u->next = u->cur->index;
        u->cur = NULL;
    }
    u->nsegs = u->next;
    u->plain = u->nsegs == 1;
    if (u->cur == NULL) return;
    if (u->cur_in < u->seg_size) seg_whole(u); /* a full one was done in body_data() */
    if (u->curl_waiting) {
        u->curl_waiting = 0;
        gw_swift_req_resume(&u->cur->q);
    }
}

static void body_end(void *ud, int status, const char *reason)
{
    struct gw_upload_slo *u = slo_of(ud);
    if (u->failing) return;
    if (status != 0) {
        slo_fail(u, status, reason, GW_ERR_UPLOAD_ABORTED);
        return;
    }
    if (gw_upload_digest_check(u->md5, u->want_md5, u->md5hex) != 0) {
        slo_fail(u, 422, "body does not match its Content-MD5 or ETag", GW_ERR_UPLOAD_DIGEST);
        return;
    }
    if (u->open_len) open_end(u);
    u->body_whole = 1;
    slo_maybe_manifest(u);
}

static const struct gw_sink_body body_cbs = {
    .room = body_room, .data = body_data, .end = body_end,
};

/* ---- the request ---- */

/* The most segments one manifest may list: Swift's limit, or ours. */
static size_t most_segments(const struct gw_conf *conf)
{
    return conf->max_segments < GW_SLO_MAX_SEGMENTS ? conf->max_segments : GW_SLO_MAX_SEGMENTS;
}

/* The checks before anything is asked of Swift; 0, or the answer is queued. */
static int slo_check(struct gw_upload_slo *u, const struct gw_http_req *r)
{
    const struct gw_conf *conf = u->w.svc->conf;
    if (gw_upload_client_digest(r, u->want_md5) != 0) {
        gw_writereq_answer(&u->w, 400, "malformed Content-MD5 or ETag", NULL);
        return -1;
    }
    if (gw_upload_client_type(r, u->ctype, sizeof(u->ctype), &u->need_sniff) != 0) {
        gw_writereq_answer(&u->w, 400, "Content-Type too long", NULL);
        return -1;
    }
    if (!gw_conf_segment_container_ok(conf, u->segc)) {
        /* The gateway could not read back what it would store. */
        gw_warn("upload", "%s: %s is not one of [swift] segment_containers", u->w.name, u->segc);
        gw_stats_error(GW_ERR_UPLOAD_ABORTED);
        gw_writereq_answer(&u->w, 500, "segment container not in segment_containers", NULL);
        return -1;
    }
    if (!u->open_len && u->nsegs > most_segments(conf)) {
        gw_stats_error(GW_ERR_UPLOAD_ABORTED);
        gw_writereq_answer(&u->w, 413, "body needs too many segments of segment_size", NULL);
        return -1;
    }
    return 0;
}

void gw_upload_slo(struct gw_sink *s, const struct gw_services *svc, const char *name,
                   uint64_t length)
{
    const struct gw_conf *conf = svc->conf;
    struct gw_upload_slo *u = gw_calloc(1, sizeof(*u));
    u->magic = SLO_MAGIC;
    u->cur_fd = -1;
    u->length = length;
    u->seg_size = conf->segment_size;
    u->open_len = length == UPLOAD_LEN_UNKNOWN;
    if (u->open_len)
        u->nsegs = most_segments(conf);
    else
        u->nsegs = (size_t)((length + u->seg_size - 1) / u->seg_size);
    gw_writereq_init(&u->w, s, svc, name, slo_free);
    snprintf(u->segc, sizeof(u->segc), "%s_segments", conf->container);
    if (slo_check(u, gw_sink_request(s)) != 0) return;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    snprintf(u->prefix, sizeof(u->prefix), "%s/%lld.%06ld", name, (long long)tv.tv_sec,
             (long)tv.tv_usec);
    u->segs = gw_calloc(u->nsegs, sizeof(*u->segs));
    u->nslots = conf->segment_parallelism;
    u->slots = gw_calloc(u->nslots, sizeof(*u->slots));
    for (size_t i = 0; i < u->nslots; i++) {
        u->slots[i].magic = SLOT_MAGIC;
        u->slots[i].u = u;
    }
    u->md5 = EVP_MD_CTX_new();
    u->seg_md5 = EVP_MD_CTX_new();
    gw_assert(u->md5 != NULL && u->seg_md5 != NULL &&
              EVP_DigestInit_ex(u->md5, EVP_md5(), NULL) == 1);
    u->b.buf = gw_malloc(UPLOAD_BUF);
    /* A chunked body's segments are cached while within max_object_size. */
    u->cache_segs = svc->cache != NULL && (u->open_len || u->seg_size <= conf->max_object_size);
    u->w.busy = 1;
    u->w.on_release = slo_released;
    gw_sink_read_body(s, &body_cbs, u);
    maybe_next(u);
}
