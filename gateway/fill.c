/*
 * fill.c - one origin fetch per cache key; readers follow it from disk.
 *
 * The table of running fills is process-wide, behind one mutex, so request
 * coalescing holds across workers: however many requests miss on a key at
 * once, one fill fetches it.  Everything a reader may look at (state, head,
 * bytes written, the reader lists) is guarded by that mutex; the fetch,
 * the MD5 context and the temp file's writes belong to the owner's loop.
 *
 * Life of a fill:
 *   HEAD -> BODY -> VERIFIED -> (commit in the thread pool: fill_commit.c) -> out of table
 *        -> NOT_MODIFIED -> (commit) -> out of table
 *        -> NOT_FOUND -> (remembered in memory; a commit only if the index
 *           holds the name) -> out of table
 *        -> UNCACHEABLE | FAILED -> out of table at once
 *        -> (a large object's manifest, more requests: fill_lo.c) -> MANIFEST
 *
 * A top-level object is asked for with ?multipart-manifest=get, so one
 * round trip tells a plain object (its body, as always) from a large one,
 * whose plan fill_lo.c puts together.  A fill is freed when its last
 * reference goes: one per reader, one for the owner until its fetch and
 * commit are over.  The temp file's fd stays open as long as the fill
 * lives, so readers keep reading it after the rename.
 *
 * Readers never see more than length - 1 bytes before VERIFIED (see
 * fill.h).  Readers are woken through their worker's uv_async: a fill
 * never calls into another worker's requests.
 *
 * A fill shares its loop with the worker's other requests.  curl goes on
 * reading a socket as long as it is readable, and each chunk costs a
 * pwrite, an MD5 update and a wake-up, so a fast Swift would hold the
 * loop for tens of milliseconds at a time.  A fill therefore takes at
 * most FILL_TURN_BUDGET body bytes per turn: past it, on_data pauses the
 * transfer (curl keeps the refused bytes and hands them over again), and
 * the worker's idle handle resumes every such fill on the next turn, so
 * that the loop polls (readers' wake-ups, clients' sockets) between one
 * share and the next.  A fill is on that list only while its owner holds
 * it and its fetch runs: whatever ends the fetch takes it off first.
 */
#include "fill_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "conf.h"
#include "neg.h"
#include "origin.h"
#include "stats.h"

#define NBUCKETS 256
/* Readers woken per turn of the loop; the rest wait for the next turn. */
#define WAKE_BUDGET 100000
/* Body bytes a fill takes per turn of its loop before it yields (about
 * half a millisecond of pwrite and MD5). */
#define FILL_TURN_BUDGET (256u << 10)

struct gw_fill_worker {
    const struct gw_services *svc;
    uv_async_t async;                   /* fills wake this worker's readers */
    uv_idle_t turn;                     /* resumes the fills that yielded */
    int handles_open;                   /* freed when both are closed */
    struct gw_fill_reader *pending;     /* guarded by gw_fill_lock */
    struct gw_fill *owned;              /* the fills whose fetch runs here */
    /* The loop's only: fills that yielded this turn, and those being resumed. */
    struct gw_fill *paused, *resuming;
    struct fill_commitq *commits;       /* blob commits, batched */
};

pthread_mutex_t gw_fill_lock = PTHREAD_MUTEX_INITIALIZER;
static struct gw_fill *table[NBUCKETS];

static void fetch_begin(struct gw_fill *f);

/* ---- table and references (lock held) ---- */

static struct gw_fill **bucket(const uint8_t *key)
{
    return &table[key[0]];
}

static void table_remove(struct gw_fill *f)
{
    if (!f->in_table) return;
    for (struct gw_fill **p = bucket(f->key); *p; p = &(*p)->hnext) {
        if (*p == f) {
            *p = f->hnext;
            break;
        }
    }
    f->in_table = 0;
    f->hnext = NULL;
}

