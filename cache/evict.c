/*
 * evict.c - keeping the cache under its caps, and keeping the index and
 * the blob files in agreement: eviction, the sweep at open, fsck.
 *
 * Eviction is exact LRU by last_access, at the granularity of the touch
 * flushes (last_access is what the caller committed, or the time of the
 * flush that saw the entry touched).  It scans the whole index in a read
 * transaction and keeps, in a max-heap, the oldest entries that are just
 * enough to get below 90% of the caps; memory is proportional to the
 * number evicted, not to the size of the cache.  The victims are then
 * deleted in write transactions of GWC_EVICT_CHUNK, each victim only if
 * its record is unchanged since the scan (an entry replaced or touched
 * meanwhile stays).  Since eviction goes down to 90% it runs once per
 * tenth of the cap filled, not once per commit.
 *
 * The index map is a cap too: LMDB cannot even delete once its map is
 * completely full, so when more than GWC_INDEX_HIGH percent of the map's
 * pages are in use, a tenth of the entries go, oldest first.  Each pass
 * counts what it evicted under one reason (cache.h), for metrics.
 *
 * Invariants:
 *  - Evictions run one at a time (c->elock), beside commits.
 *  - Index entries are deleted (and the deletion committed) before their
 *    blobs are unlinked: a crash in between leaves orphans, which the
 *    sweep removes, never an entry without its blob.
 *  - The sweep runs only from gw_cache_open(), before anyone else holds
 *    the handle; fsck only on a cache no gateway uses (the lock file that
 *    open.c's cache_lock() takes makes sure of both across processes).
 */
#include "cache_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#define FSCK_READ_SIZE (64 * 1024)  /* MD5 is fed in reads of this size */

/* ------------------------------------------------------------------------ */
/* Eviction                                                                  */

struct victim {
    int64_t last_access;
    uint64_t size;
    uint64_t blob_id;           /* 0: no blob (NEGATIVE, or a corrupt record) */
    uint8_t key[GW_CACHE_KEY_LEN];
    int deleted;
};

/* A max-heap of victims by (last_access, key): the top is the newest. */
struct heap {
    struct victim *v;
    size_t n, cap;
    uint64_t bytes;             /* sum of v[].size */
};

static int newer(const struct victim *a, const struct victim *b)
{
    if (a->last_access != b->last_access) return a->last_access > b->last_access;
    return memcmp(a->key, b->key, GW_CACHE_KEY_LEN) > 0;
}

static void heap_swap(struct heap *h, size_t i, size_t j)
{
    struct victim t = h->v[i];
    h->v[i] = h->v[j];
    h->v[j] = t;
}

static void heap_push(struct heap *h, const struct victim *x)
{
    if (h->n == h->cap) {
        h->cap = h->cap != 0 ? 2 * h->cap : 64;
        h->v = gwc_realloc(h->v, h->cap * sizeof(h->v[0]));
    }
    size_t i = h->n++;
    h->v[i] = *x;
    h->bytes += x->size;
    while (i > 0 && newer(&h->v[i], &h->v[(i - 1) / 2])) {
        heap_swap(h, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void heap_pop(struct heap *h)
{
    size_t i = 0;
    h->bytes -= h->v[0].size;
    h->v[0] = h->v[--h->n];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && newer(&h->v[l], &h->v[m])) m = l;
        if (r < h->n && newer(&h->v[r], &h->v[m])) m = r;
        if (m == i) break;
        heap_swap(h, i, m);
        i = m;
    }
}

static int victim_key_cmp(const void *a, const void *b)
{
    return memcmp(((const struct victim *)a)->key, ((const struct victim *)b)->key,
                  GW_CACHE_KEY_LEN);
}

static int over_caps(struct gw_cache *c, uint64_t entries, uint64_t bytes)
{
    return (c->max_entries != 0 && entries > c->max_entries) ||
           (c->max_size != 0 && bytes > c->max_size);
}

/* 90% of a cap, rounded down (a tenth rounded up), without overflow. */
static uint64_t ninety(uint64_t cap)
{
    return cap - (cap / 10 + (cap % 10 != 0));
}

/* The index map's size and its high-water mark, in pages: free to read. */
static int map_pages(struct gw_cache *c, uint64_t *pages, uint64_t *high)
{
    MDB_envinfo info;

    if (mdb_env_info(c->env, &info) != 0) return -1;
    *pages = info.me_mapsize / c->psize;
    *high = (uint64_t)info.me_last_pgno + 1;
    return 0;
}

/*
 * Pages below the high-water mark that LMDB holds free for reuse: a scan
 * of its free DB, as mdb_stat -f does.  0 if it cannot be read.
 */
static uint64_t free_pages(struct gw_cache *c)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    uint64_t freep = 0;

    if (mdb_txn_begin(c->env, NULL, MDB_RDONLY, &txn) != 0) return 0;
    if (mdb_cursor_open(txn, 0, &cur) == 0) {
        /* Each record of the free DB is a page list; its first word is its length. */
        while (mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0) {
            size_t n;
            if (v.mv_size < sizeof(n)) continue;
            memcpy(&n, v.mv_data, sizeof(n));
            freep += n;
        }
        mdb_cursor_close(cur);
    }
    mdb_txn_abort(txn);
    return freep;
}

