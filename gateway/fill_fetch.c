/*
 * fill_fetch.c - a fill's request to Swift: the answer's head decides
 * what the fill is (a body to keep, a 304, a 404, a large object for
 * fill_lo.c, or something that cannot go through the cache), the body goes
 * into the temp blob as readers follow, and a whole body is verified
 * against Swift's length and ETag before fill_commit.c may commit it.
 *
 * Everything here runs on the owner's loop.  What readers look at (info,
 * written) changes only under gw_fill_lock, and every change wakes them.
 * A body is taken at most FILL_TURN_BUDGET bytes per turn of the loop
 * (see fill.c for why); past that on_data yields.
 */
#include "fill_int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "conf.h"
#include "neg.h"
#include "origin.h"
#include "stats.h"

/* Body bytes a fill takes per turn of its loop before it yields (about
 * half a millisecond of pwrite, and MD5 for a small body). */
#define FILL_TURN_BUDGET (256u << 10)

/* The head is complete (type known): readers may start. */
static void publish_body(struct gw_fill *f)
{
    pthread_mutex_lock(&gw_fill_lock);
    if (f->need_sniff) {
        snprintf(f->info.content_type, sizeof(f->info.content_type), "%s",
                 gw_sniff_type(&f->sniff));
        f->need_sniff = 0;
    }
    f->info.state = GW_FILL_BODY;
    fill_notify_locked(f);
    pthread_mutex_unlock(&gw_fill_lock);
}

/*
 * The answer cannot go through the cache: let the reader that started the
 * fill have the request, so the object is not fetched twice.
 */
static int uncacheable(struct gw_fill *f, long status)
{
    struct gw_fill_reader *p = NULL;
    pthread_mutex_lock(&gw_fill_lock);
    for (struct gw_fill_reader *r = f->readers; r; r = r->next)
        if (r->primary && r->on_takeover) p = r;
    pthread_mutex_unlock(&gw_fill_lock);
    fill_set_state(f, GW_FILL_UNCACHEABLE, 0, NULL);
    int rc;
    if (p && p->on_takeover(p, &f->q, status, &rc)) {
        fill_owner_release(f); /* f may be gone now */
        return rc;
    }
    return GW_EORIGIN;
}

/* A segment must be the one its manifest names; 0 or GW_EORIGIN (failed). */
static int segment_check(struct gw_fill *f, struct gw_fetch *fe, uint64_t length)
{
    char etag[80];
    gw_etag_unquote(etag, sizeof(etag), gw_fetch_header(fe, "ETag"));
    if (length == f->expect_size && (!f->expect_md5[0] || !strcasecmp(etag, f->expect_md5)))
        return 0;
    gw_warn("fill", "%s/%s: segment changed: %llu bytes, ETag %s; the manifest says "
            "%llu bytes, %s", f->container, f->name, (unsigned long long)length, etag,
            (unsigned long long)f->expect_size, f->expect_md5);
    gw_stats_error(GW_ERR_SEGMENT);
    fill_set_state(f, GW_FILL_FAILED, 502, "segment changed in Swift");
    return GW_EORIGIN;
}

/* A 200 with a length: the body goes to a temp blob as readers follow. */
static int body_begin(struct gw_fill *f, struct gw_fetch *fe, long status, uint64_t length,
                      uint64_t ttfb)
{
    int fd = fill_tmp_open(f, length);
    if (fd < 0) {
        /* No room for the whole body: serve it without the cache. */
        gw_warn("fill", "%s: cannot reserve %llu bytes: %s", f->name,
                (unsigned long long)length,
                fd == GW_ELIMIT ? "temp files would pass max_size" : strerror(-fd));
        gw_stats_error_for(GW_ERR_CACHE_WRITE, fd);
        return uncacheable(f, status);
    }
    fill_hash_begin(f, length);

    const char *lm = gw_fetch_header(fe, "Last-Modified");
    const char *ct = gw_fetch_header(fe, "Content-Type");
    pthread_mutex_lock(&gw_fill_lock);
    f->info.length = length;
    f->info.origin_ms = ttfb;
    gw_etag_unquote(f->info.etag, sizeof(f->info.etag), gw_fetch_header(fe, "ETag"));
    snprintf(f->info.last_modified, sizeof(f->info.last_modified), "%s", lm ? lm : "");
    snprintf(f->info.content_type, sizeof(f->info.content_type), "%s", ct ? ct : "");
    f->need_sniff = !f->segment && gw_is_octet_stream(f->info.content_type) && length > 0;
    pthread_mutex_unlock(&gw_fill_lock);
    if (!f->need_sniff) publish_body(f);
    return 0;
}

