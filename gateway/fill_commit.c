/*
 * fill_commit.c - a fill's outcome into the cache index, in the thread
 * pool (fill_int.h), and the temp blobs a fill writes.
 *
 * A commit writes the entry (an object or segment with its blob, a plan,
 * or a 304's refresh) off the loop, then publishes the outcome it stands
 * for, for the outcomes that wait for it (fill.h says which), and lets the
 * owner go.  A failed commit loses only the caching: the bytes were
 * verified all the same.  Commits with a blob are grouped per worker: one
 * index transaction for all that were verified while the last one ran.
 *
 * A 404 is remembered in memory (neg.h), never written to the index: a
 * flood of requests for names Swift does not have costs no disk write and
 * no thread-pool job, so cold blob opens never queue behind it.  The one
 * exception is a name the index still holds (the object was deleted from
 * Swift after it was cached): that entry is removed in the thread pool
 * before NOT_FOUND is published, so nothing serves it afterwards.  A 200
 * from Swift makes its name's 404 forgotten (fill.c, on_headers).  An
 * object whose index entry was replaced by a newer version while it was
 * fetched (a PUT through the gateway) is not written back over it.
 */
#include "fill_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cond.h"
#include "neg.h"
#include "stats.h"

/* Blob commits a worker takes into one index transaction, at most. */
#define COMMIT_BATCH_MAX 64

/*
 * A worker's blob commits (objects, segments, plans).  One batch at a time
 * runs in the thread pool; what comes meanwhile waits on the queue and
 * goes in the next batch, so a large object's segments, verified close
 * together, share one index transaction and its syncs.  The queue outlives
 * its worker's close until its last batch is done.
 */
struct fill_commitq {
    uv_loop_t *loop;
    struct gw_fill *head, *tail;    /* waiting, oldest first (cnext) */
    struct gw_fill *batch[COMMIT_BATCH_MAX];
    struct gw_cache_commit v[COMMIT_BATCH_MAX];
    size_t n;                       /* in the running batch; 0: none runs */
    uv_work_t work;
    int closing;
};

static void batch_start(struct fill_commitq *q);

/* ---- commit, in the thread pool ---- */

static void commit_work(uv_work_t *req)
{
    struct gw_fill *f = req->data;
    struct gw_cache *cache = f->owner->cache;
    if (f->commit_kind == FILL_COMMIT_REFRESH) {
        f->commit_rc = gw_cache_refresh(cache, f->key, f->entry->stored_at);
    } else if (f->commit_kind == FILL_COMMIT_GONE) {
        f->commit_rc = gw_cache_remove(cache, f->key);
        if (f->commit_rc == GW_CACHE_ENOTFOUND) f->commit_rc = 0; /* evicted meanwhile */
    }
}

/*
 * A fill that read an object before a newer version of it was committed (a
 * PUT through the gateway that ended while the fill ran) must not put the
 * older bytes back: its entry is not written when the index holds the key
 * with a later Last-Modified.  The cache asks this inside the transaction
 * that would write the entry, so a PUT committing just before cannot slip
 * between the look and the write.  (One second apart at least: Swift's
 * dates have no finer grain, so a PUT in the same second as the version it
 * replaces is not told apart.)
 */
static int superseded(const struct gw_cache_entry *held, const struct gw_cache_entry *e)
{
    if (e->kind != GW_CACHE_KIND_OBJECT || held->kind != GW_CACHE_KIND_OBJECT) return 0;
    int64_t t_held = gw_cond_parse_date(held->last_modified, strlen(held->last_modified));
    int64_t t_mine = gw_cond_parse_date(e->last_modified, strlen(e->last_modified));
    return t_held >= 0 && t_mine >= 0 && t_held > t_mine;
}

static void batch_work(uv_work_t *req)
{
    struct fill_commitq *q = req->data;
    struct gw_cache *cache = q->batch[0]->owner->cache;
    gw_cache_commit_many(cache, q->v, q->n);
    for (size_t i = 0; i < q->n; i++) {
        struct gw_fill *f = q->batch[i];
        f->commit_rc = q->v[i].rc;
        /* Renamed into blobs/ (or unlinked on failure): no longer ours to remove. */
        f->tmp[0] = '\0';
        if (f->reserved) gw_cache_unreserve(cache, f->reserved);
        f->reserved = 0;
    }
}