/*
 * Is the index map more than GWC_INDEX_HIGH percent used?  LMDB cannot
 * delete from a map that is completely full (copy-on-write needs free
 * pages even to delete), so eviction must start while there is room.  The
 * high-water mark is free to read; only when it is high are the pages on
 * the free list counted.
 */
static int index_pressure(struct gw_cache *c)
{
    uint64_t pages, used, freep;

    if (map_pages(c, &pages, &used) != 0) return 0;
    if (used * 100 < pages * GWC_INDEX_HIGH) return 0;
    freep = free_pages(c);
    used = used > freep ? used - freep : 0;
    return used * 100 >= pages * GWC_INDEX_HIGH;
}

/* Scan the index for the oldest entries that free need_e entries and need_b bytes. */
static int evict_scan(struct gw_cache *c, const uint8_t *exclude, uint64_t need_e,
                      uint64_t need_b, struct heap *h)
{
    struct gw_cache_entry *e = gwc_malloc(sizeof(*e));
    MDB_cursor *cur = NULL;
    MDB_txn *txn = NULL;
    MDB_val k, v;
    int rc;

    rc = mdb_txn_begin(c->env, NULL, MDB_RDONLY, &txn);
    if (rc == 0) rc = mdb_cursor_open(txn, c->dbi, &cur);
    while (rc == 0 && (rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
        struct victim x = {.deleted = 0};
        /* A key of another length is not ours; the sweep drops it. */
        if (k.mv_size != GW_CACHE_KEY_LEN) continue;
        memcpy(x.key, k.mv_data, GW_CACHE_KEY_LEN);
        if (exclude != NULL && memcmp(x.key, exclude, GW_CACHE_KEY_LEN) == 0) continue;
        if (gwc_rec_decode(&v, e) == 0) {
            x.last_access = e->last_access;
            x.size = e->size;
            x.blob_id = e->blob_id;
        } else {
            /* Unreadable, so useless: the first to go.  Totals count it 0 bytes. */
            x.last_access = INT64_MIN;
        }
        heap_push(h, &x);
        /* Keep only the oldest entries that free enough. */
        while (h->n > 0 && h->bytes - h->v[0].size >= need_b && h->n - 1 >= need_e) heap_pop(h);
    }
    if (cur != NULL) mdb_cursor_close(cur);
    if (txn != NULL) mdb_txn_abort(txn);
    free(e);
    return rc == MDB_NOTFOUND ? 0 : gwc_mdb_err(rc);
}

/*
 * Delete n victims in one write transaction, each only if its record is
 * still the one the scan saw (not replaced, not touched since), then
 * unlink their blobs.  Returns 0 or an error; deleted victims are marked.
 */
static int evict_chunk(struct gw_cache *c, struct victim *v, size_t n, struct gw_cache_entry *e,
                       enum gw_cache_evict_reason why)
{
    int64_t d_entries = 0, d_bytes = 0;
    uint64_t count = 0;
    MDB_txn *txn;
    int rc;

    rc = gwc_write_begin(c, &txn);
    if (rc != 0) return rc;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        MDB_val k = {GW_CACHE_KEY_LEN, v[i].key}, val;
        rc = mdb_get(txn, c->dbi, &k, &val);
        if (rc == MDB_NOTFOUND) {
            rc = 0;
            continue;
        }
        if (rc != 0) break;
        if (gwc_rec_decode(&val, e) == 0) {
            if (e->blob_id != v[i].blob_id || e->last_access != v[i].last_access) continue;
        } else if (v[i].last_access != INT64_MIN) {
            continue;
        }
        rc = mdb_del(txn, c->dbi, &k, NULL);
        v[i].deleted = 1;
        d_entries--;
        d_bytes -= (int64_t)v[i].size;
        count++;
    }
    if (rc != 0) {
        gwc_write_abort(c, txn);
        for (size_t i = 0; i < n; i++) v[i].deleted = 0;
        return gwc_mdb_err(rc);
    }
    rc = gwc_write_commit(c, txn, d_entries, d_bytes);
    if (rc != 0) return rc;
    for (size_t i = 0; i < n; i++)
        if (v[i].deleted && v[i].blob_id != 0) gwc_blob_unlink(c, v[i].key, v[i].blob_id);
    atomic_fetch_add(&c->evicted[why], count);
    return 0;
}