static int on_headers(void *ud, struct gw_fetch *fe, long status)
{
    struct gw_fill *f = ud;
    GW_CHECK_MAGIC(f, FILL_MAGIC);
    uint64_t ttfb = gw_fetch_ttfb_ms(fe);
    f->status = status;
    if ((status == 304 && f->revalidate) || status == 404) {
        pthread_mutex_lock(&gw_fill_lock);
        f->info.origin_ms = ttfb;
        pthread_mutex_unlock(&gw_fill_lock);
        return 0; /* on_done publishes the outcome */
    }
    if (status == 200 && !f->segment) {
        /* Swift has it now (a warm, or a 404 that expired): forget the 404,
         * whether or not the object can be cached. */
        gw_neg_forget(f->owner->neg, f->key);
    }
    if (status != 200) {
        /* A 5xx has its line from origin.c already, with Swift's X-Trans-Id. */
        if (status < 500) gw_warn("fill", "%s/%s: Swift answered %ld", f->container, f->name, status);
        gw_stats_error(GW_ERR_ORIGIN_STATUS);
        fill_set_state(f, GW_FILL_FAILED, 502, NULL);
        return GW_EORIGIN;
    }
    uint64_t length;
    int has_length = gw_parse_u64(gw_fetch_header(fe, "Content-Length"), &length) == 0;
    const char *slo = gw_fetch_header(fe, "X-Static-Large-Object");
    const char *dlo = gw_fetch_header(fe, "X-Object-Manifest");
    if (slo && strcasecmp(slo, "true") != 0) slo = NULL;
    if (!f->segment) {
        pthread_mutex_lock(&gw_fill_lock);
        gw_replay_collect(fe, f->info.replay, sizeof(f->info.replay));
        pthread_mutex_unlock(&gw_fill_lock);
    }
    if ((slo || dlo) && f->segment) {
        gw_warn("fill", "%s/%s: a segment that is a large object itself", f->container, f->name);
        gw_stats_error(GW_ERR_SEGMENT);
        fill_set_state(f, GW_FILL_FAILED, 502, "segment is a large object itself");
        return GW_EORIGIN;
    }
    if (slo || dlo)
        return fill_lo_headers(f, fe, slo != NULL, has_length ? length : UINT64_MAX, ttfb);
    /* No length: nothing to verify the body against, it does not go through the cache. */
    if (!has_length) return uncacheable(f, status);
    if (length > f->owner->conf->max_object_size && f->owner->conf->max_object_size > 0) {
        /* Kept, it would evict what many smaller objects' clients come for.
         * A segment is judged on its own; one over the bound still goes
         * through its temp file, to be verified and sent, and is not kept. */
        gw_debug("fill", "%s/%s: %llu bytes, over max_object_size: not cached", f->container,
                 f->name, (unsigned long long)length);
        gw_stats_error(GW_ERR_TOO_LARGE);
        if (!f->segment) return uncacheable(f, status);
        f->no_commit = 1;
    }
    if (f->segment && segment_check(f, fe, length) != 0) return GW_EORIGIN;
    return body_begin(f, fe, status, length, ttfb);
}

