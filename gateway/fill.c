/*
 * fill.c - one origin fetch per cache key; readers follow it from disk.
 * This file keeps the table, the readers and the yielding; the fetch
 * itself (Swift's answer into the temp blob, then verify) is fill_fetch.c.
 *
 * The table of running fills is process-wide, behind one mutex, so request
 * coalescing holds across workers: however many requests miss on a key at
 * once, one fill fetches it.  Everything a reader may look at (state, head,
 * bytes written, the reader lists) is guarded by that mutex; the fetch and
 * the temp file's writes belong to the owner's loop, the MD5 to it or to
 * the one job hashing behind it (fill_hash.c).
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
 * pwrite, a wake-up and (for a small body) an MD5 update, so a fast Swift
 * would hold the loop for tens of milliseconds at a time.  A fill
 * therefore takes at most FILL_TURN_BUDGET body bytes per turn: past it,
 * on_data (fill_fetch.c) pauses the transfer (curl keeps the refused
 * bytes and hands them over again), and the worker's idle handle resumes
 * every such fill on the next turn, so that the loop polls (readers'
 * wake-ups, clients' sockets) between one share and the next.  A fill is
 * on that list only while its owner holds it and its fetch runs: whatever
 * ends the fetch takes it off first.
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
    fill_hash_free(&f->hash);
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
void fill_notify_locked(struct gw_fill *f)
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
    fill_notify_locked(f);
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

void fill_unpause(struct gw_fill *f)
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
        fill_unpause(f);
        pause_link(&fw->resuming, f);
    }
    while ((f = fw->resuming) != NULL) {
        GW_CHECK_MAGIC(f, FILL_MAGIC);
        fill_unpause(f);
        f->turn_bytes = 0;
        gw_swift_req_resume(&f->q); /* may call on_data at once */
    }
}

/* The fill has had its share of this turn: pause until the next one. */
int fill_yield(struct gw_fill *f)
{
    struct gw_fill_worker *fw = f->owner->fills;
    if (f->plist == NULL) pause_link(&fw->paused, f);
    uv_idle_start(&fw->turn, on_fill_turn); /* no-op when active */
    return GW_FETCH_PAUSE;
}

void fill_hold(struct gw_fill *f)
{
    pthread_mutex_lock(&gw_fill_lock);
    f->refs++;
    pthread_mutex_unlock(&gw_fill_lock);
}

void fill_drop(struct gw_fill *f)
{
    pthread_mutex_lock(&gw_fill_lock);
    int last = unref_locked(f);
    pthread_mutex_unlock(&gw_fill_lock);
    if (last) fill_free(f);
}

void fill_owner_release(struct gw_fill *f)
{
    if (!f->owner_ref) return;
    f->owner_ref = 0;
    /* Nothing of the owner's may run for f any more. */
    fill_unpause(f);
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
void fill_fail(struct gw_fill *f, int status, const char *why)
{
    fill_set_state(f, GW_FILL_FAILED, status, why);
    fill_owner_release(f);
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
    snprintf(f->request_id, sizeof(f->request_id), "%s",
             spec->request_id ? spec->request_id : "");
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
        fill_fetch_begin(fresh);
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