int gwc_evict(struct gw_cache *c, const uint8_t *exclude, enum gwc_evict_mode mode)
{
    struct gw_cache_entry *e = NULL;
    struct heap h = {0};
    uint64_t n, b, need_e = 0, need_b = 0;
    enum gw_cache_evict_reason why = GW_CACHE_EVICT_ENTRIES;
    int rc = 0;

    /* The common case, under the caps and with room in the index, is cheap. */
    n = atomic_load(&c->entries);
    b = atomic_load(&c->bytes) + atomic_load(&c->reserved);
    if (mode == GWC_EVICT_CAPS && !over_caps(c, n, b) && !index_pressure(c)) return 0;

    /* One eviction at a time; commits go on meanwhile. */
    pthread_mutex_lock(&c->elock);
    n = atomic_load(&c->entries);
    b = atomic_load(&c->bytes) + atomic_load(&c->reserved);
    if (over_caps(c, n, b)) {
        uint64_t te = ninety(c->max_entries), tb = ninety(c->max_size);
        if (c->max_entries != 0 && n > te) need_e = n - te;
        if (c->max_size != 0 && b > tb) need_b = b - tb;
        if (need_b != 0) why = GW_CACHE_EVICT_SIZE;
    }
    if (mode == GWC_EVICT_MAPFULL || index_pressure(c)) {
        uint64_t tenth = n / 10 != 0 ? n / 10 : 1;
        if (need_e < tenth) need_e = tenth;
        why = GW_CACHE_EVICT_INDEX;
    }
    if (need_e == 0 && need_b == 0) goto leave;     /* another thread evicted first */

    rc = evict_scan(c, exclude, need_e, need_b, &h);
    /* Nothing to evict: the bytes over the cap may all be reservations. */
    if (rc != 0 || h.n == 0) goto leave;
    /*
     * Delete in key order, a chunk per transaction: neighbours share leaf
     * pages, and small transactions need few free pages, which matters
     * when the map is nearly full.
     */
    qsort(h.v, h.n, sizeof(h.v[0]), victim_key_cmp);
    e = gwc_malloc(sizeof(*e));
    size_t chunk = GWC_EVICT_CHUNK;
    for (size_t i = 0; i < h.n;) {
        size_t len = h.n - i < chunk ? h.n - i : chunk;
        rc = evict_chunk(c, h.v + i, len, e, why);
        if (rc == GW_CACHE_ELIMIT && chunk > 1) {
            /* Too few free pages even to delete this many: try fewer. */
            chunk /= 2;
            continue;
        }
        if (rc != 0) break;
        i += len;
    }
leave:
    pthread_mutex_unlock(&c->elock);
    free(h.v);
    free(e);
    return rc;
}

int gw_cache_evict(struct gw_cache *c)
{
    GWC_CHECK(c);
    return gwc_evict(c, NULL, GWC_EVICT_CAPS);
}

const char *gw_cache_evict_reason_name(enum gw_cache_evict_reason r)
{
    static const char *const names[GW_CACHE_EVICT_NREASONS] = {
        [GW_CACHE_EVICT_SIZE] = "size",
        [GW_CACHE_EVICT_ENTRIES] = "entries",
        [GW_CACHE_EVICT_INDEX] = "index",
    };
    return (unsigned)r < GW_CACHE_EVICT_NREASONS ? names[r] : "";
}