static void fill_free(struct gw_fill *f)
{
    gw_assert(f->refs == 0 && f->readers == NULL && !f->in_table && f->plist == NULL);
    if (f->fd >= 0) close(f->fd);
    /* A temp file still in tmp/ was never committed. */
    if (f->tmp[0]) unlink(f->tmp);
    if (f->reserved) gw_cache_unreserve(f->owner->cache, f->reserved);
    if (f->md5) EVP_MD_CTX_free(f->md5);
    gw_swift_req_cancel(&f->q);
    free(f->entry);
    fill_lo_free(&f->lo);
    f->magic = 0;
    free(f);
}

/* Drop one reference; returns 1 when the caller must free f (after unlocking). */
static int unref_locked(struct gw_fill *f)
{
    gw_assert(f->refs > 0);
    return --f->refs == 0;
}

static void wake_locked(struct gw_fill_reader *r)
{
    if (r->pending) return;
    r->pending = 1;
    r->wnext = r->fw->pending;
    r->fw->pending = r;
    uv_async_send(&r->fw->async);
}

/* Wake every reader (lock held). */
static void notify_locked(struct gw_fill *f)
{
    for (struct gw_fill_reader *r = f->readers; r; r = r->next) wake_locked(r);
}

void fill_set_state(struct gw_fill *f, enum gw_fill_state st, int error_status,
                    const char *why)
{
    pthread_mutex_lock(&gw_fill_lock);
    f->info.state = st;
    f->info.error_status = error_status;
    f->info.error_reason = why;
    if (st == GW_FILL_FAILED || st == GW_FILL_UNCACHEABLE) table_remove(f);
    notify_locked(f);
    pthread_mutex_unlock(&gw_fill_lock);
}

/* Take f off its owner's list (lock held). */
static void owned_remove(struct gw_fill_worker *fw, struct gw_fill *f)
{
    if (!f->owned) return;
    if (f->oprev)
        f->oprev->onext = f->onext;
    else
        fw->owned = f->onext;
    if (f->onext) f->onext->oprev = f->oprev;
    f->onext = f->oprev = NULL;
    f->owned = 0;
}

/* ---- yielding the loop (the owner's loop only) ---- */

static void pause_unlink(struct gw_fill *f)
{
    if (f->plist == NULL) return;
    if (f->pprev)
        f->pprev->pnext = f->pnext;
    else
        *f->plist = f->pnext;
    if (f->pnext) f->pnext->pprev = f->pprev;
    f->pnext = f->pprev = NULL;
    f->plist = NULL;
}

static void pause_link(struct gw_fill **list, struct gw_fill *f)
{
    gw_assert(f->plist == NULL);
    f->pprev = NULL;
    f->pnext = *list;
    if (*list) (*list)->pprev = f;
    *list = f;
    f->plist = list;
}

/*
 * Once a turn, before the loop polls: resume the fills that yielded.  The
 * list is moved aside first, so that a fill pausing again while it is
 * resumed (curl_easy_pause hands the kept bytes over from inside) waits
 * for the next turn.
 */
static void on_fill_turn(uv_idle_t *h)
{
    struct gw_fill_worker *fw = h->data;
    uv_idle_stop(h);
    gw_assert(fw->resuming == NULL);
    struct gw_fill *f;
    while ((f = fw->paused) != NULL) {
        pause_unlink(f);
        pause_link(&fw->resuming, f);
    }
    while ((f = fw->resuming) != NULL) {
        GW_CHECK_MAGIC(f, FILL_MAGIC);
        pause_unlink(f);
        f->turn_bytes = 0;
        gw_swift_req_resume(&f->q); /* may call on_data at once */
    }
}

/* The fill has had its share of this turn: pause until the next one. */
static int fill_yield(struct gw_fill *f)
{
    struct gw_fill_worker *fw = f->owner->fills;
    if (f->plist == NULL) pause_link(&fw->paused, f);
    uv_idle_start(&fw->turn, on_fill_turn); /* no-op when active */
    return GW_FETCH_PAUSE;
}

void fill_owner_release(struct gw_fill *f)
{
    if (!f->owner_ref) return;
    f->owner_ref = 0;
    /* Nothing of the owner's may run for f any more. */
    pause_unlink(f);
    fill_lo_stop(f);
    pthread_mutex_lock(&gw_fill_lock);
    table_remove(f);
    owned_remove(f->owner->fills, f);
    int last = unref_locked(f);
    pthread_mutex_unlock(&gw_fill_lock);
    gw_stats_fills(-1);
    if (last) fill_free(f);
}