/*
 * The outcome is published only once the index holds it, so a client that
 * has its whole answer finds the entry there (a purge right after it finds
 * something to purge, the next request is a hit).  A failed commit loses
 * only the caching: the bytes were verified all the same.
 */
static void commit_settle(struct gw_fill *f, int status)
{
    GW_CHECK_MAGIC(f, FILL_MAGIC);
    if (status == 0 && f->commit_rc != 0) {
        /* GW_ELIMIT: the index map is full even after evicting a tenth of it. */
        int full = f->commit_rc == GW_ELIMIT;
        gw_warn("fill", "%s: not cached: %s", f->name,
                full ? "index full (raise index_size)" : gw_strerror(f->commit_rc));
        gw_stats_error_for(full ? GW_ERR_INDEX_FULL : GW_ERR_CACHE_WRITE, f->commit_rc);
    }
    static const enum gw_fill_state outcome[] = {
        [FILL_COMMIT_NONE] = GW_FILL_FAILED,       [FILL_COMMIT_BLOB] = GW_FILL_VERIFIED,
        [FILL_COMMIT_GONE] = GW_FILL_NOT_FOUND, [FILL_COMMIT_REFRESH] = GW_FILL_NOT_MODIFIED,
        [FILL_COMMIT_MANIFEST] = GW_FILL_MANIFEST,
    };
    /* A plan went to the readers when it was verified (fill_lo.c). */
    if (f->commit_kind != FILL_COMMIT_MANIFEST) fill_set_state(f, outcome[f->commit_kind], 0, NULL);
    fill_owner_release(f);
}

static void commit_done(uv_work_t *req, int status)
{
    commit_settle(req->data, status);
}

static void batch_done(uv_work_t *req, int status)
{
    struct fill_commitq *q = req->data;
    size_t n = q->n;
    struct gw_fill *batch[COMMIT_BATCH_MAX];
    memcpy(batch, q->batch, n * sizeof(batch[0]));
    q->n = 0;
    /* The next batch first: settling may queue more commits. */
    batch_start(q);
    for (size_t i = 0; i < n; i++) commit_settle(batch[i], status);
    if (q->closing && q->n == 0 && q->head == NULL) free(q);
}

/* Take up to COMMIT_BATCH_MAX waiting commits into the thread pool. */
static void batch_start(struct fill_commitq *q)
{
    if (q->n > 0 || q->head == NULL) return;
    while (q->head != NULL && q->n < COMMIT_BATCH_MAX) {
        struct gw_fill *f = q->head;
        q->head = f->cnext;
        f->cnext = NULL;
        q->batch[q->n] = f;
        q->v[q->n] = (struct gw_cache_commit){.e = f->entry, .tmp_path = f->tmp, .fd = f->fd,
                                              .keep_old = superseded};
        q->n++;
    }
    if (q->head == NULL) q->tail = NULL;
    q->work.data = q;
    if (uv_queue_work(q->loop, &q->work, batch_work, batch_done) != 0) {
        for (size_t i = 0; i < q->n; i++) q->batch[i]->commit_rc = GW_EORIGIN;
        batch_done(&q->work, 0);
    }
}

struct fill_commitq *fill_commitq_new(uv_loop_t *loop)
{
    struct fill_commitq *q = gw_calloc(1, sizeof(*q));
    q->loop = loop;
    return q;
}

void fill_commitq_close(struct fill_commitq *q)
{
    q->closing = 1;
    if (q->n == 0 && q->head == NULL) free(q);
}

/* The index entry a commit of kind writes, from what the fill knows. */
static struct gw_cache_entry *commit_entry(struct gw_fill *f, enum fill_commit kind)
{
    struct gw_fill_info info;
    pthread_mutex_lock(&gw_fill_lock);
    info = f->info;
    pthread_mutex_unlock(&gw_fill_lock);