void gw_cache_stats(struct gw_cache *c, struct gw_cache_stats *out)
{
    uint64_t pages, high;

    GWC_CHECK(c);
    memset(out, 0, sizeof(*out));
    gw_cache_usage(c, &out->entries, &out->bytes);
    out->reserved = gw_cache_reserved(c);
    out->max_size = c->max_size;
    out->max_entries = c->max_entries;
    for (int r = 0; r < GW_CACHE_EVICT_NREASONS; r++)
        out->evictions[r] = atomic_load(&c->evicted[r]);
    if (map_pages(c, &pages, &high) != 0) return;
    uint64_t freep = free_pages(c);
    out->index_size = pages * c->psize;
    out->index_used = (high > freep ? high - freep : 0) * c->psize;
}

/* ------------------------------------------------------------------------ */
/* Shared by the sweep and fsck                                              */

/* A key of any length, copied out of a transaction. */
struct keycopy {
    uint8_t *data;
    size_t len;
    uint64_t blob_id;           /* the blob the record named, 0 if none or corrupt */
    int corrupt;
};

struct keylist {
    struct keycopy *v;
    size_t n, cap;
};

static void keylist_add(struct keylist *l, const MDB_val *k, uint64_t blob_id, int corrupt)
{
    if (l->n == l->cap) {
        l->cap = l->cap != 0 ? 2 * l->cap : 16;
        l->v = gwc_realloc(l->v, l->cap * sizeof(l->v[0]));
    }
    struct keycopy *kc = &l->v[l->n++];
    kc->data = gwc_malloc(k->mv_size);
    memcpy(kc->data, k->mv_data, k->mv_size);
    kc->len = k->mv_size;
    kc->blob_id = blob_id;
    kc->corrupt = corrupt;
}

static void keylist_free(struct keylist *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->v[i].data);
    free(l->v);
}

/* Does the index name blob (key, id)?  1, 0, or an error. */
static int blob_listed(struct gw_cache *c, MDB_txn *txn, const uint8_t *key, uint64_t id,
                       struct gw_cache_entry *e)
{
    MDB_val k = {GW_CACHE_KEY_LEN, (void *)(uintptr_t)key}, v;
    int rc = mdb_get(txn, c->dbi, &k, &v);
    if (rc == MDB_NOTFOUND) return 0;
    if (rc != 0) return gwc_mdb_err(rc);
    return gwc_rec_decode(&v, e) == 0 && gwc_has_blob(e->kind) && e->blob_id == id;
}

/* ------------------------------------------------------------------------ */
/* Sweep                                                                     */

struct sweep {
    struct gw_cache *c;
    MDB_txn *txn;
    struct gw_cache_entry *e;
    const char *failed;         /* the file an unlink failed on */
    char rel[GWC_PATH_MAX];
};

static int sweep_unlink(struct sweep *s, int dfd, const char *rel, const char *name)
{
    if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT) return 0;
    snprintf(s->rel, sizeof(s->rel), "%s", rel);
    s->failed = s->rel;
    return -errno;
}

static int sweep_tmp_cb(void *ud, int dfd, const char *rel, const char *name,
                        const uint8_t *key, uint64_t id)
{
    struct sweep *s = ud;
    (void)key;
    (void)id;
    int rc = sweep_unlink(s, dfd, rel, name);
    if (rc == 0) s->c->sweep_tmp++;
    return rc;
}

static int sweep_blob_cb(void *ud, int dfd, const char *rel, const char *name,
                         const uint8_t *key, uint64_t id)
{
    struct sweep *s = ud;
    int rc = key != NULL ? blob_listed(s->c, s->txn, key, id, s->e) : 0;
    if (rc != 0) return rc < 0 ? rc : 0;     /* listed, or an index error */
    rc = sweep_unlink(s, dfd, rel, name);
    if (rc == 0) s->c->sweep_orphans++;
    return rc;
}