/* Fail the fill: readers get status (and why), the owner lets go. */
static void fill_fail(struct gw_fill *f, int status, const char *why)
{
    fill_set_state(f, GW_FILL_FAILED, status, why);
    fill_owner_release(f);
}

/* ---- the fetch ---- */

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
    notify_locked(f);
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
    f->md5 = EVP_MD_CTX_new();
    gw_assert(f->md5 != NULL);
    EVP_DigestInit_ex(f->md5, EVP_md5(), NULL);

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
        gw_warn("fill", "%s/%s: Swift answered %ld", f->container, f->name, status);
        gw_stats_error(GW_ERR_ORIGIN_STATUS);
        fill_set_state(f, GW_FILL_FAILED, 502, NULL);
        return GW_EORIGIN;
    }
    uint64_t length;
    int has_length = gw_parse_u64(gw_fetch_header(fe, "Content-Length"), &length) == 0;
    const char *slo = gw_fetch_header(fe, "X-Static-Large-Object");
    const char *dlo = gw_fetch_header(fe, "X-Object-Manifest");
    if (slo && strcasecmp(slo, "true") != 0) slo = NULL;
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
    EVP_DigestUpdate(f->md5, buf, len);
    if (f->need_sniff) gw_sniff_add(&f->sniff, buf, len);
    pthread_mutex_lock(&gw_fill_lock);
    f->written += len;
    notify_locked(f);
    pthread_mutex_unlock(&gw_fill_lock);
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
static void body_verify(struct gw_fill *f)
{
    if (f->need_sniff) publish_body(f); /* a body shorter than the sniff window */
    unsigned char digest[16];
    EVP_DigestFinal_ex(f->md5, digest, NULL);
    gw_hex(digest, 16, f->md5hex);
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
    pause_unlink(f); /* the fetch is over: nothing to resume */
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
        body_verify(f);
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

static void add_revalidation(void *ud, struct gw_fetch *fe)
{
    struct gw_fill *f = ud;
    if (!f->revalidate) return;
    char *h = gw_asprintf("If-None-Match: \"%s\"", f->reval_etag);
    gw_fetch_add_header(fe, h);
    free(h);
}

static void fetch_begin(struct gw_fill *f)
{
    struct gw_swift_target t = {
        .kind = f->segment ? "segment" : "object",
        .method = "GET",
        .container = f->container,
        .object = f->name,
        .query = f->segment ? NULL : "multipart-manifest=get",
        .prepare = add_revalidation,
    };
    gw_swift_req_init(&f->q, f->owner, &t, &fill_cbs, f);
    if (gw_swift_req_start(&f->q) != 0) fill_fail(f, 502, NULL);
}

/* ---- readers ---- */

static struct gw_fill *fill_new(const struct gw_services *svc, const uint8_t *key,
                                const struct gw_fill_spec *spec)
{
    struct gw_fill *f = gw_calloc(1, sizeof(*f));
    f->magic = FILL_MAGIC;
    memcpy(f->key, key, GW_CACHE_KEY_LEN);
    snprintf(f->container, sizeof(f->container), "%s",
             spec->container ? spec->container : svc->conf->container);
    snprintf(f->name, sizeof(f->name), "%s", spec->object);
    f->segment = spec->segment;
    snprintf(f->expect_md5, sizeof(f->expect_md5), "%s",
             spec->expect_md5 ? spec->expect_md5 : "");
    f->expect_size = spec->expect_size;
    f->owner = svc;
    f->fd = -1;
    f->info.state = GW_FILL_HEAD;
    if (spec->revalidate_etag && spec->revalidate_etag[0] && !spec->segment) {
        f->revalidate = 1;
        snprintf(f->reval_etag, sizeof(f->reval_etag), "%s", spec->revalidate_etag);
    }
    f->refs = 1; /* the owner's */
    f->owner_ref = 1;
    return f;
}

/* Put a new fill in the table and on its owner's list (lock held). */
static void fill_insert_locked(struct gw_fill *f)
{
    struct gw_fill_worker *fw = f->owner->fills;
    f->hnext = *bucket(f->key);
    *bucket(f->key) = f;
    f->in_table = 1;
    f->onext = fw->owned;
    if (fw->owned) fw->owned->oprev = f;
    fw->owned = f;
    f->owned = 1;
}

void gw_fill_join(const struct gw_services *svc, const uint8_t key[GW_CACHE_KEY_LEN],
                  const struct gw_fill_spec *spec, struct gw_fill_reader *r)
{
    gw_assert(r->on_event != NULL && r->fill == NULL);
    r->fw = svc->fills;
    r->pending = 0;
    r->primary = 0;
    struct gw_fill *f, *fresh = NULL;

    pthread_mutex_lock(&gw_fill_lock);
    for (f = *bucket(key); f; f = f->hnext)
        if (memcmp(f->key, key, GW_CACHE_KEY_LEN) == 0) break;
    if (f == NULL) {
        fresh = f = fill_new(svc, key, spec);
        fill_insert_locked(f);
        r->primary = 1;
    }
    f->refs++;
    r->fill = f;
    r->prev = NULL;
    r->next = f->readers;
    if (f->readers) f->readers->prev = r;
    f->readers = r;
    /* The first event comes from the loop, whatever the state. */
    wake_locked(r);
    pthread_mutex_unlock(&gw_fill_lock);

    if (fresh) {
        gw_stats_fills(1);
        fetch_begin(fresh);
    }
}

static void prefetch_event(struct gw_fill_reader *r)
{
    (void)r; /* never called: the reader leaves before the loop runs */
}

void gw_fill_prefetch(const struct gw_services *svc, const uint8_t key[GW_CACHE_KEY_LEN],
                      const struct gw_fill_spec *spec)
{
    struct gw_fill_reader r = {.on_event = prefetch_event};
    gw_fill_join(svc, key, spec, &r);
    gw_fill_leave(&r);
}

int gw_fill_plan(struct gw_fill_reader *r, struct gw_plan *out)
{
    struct gw_fill *f = r->fill;
    GW_CHECK_MAGIC(f, FILL_MAGIC);
    pthread_mutex_lock(&gw_fill_lock);
    const unsigned char *buf = f->info.state == GW_FILL_MANIFEST ? f->lo.plan_buf : NULL;
    size_t len = f->lo.plan_len;
    pthread_mutex_unlock(&gw_fill_lock);
    /* The bytes never change once published. */
    if (buf == NULL) {
        memset(out, 0, sizeof(*out));
        return GW_EPARSE;
    }
    return gw_plan_decode(buf, len, out);
}

void gw_fill_info(struct gw_fill_reader *r, struct gw_fill_info *out)
{
    struct gw_fill *f = r->fill;
    GW_CHECK_MAGIC(f, FILL_MAGIC);
    pthread_mutex_lock(&gw_fill_lock);
    *out = f->info;
    if (f->info.state == GW_FILL_VERIFIED)
        out->readable = f->written;
    else if (f->info.state == GW_FILL_BODY && f->info.length > 0)
        /* Hold the last byte back until the body is verified. */
        out->readable = f->written < f->info.length ? f->written : f->info.length - 1;
    else
        out->readable = 0;
    pthread_mutex_unlock(&gw_fill_lock);
}

/*
 * A reader's own descriptor of the fill's file (a dup: the fill closes its
 * own when it ends), shared by the reader and the sends it has queued.
 */
struct gw_fill_file {
    int fd;
    atomic_int refs;
};

int gw_fill_file(struct gw_fill_reader *r, int *fd, void **ref)
{
    struct gw_fill *f = r->fill;
    GW_CHECK_MAGIC(f, FILL_MAGIC);
    if (r->file == NULL) {
        if (f->fd < 0) return -EBADF;
        int dfd = fcntl(f->fd, F_DUPFD_CLOEXEC, 0);
        if (dfd < 0) return -errno;
        r->file = gw_malloc(sizeof(*r->file));
        r->file->fd = dfd;
        atomic_init(&r->file->refs, 1); /* the reader's own */
    }
    atomic_fetch_add(&r->file->refs, 1);
    *fd = r->file->fd;
    *ref = r->file;
    return 0;
}

void gw_fill_file_release(void *ref)
{
    struct gw_fill_file *ff = ref;
    if (atomic_fetch_sub(&ff->refs, 1) != 1) return;
    close(ff->fd);
    free(ff);
}

void gw_fill_leave(struct gw_fill_reader *r)
{
    struct gw_fill *f = r->fill;
    if (f == NULL) return;
    GW_CHECK_MAGIC(f, FILL_MAGIC);
    pthread_mutex_lock(&gw_fill_lock);
    if (r->prev)
        r->prev->next = r->next;
    else
        f->readers = r->next;
    if (r->next) r->next->prev = r->prev;
    if (r->pending) {
        for (struct gw_fill_reader **p = &r->fw->pending; *p; p = &(*p)->wnext) {
            if (*p == r) {
                *p = r->wnext;
                break;
            }
        }
        r->pending = 0;
    }
    r->next = r->prev = r->wnext = NULL;
    r->fill = NULL;
    int last = unref_locked(f);
    pthread_mutex_unlock(&gw_fill_lock);
    /* The reader's own descriptor: closed by the last of its queued sends. */
    if (r->file) gw_fill_file_release(r->file);
    r->file = NULL;
    if (last) fill_free(f);
}

/* ---- per worker ---- */

static void on_fill_async(uv_async_t *a)
{
    struct gw_fill_worker *fw = a->data;
    /* One reader at a time: an event may make another reader leave. */
    for (int budget = WAKE_BUDGET; budget > 0; budget--) {
        pthread_mutex_lock(&gw_fill_lock);
        struct gw_fill_reader *r = fw->pending;
        if (r) {
            fw->pending = r->wnext;
            r->wnext = NULL;
            r->pending = 0;
        }
        pthread_mutex_unlock(&gw_fill_lock);
        if (r == NULL) return;
        r->on_event(r);
    }
    /* Budget spent with readers still pending: the rest on the next turn. */
    uv_async_send(&fw->async);
}

struct gw_fill_worker *gw_fill_worker_new(const struct gw_services *svc)
{
    struct gw_fill_worker *fw = gw_calloc(1, sizeof(*fw));
    fw->svc = svc;
    int rc = uv_async_init(svc->loop, &fw->async, on_fill_async);
    gw_assert(rc == 0);
    fw->async.data = fw;
    rc = uv_idle_init(svc->loop, &fw->turn);
    gw_assert(rc == 0);
    fw->turn.data = fw;
    fw->handles_open = 2;
    fw->commits = fill_commitq_new(svc->loop);
    return fw;
}

struct fill_commitq *fill_worker_commitq(struct gw_fill_worker *fw)
{
    return fw->commits;
}

static void on_worker_handle_closed(uv_handle_t *h)
{
    struct gw_fill_worker *fw = h->data;
    if (--fw->handles_open == 0) free(fw);
}

void gw_fill_worker_close(struct gw_fill_worker *fw)
{
    /* The fills this worker owns cannot go on without its loop. */
    while (fw->owned) {
        struct gw_fill *f = fw->owned;
        gw_swift_req_cancel(&f->q);
        if (f->commit_kind != FILL_COMMIT_NONE) {
            /* A commit is in the thread pool: commit_done releases it. */
            pthread_mutex_lock(&gw_fill_lock);
            owned_remove(fw, f);
            pthread_mutex_unlock(&gw_fill_lock);
            continue;
        }
        fill_fail(f, 503, NULL);
    }
    /* Every fill that had yielded was released above. */
    gw_assert(fw->paused == NULL && fw->resuming == NULL);
    uv_idle_stop(&fw->turn);
    fill_commitq_close(fw->commits);
    fw->commits = NULL;
    uv_close((uv_handle_t *)&fw->async, on_worker_handle_closed);
    uv_close((uv_handle_t *)&fw->turn, on_worker_handle_closed);
}