static int on_data(void *ud, const char *buf, size_t len)
{
    struct gw_fill *f = ud;
    GW_CHECK_MAGIC(f, FILL_MAGIC);
    if (f->lo.kind == GW_PLAN_SLO) return fill_lo_data(f, buf, len);
    if (f->fd < 0) return 0; /* a 404 or 304 body, a DLO's manifest object */
    if (f->turn_bytes >= FILL_TURN_BUDGET) return fill_yield(f);
    if (f->no_commit) {
        /* Not kept, and its readers all left: nobody needs its bytes. */
        pthread_mutex_lock(&gw_fill_lock);
        f->abandoned = f->readers == NULL;
        pthread_mutex_unlock(&gw_fill_lock);
        if (f->abandoned) return GW_ECLOSED;
    }
    if (f->written + len > f->info.length) {
        gw_warn("fill", "%s: Swift sent more than its Content-Length", f->name);
        return GW_EORIGIN;
    }
    int rc = gw_pwrite_all(f->fd, buf, len, f->written);
    if (rc != 0) {
        gw_warn("fill", "%s: writing the temp blob: %s", f->name, strerror(-rc));
        gw_stats_error_for(GW_ERR_CACHE_WRITE, rc);
        return rc;
    }
    fill_hash_inline(f, buf, len);
    if (f->need_sniff) gw_sniff_add(&f->sniff, buf, len);
    pthread_mutex_lock(&gw_fill_lock);
    f->written += len;
    fill_notify_locked(f);
    pthread_mutex_unlock(&gw_fill_lock);
    fill_hash_more(f);
    if (f->need_sniff && gw_sniff_full(&f->sniff)) publish_body(f);
    f->turn_bytes += len;
    return 0;
}

/* The transfer broke off (or never began). */
static void fetch_failed(struct gw_fill *f, struct gw_fetch *fe, enum gw_fill_state st, int err)
{
    if (err == GW_EAUTH) {
        fill_fail(f, 502, "cannot authenticate with Swift");
        return;
    }
    if (f->abandoned) {
        /* Over max_object_size and nobody left to send it to: stopped. */
        gw_debug("fill", "%s/%s: not kept and nobody waits: stopped", f->container, f->name);
        fill_fail(f, 502, NULL);
        return;
    }
    if (err == GW_EBUSY || gw_err_no_files(err)) { /* no socket to Swift: out of descriptors */
        gw_stats_error(err == GW_EBUSY ? GW_ERR_FETCH_BUSY : GW_ERR_NO_FILES);
        fill_fail(f, 503, err == GW_EBUSY ? GW_FETCH_BUSY_REASON : GW_NO_FILES_REASON);
        return;
    }
    if (err == GW_EBADHEADER) { /* counted by origin.c */
        gw_warn("fill", "%s/%s: refused: %s", f->container, f->name,
                fe ? gw_fetch_error_text(fe) : gw_strerror(err));
        fill_fail(f, 502, "bad header from Swift");
        return;
    }
    gw_warn("fill", "%s: fetch failed after %llu bytes: %s", f->name,
            (unsigned long long)f->written, fe ? gw_fetch_error_text(fe) : gw_strerror(err));
    if (err == GW_ETIMEOUT)
        gw_stats_error(GW_ERR_ORIGIN_TIMEOUT);
    else if (st == GW_FILL_HEAD && f->written == 0)
        gw_stats_error(GW_ERR_ORIGIN_CONNECT);
    else
        gw_stats_error(GW_ERR_ORIGIN_SHORT);
    fill_fail(f, err == GW_ETIMEOUT ? 504 : 502, NULL);
}

/*
 * The body is whole: its length and MD5 must be Swift's, else nothing is
 * committed and every reader is cut short.
 */