/* Collect the entries to drop: unreadable, or blob missing or of the wrong size. */
static int sweep_index_scan(struct gw_cache *c, MDB_txn *txn, struct gw_cache_entry *e,
                            struct keylist *drop)
{
    char path[GWC_PATH_MAX];
    MDB_cursor *cur;
    MDB_val k, v;
    struct stat st;

    int rc = mdb_cursor_open(txn, c->dbi, &cur);
    if (rc != 0) return gwc_mdb_err(rc);
    while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
        if (k.mv_size != GW_CACHE_KEY_LEN || gwc_rec_decode(&v, e) != 0) {
            keylist_add(drop, &k, 0, 1);
            continue;
        }
        if (!gwc_has_blob(e->kind)) continue;
        memcpy(e->key, k.mv_data, GW_CACHE_KEY_LEN);
        if (gwc_blob_path(c, e->key, e->blob_id, path, sizeof(path)) != 0) {
            keylist_add(drop, &k, 0, 0);
        } else if (lstat(path, &st) != 0) {
            keylist_add(drop, &k, 0, 0);
        } else if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != e->size) {
            /* The record goes, so the file would be an orphan: unlink it now
             * (a link is removed itself, never what it points to). */
            keylist_add(drop, &k, e->blob_id, 0);
        }
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : gwc_mdb_err(rc);
}

int gwc_sweep(struct gw_cache *c, char *err, size_t errlen)
{
    struct sweep s = {.c = c};
    struct keylist drop = {0};
    MDB_txn *txn = NULL;
    const char *what = "tmp";
    int rc;

    s.e = gwc_malloc(sizeof(*s.e));
    c->sweep_tmp = c->sweep_orphans = c->sweep_dropped = 0;

    /* 1. Nothing in tmp/ can be wanted: its writers died with the last run. */
    rc = gwc_tmp_walk(c, sweep_tmp_cb, &s);
    if (rc != 0) goto leave;

    /* 2. Entries whose blob is missing or has the wrong size. */
    what = "index";
    rc = gwc_write_begin(c, &txn);
    if (rc != 0) goto leave;
    rc = sweep_index_scan(c, txn, s.e, &drop);
    for (size_t i = 0; rc == 0 && i < drop.n; i++) {
        MDB_val k = {drop.v[i].len, drop.v[i].data};
        rc = gwc_mdb_err(mdb_del(txn, c->dbi, &k, NULL));
    }
    if (rc != 0) {
        gwc_write_abort(c, txn);
        goto leave;
    }
    /* The totals are counted after the sweep, so no deltas here. */
    rc = gwc_write_commit(c, txn, 0, 0);
    if (rc != 0) goto leave;
    c->sweep_dropped = drop.n;
    for (size_t i = 0; i < drop.n; i++)
        if (drop.v[i].blob_id != 0) gwc_blob_unlink(c, drop.v[i].data, drop.v[i].blob_id);

    /* 3. Files in blobs/ that no entry names. */
    what = "blobs";
    rc = gwc_mdb_err(mdb_txn_begin(c->env, NULL, MDB_RDONLY, &s.txn));
    if (rc != 0) goto leave;
    rc = gwc_blob_walk(c, sweep_blob_cb, &s);
    mdb_txn_abort(s.txn);

leave:
    if (rc != 0 && err != NULL && errlen > 0)
        snprintf(err, errlen, "%s/%s: sweep failed: %s", c->dir,
                 s.failed != NULL ? s.failed : what,
                 rc == GW_CACHE_ELIMIT      ? "index full (raise index_size)"
                 : rc == GW_CACHE_ECORRUPT  ? "corrupt index"
                 : rc == GW_CACHE_EUNSAFE   ? "a link or not a directory"
                 : rc < 0                   ? strerror(-rc)
                                            : "error");
    keylist_free(&drop);
    free(s.e);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* fsck                                                                      */

struct fsck {
    struct gw_cache *c;
    MDB_txn *txn;
    struct gw_cache_entry *e;
    int repair;
    void (*report)(void *ud, const char *line);
    void *ud;
    struct gw_cache_fsck_result *res;
    uint8_t *buf;               /* FSCK_READ_SIZE bytes for hashing */
    char line[GWC_PATH_MAX + 256];
};

static void say(struct fsck *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(struct fsck *f, const char *fmt, ...)
{
    va_list ap;
    if (f->report == NULL) return;
    va_start(ap, fmt);
    vsnprintf(f->line, sizeof(f->line), fmt, ap);
    va_end(ap);
    f->report(f->ud, f->line);
}

/* MD5 of the rest of fd, as hex: 0 or -errno. */
static int md5_fd(struct fsck *f, int fd, char hex[33])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    int rc = 0;

    GWC_ASSERT(ctx != NULL);
    GWC_ASSERT(EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1);
    for (;;) {
        ssize_t r = read(fd, f->buf, FSCK_READ_SIZE);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            rc = -errno;
            break;
        }
        if (r == 0) break;
        GWC_ASSERT(EVP_DigestUpdate(ctx, f->buf, (size_t)r) == 1);
    }
    GWC_ASSERT(EVP_DigestFinal_ex(ctx, md, &n) == 1 && n == 16);
    EVP_MD_CTX_free(ctx);
    if (rc == 0) gwc_hex(md, 16, hex);
    return rc;
}