    struct gw_cache_entry *e = gw_calloc(1, sizeof(*e));
    memcpy(e->key, f->key, GW_CACHE_KEY_LEN);
    e->stored_at = gw_wall_ms();
    e->last_access = e->stored_at;
    /* For reports only: cut a name longer than the record keeps. */
    char full[GW_CONTAINER_MAX + GW_OBJECT_MAX + 2];
    snprintf(full, sizeof(full), "%s/%s", f->container, f->name);
    size_t nl = strlen(full) < sizeof(e->name) - 1 ? strlen(full) : sizeof(e->name) - 1;
    memcpy(e->name, full, nl);
    e->name[nl] = '\0';
    if (kind == FILL_COMMIT_MANIFEST) {
        e->kind = GW_CACHE_KIND_MANIFEST;
        e->size = f->lo.plan_len;
        snprintf(e->etag, sizeof(e->etag), "%s", f->lo.manifest_etag);
    } else {
        e->kind = f->segment ? GW_CACHE_KIND_SEGMENT : GW_CACHE_KIND_OBJECT;
        e->size = info.length;
        snprintf(e->etag, sizeof(e->etag), "%s", info.etag);
    }
    memcpy(e->md5, f->md5hex, sizeof(e->md5));
    snprintf(e->last_modified, sizeof(e->last_modified), "%s", info.last_modified);
    snprintf(e->content_type, sizeof(e->content_type), "%s", info.content_type);
    snprintf(e->meta, sizeof(e->meta), "%s", info.replay);
    return e;
}

static void commit_queue(struct gw_fill *f, enum fill_commit kind)
{
    f->commit_kind = kind;
    if (kind == FILL_COMMIT_BLOB || kind == FILL_COMMIT_MANIFEST) {
        struct fill_commitq *q = fill_worker_commitq(f->owner->fills);
        if (q->tail != NULL) q->tail->cnext = f;
        else q->head = f;
        q->tail = f;
        batch_start(q);
        return;
    }
    f->work.data = f;
    if (uv_queue_work(f->owner->loop, &f->work, commit_work, commit_done) != 0) {
        f->commit_rc = GW_EORIGIN;
        commit_done(&f->work, 0);
    }
}

void fill_commit(struct gw_fill *f, enum fill_commit kind)
{
    gw_assert(kind != FILL_COMMIT_GONE);
    f->entry = commit_entry(f, kind);
    commit_queue(f, kind);
}

void fill_not_found(struct gw_fill *f)
{
    gw_neg_put(f->owner->neg, f->key, gw_now_ms());
    /* A look in this thread's read transaction: cheap, never waits. */
    f->entry = gw_malloc(sizeof(*f->entry));
    int rc = gw_cache_get(f->owner->cache, f->key, f->entry);
    if (rc == 0 || rc == GW_CACHE_ECORRUPT) {
        commit_queue(f, FILL_COMMIT_GONE);
        return;
    }
    fill_set_state(f, GW_FILL_NOT_FOUND, 0, NULL);
    fill_owner_release(f);
}

int fill_tmp_open(struct gw_fill *f, uint64_t len)
{
    char path[512];
    struct gw_cache *cache = f->owner->cache;
    /* Temp bytes count against max_size while they exist.  A segment's
     * are never refused: its large object's answer has no other way. */
    if (len > 0 && gw_cache_reserve(cache, len, f->segment) != 0) return GW_ELIMIT;
    int fd = gw_cache_tmp_open(cache, path, sizeof(path));
    if (fd >= 0 && len > 0 && fallocate(fd, 0, 0, (off_t)len) != 0 && errno != EOPNOTSUPP) {
        int e = errno;
        close(fd);
        unlink(path);
        fd = -e;
    }
    if (fd < 0) {
        if (len > 0) gw_cache_unreserve(cache, len);
        return fd;
    }
    f->reserved = len;
    f->fd = fd;
    snprintf(f->tmp, sizeof(f->tmp), "%s", path);
    return fd;
}