void fill_body_verify(struct gw_fill *f)
{
    if (f->need_sniff) publish_body(f); /* a body shorter than the sniff window */
    int rc = fill_hash_final(f, f->md5hex);
    if (rc == 0) return; /* the MD5 is behind: called again when it is caught up */
    if (rc < 0) {        /* the temp file could not be read back (logged) */
        fill_fail(f, 502, NULL);
        return;
    }
    if (f->written != f->info.length || strcasecmp(f->md5hex, f->info.etag) != 0) {
        gw_warn("fill", "%s: verification failed: %llu of %llu bytes, md5 %s, ETag %s",
                f->name, (unsigned long long)f->written, (unsigned long long)f->info.length,
                f->md5hex, f->info.etag);
        gw_stats_error(f->written != f->info.length ? GW_ERR_ORIGIN_SHORT : GW_ERR_DIGEST);
        fill_fail(f, 502, NULL);
        return;
    }
    /* Swift's bytes, byte for byte: commit, then readers may have the last
     * byte (see commit_done).  A segment's readers may have it at once:
     * nobody looks a segment up by its own name, and a large object waits
     * on each of its segments in turn. */
    if (f->segment) fill_set_state(f, GW_FILL_VERIFIED, 0, NULL);
    if (f->no_commit) {
        /* Served, not kept: its temp file goes with the fill. */
        fill_owner_release(f);
        return;
    }
    fill_commit(f, FILL_COMMIT_BLOB);
}

static void on_done(void *ud, struct gw_fetch *fe, int err)
{
    struct gw_fill *f = ud;
    GW_CHECK_MAGIC(f, FILL_MAGIC);
    fill_unpause(f); /* the fetch is over: nothing to resume */
    pthread_mutex_lock(&gw_fill_lock);
    enum gw_fill_state st = f->info.state;
    pthread_mutex_unlock(&gw_fill_lock);

    if (st == GW_FILL_FAILED || st == GW_FILL_UNCACHEABLE) {
        fill_owner_release(f);
    } else if (err != 0) {
        fetch_failed(f, fe, st, err);
    } else if (f->status == 404 && f->segment) {
        /* A missing segment is the manifest's fault: nothing to remember. */
        gw_stats_error(GW_ERR_SEGMENT);
        fill_set_state(f, GW_FILL_NOT_FOUND, 0, "segment missing in Swift");
        fill_owner_release(f);
    } else if (f->status == 304) {
        fill_commit(f, FILL_COMMIT_REFRESH);
    } else if (f->status == 404) {
        fill_not_found(f);
    } else if (f->lo.kind) {
        fill_lo_manifest_done(f);
    } else {
        fill_body_verify(f);
    }
}

/* Waiting for a max_fetches slot: a fill whose readers all left gives it up. */
static int wanted(void *ud)
{
    struct gw_fill *f = ud;
    GW_CHECK_MAGIC(f, FILL_MAGIC);
    pthread_mutex_lock(&gw_fill_lock);
    int any = f->readers != NULL;
    pthread_mutex_unlock(&gw_fill_lock);
    return any;
}

static const struct gw_fetch_cbs fill_cbs = {
    .on_headers = on_headers,
    .on_data = on_data,
    .on_done = on_done,
    .wanted = wanted,
};

void fill_add_request_id(void *ud, struct gw_fetch *fe)
{
    struct gw_fill *f = ud;
    gw_swift_trans_extra(fe, f->request_id);
}

static void add_headers(void *ud, struct gw_fetch *fe)
{
    struct gw_fill *f = ud;
    fill_add_request_id(f, fe);
    if (!f->revalidate) return;
    char *h = gw_asprintf("If-None-Match: \"%s\"", f->reval_etag);
    gw_fetch_add_header(fe, h);
    free(h);
}

void fill_fetch_begin(struct gw_fill *f)
{
    struct gw_swift_target t = {
        .kind = f->segment ? "segment" : "object",
        .method = "GET",
        .container = f->container,
        .object = f->name,
        .query = f->segment ? NULL : "multipart-manifest=get",
        .prepare = add_headers,
    };
    gw_swift_req_init(&f->q, f->owner, &t, &fill_cbs, f);
    if (gw_swift_req_start(&f->q) != 0) fill_fail(f, 502, NULL);
}