/* Check the blob of f->e, whose name is label: 1 if it is bad (reported), else 0. */
static int fsck_blob(struct fsck *f, const char *label)
{
    struct gw_cache_entry *e = f->e;
    char path[GWC_PATH_MAX], md5[33];
    struct stat st;
    int fd, rc;

    if (gwc_blob_path(f->c, e->key, e->blob_id, path, sizeof(path)) != 0) {
        say(f, "bad: %s: blob path too long", label);
        return 1;
    }
    /* A link in place of a blob is bad: it is never followed. */
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) say(f, "missing: %s: blob not found", label);
        else say(f, "bad: %s: blob unreadable: %s", label, strerror(errno));
        return 1;
    }
    rc = 0;
    if (fstat(fd, &st) != 0) {
        say(f, "bad: %s: blob unreadable: %s", label, strerror(errno));
        rc = 1;
    } else if ((uint64_t)st.st_size != e->size) {
        say(f, "bad: %s: blob size %llu != %llu", label, (unsigned long long)st.st_size,
            (unsigned long long)e->size);
        rc = 1;
    } else if (e->md5[0] != '\0') {
        /* An entry with no md5 recorded can only be checked for size. */
        int r = md5_fd(f, fd, md5);
        if (r != 0) {
            say(f, "bad: %s: blob unreadable: %s", label, strerror(-r));
            rc = 1;
        } else if (strcasecmp(md5, e->md5) != 0) {
            say(f, "bad: %s: md5 %s != %s", label, md5, e->md5);
            rc = 1;
        }
    }
    close(fd);
    return rc;
}

/* Check every entry; bad ones go to bad. */
static int fsck_entries(struct fsck *f, struct keylist *bad)
{
    char label[sizeof(f->e->name) + 8 + 2 * GW_CACHE_KEY_LEN];
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    int rc;

    rc = mdb_txn_begin(f->c->env, NULL, MDB_RDONLY, &f->txn);
    if (rc != 0) return gwc_mdb_err(rc);
    rc = mdb_cursor_open(f->txn, f->c->dbi, &cur);
    while (rc == 0 && (rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
        f->res->entries++;
        int ok = k.mv_size == GW_CACHE_KEY_LEN && gwc_rec_decode(&v, f->e) == 0;
        if (k.mv_size == GW_CACHE_KEY_LEN) {
            memcpy(f->e->key, k.mv_data, GW_CACHE_KEY_LEN);
            if (ok && f->e->name[0] != '\0') {
                snprintf(label, sizeof(label), "%s", f->e->name);
            } else {
                memcpy(label, "key ", 4);
                gwc_hex(f->e->key, GW_CACHE_KEY_LEN, label + 4);
            }
        } else {
            snprintf(label, sizeof(label), "a key of %zu bytes", k.mv_size);
        }
        if (!ok) {
            say(f, "bad: %s: corrupt index record", label);
            keylist_add(bad, &k, 0, 1);
            f->res->bad++;
        } else if (gwc_has_blob(f->e->kind) && fsck_blob(f, label)) {
            keylist_add(bad, &k, f->e->blob_id, 0);
            f->res->bad++;
        }
    }
    if (cur != NULL) mdb_cursor_close(cur);
    mdb_txn_abort(f->txn);
    f->txn = NULL;
    return rc == MDB_NOTFOUND ? 0 : gwc_mdb_err(rc);
}

/* Remove the bad entries (unless they changed since) and their blobs. */
static int fsck_repair_entries(struct fsck *f, struct keylist *bad)
{
    struct gw_cache *c = f->c;
    int64_t d_entries = 0, d_bytes = 0;
    uint64_t removed = 0;
    MDB_txn *txn;
    int rc;

    rc = gwc_write_begin(c, &txn);
    if (rc != 0) return rc;
    for (size_t i = 0; rc == 0 && i < bad->n; i++) {
        struct keycopy *kc = &bad->v[i];
        MDB_val k = {kc->len, kc->data}, v;
        rc = mdb_get(txn, c->dbi, &k, &v);
        if (rc == MDB_NOTFOUND) {
            rc = 0;
            continue;
        }
        if (rc != 0) break;
        int ok = kc->len == GW_CACHE_KEY_LEN && gwc_rec_decode(&v, f->e) == 0;
        /* Skip a record that changed since it was checked. */
        if (kc->corrupt ? ok : (!ok || f->e->blob_id != kc->blob_id)) continue;
        rc = mdb_del(txn, c->dbi, &k, NULL);
        d_entries--;
        d_bytes -= ok ? (int64_t)f->e->size : 0;
        removed++;
    }
    if (rc != 0) {
        gwc_write_abort(c, txn);
        return gwc_mdb_err(rc);
    }
    rc = gwc_write_commit(c, txn, d_entries, d_bytes);
    if (rc != 0) return rc;
    for (size_t i = 0; i < bad->n; i++)
        if (bad->v[i].blob_id != 0) gwc_blob_unlink(c, bad->v[i].data, bad->v[i].blob_id);
    f->res->repaired += removed;
    return 0;
}

static int fsck_blob_cb(void *ud, int dfd, const char *rel, const char *name,
                        const uint8_t *key, uint64_t id)
{
    struct fsck *f = ud;
    int rc = key != NULL ? blob_listed(f->c, f->txn, key, id, f->e) : 0;
    if (rc != 0) return rc < 0 ? rc : 0;
    say(f, "orphan: %s: %s", rel, key != NULL ? "no index entry" : "not a blob file name");
    f->res->orphans++;
    if (f->repair && unlinkat(dfd, name, 0) == 0) f->res->repaired++;
    return 0;
}

static int fsck_tmp_cb(void *ud, int dfd, const char *rel, const char *name,
                       const uint8_t *key, uint64_t id)
{
    struct fsck *f = ud;
    (void)key;
    (void)id;
    say(f, "orphan: %s: temp file", rel);
    f->res->orphans++;
    if (f->repair && unlinkat(dfd, name, 0) == 0) f->res->repaired++;
    return 0;
}

int gw_cache_fsck(struct gw_cache *c, int repair, void (*report)(void *ud, const char *line),
                  void *ud, struct gw_cache_fsck_result *res)
{
    struct gw_cache_fsck_result dummy;
    struct keylist bad = {0};
    struct fsck f;
    int rc;

    GWC_CHECK(c);
    if (res == NULL) res = &dummy;
    memset(res, 0, sizeof(*res));
    memset(&f, 0, sizeof(f));
    f.c = c;
    f.repair = repair;
    f.report = report;
    f.ud = ud;
    f.res = res;
    f.e = gwc_malloc(sizeof(*f.e));
    f.buf = gwc_malloc(FSCK_READ_SIZE);

    /* Entries first: with repair, a bad entry's blob goes with it, not as an orphan. */
    rc = fsck_entries(&f, &bad);
    if (rc == 0 && repair && bad.n > 0) rc = fsck_repair_entries(&f, &bad);
    if (rc != 0) goto leave;

    rc = gwc_mdb_err(mdb_txn_begin(c->env, NULL, MDB_RDONLY, &f.txn));
    if (rc != 0) goto leave;
    rc = gwc_blob_walk(c, fsck_blob_cb, &f);
    mdb_txn_abort(f.txn);
    f.txn = NULL;
    if (rc == 0) rc = gwc_tmp_walk(c, fsck_tmp_cb, &f);

leave:
    keylist_free(&bad);
    free(f.e);
    free(f.buf);
    return rc;
}
