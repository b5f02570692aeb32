/*
 * open.c - a cache's life: opening it (the directory layout, the lock of
 * one process per cache, the LMDB environment and database, the sweep, the
 * totals, the first blob id) and closing it.
 *
 * Invariants:
 *  - Nothing is opened before gwc_layout_open() (layout.c) has checked
 *    the layout: no link, no other owner, modes 0700 and 0600.
 *  - "<dir>/lock" is flock()ed before the index is opened and stays locked
 *    until gw_cache_close(): the sweep empties tmp/ and the totals live in
 *    this process's memory, so a second process would destroy the first
 *    one's fills.
 *  - Opening is all or nothing: on any error everything opened so far is
 *    released through one goto leave, and *out stays NULL.
 *  - The totals are counted after the sweep, from the committed index, so
 *    they start out equal to a rescan; index.c keeps them so.
 *  - The first blob id is past every id the index holds, so a restart
 *    never reuses the name of a blob that may still exist.
 */
#include "cache_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

/* A cache error as text, for the messages of gw_cache_open(). */
static const char *errstr(int rc)
{
    switch (rc) {
    case GW_CACHE_ENOTFOUND:
        return "not found";
    case GW_CACHE_ELIMIT:
        return "index full (raise index_size)";
    case GW_CACHE_ECORRUPT:
        return "corrupt index";
    case GW_CACHE_EUNSAFE:
        return "unsafe file or directory";
    default:
        return strerror(rc < 0 ? -rc : rc);
    }
}

static void seterr(char *err, size_t errlen, const char *fmt, const char *a, const char *b)
{
    if (err != NULL && errlen > 0) snprintf(err, errlen, fmt, a, b);
}

static void cache_free(struct gw_cache *c)
{
    /* The threads' read transactions must end before their environment. */
    gwc_readers_close(c);
    if (c->env != NULL) mdb_env_close(c->env);
    if (c->lock_fd >= 0) close(c->lock_fd);
    pthread_mutex_destroy(&c->elock);
    pthread_mutex_destroy(&c->wlock);
    pthread_mutex_destroy(&c->tlock);
    free(c->touchq);
    free(c->dir);
    c->magic = 0;
    free(c);
}

/*
 * A handle for o->dir with its mutexes and touch queue, nothing opened yet
 * (no lock file, no environment): cache_free() releases it after any step
 * of cache_open().  The directory is kept without trailing slashes.
 */
static struct gw_cache *cache_new(const struct gw_cache_options *o)
{
    struct gw_cache *c = calloc(1, sizeof(*c));
    size_t len;

    GWC_ASSERT(c != NULL);
    c->magic = GWC_MAGIC;
    c->lock_fd = -1;
    gwc_readers_init(c);
    pthread_mutex_init(&c->elock, NULL);
    pthread_mutex_init(&c->wlock, NULL);
    pthread_mutex_init(&c->tlock, NULL);
    c->touchq = gwc_malloc(GWC_TOUCH_QUEUE * sizeof(c->touchq[0]));
    c->max_size = o->max_size;
    c->max_entries = o->max_entries;
    len = strlen(o->dir);
    while (len > 1 && o->dir[len - 1] == '/') len--;
    c->dir = gwc_malloc(len + 1);
    memcpy(c->dir, o->dir, len);
    c->dir[len] = '\0';
    return c;
}

/*
 * Lock "<dir>/lock" (opened by gwc_layout_open() into c->lock_fd) for this
 * process: 0, -EBUSY if another process holds it, or -errno.
 *
 * One process per cache: the sweep deletes tmp/ and the totals live in
 * this process's memory, so a second process (a gateway, or fsck while a
 * gateway runs) would destroy the first one's fills.  flock() locks die
 * with the process, so a SIGKILL never leaves the cache locked.
 */
static int cache_lock(struct gw_cache *c, char *err, size_t errlen)
{
    int rc;

    if (flock(c->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
        seterr(err, errlen, "%s: %s", c->dir,
               rc == -EBUSY ? "cache in use by another process" : strerror(-rc));
        return rc;
    }
    return 0;
}

/*
 * Open the LMDB environment in "<dir>/index", with a map of index_size
 * bytes (0: GWC_DEFAULT_INDEX_SIZE), and its database of entries.  0 or a
 * cache error; the environment stays in c->env, for cache_free() to close.
 * LMDB opens its files by path, following links: gwc_layout_open() made
 * them beforehand, as plain files checked through O_NOFOLLOW, in an index/
 * that only their owner can write to, so what LMDB opens is what was checked.
 */
static int cache_env_open(struct gw_cache *c, uint64_t index_size, char *err, size_t errlen)
{
    char path[GWC_PATH_MAX];
    MDB_txn *txn = NULL;
    MDB_stat st;
    int rc, n;

    snprintf(path, sizeof(path), "%s/index", c->dir);
    uint64_t mapsize = index_size != 0 ? index_size : GWC_DEFAULT_INDEX_SIZE;
    mapsize = (mapsize + 4095) & ~(uint64_t)4095;  /* LMDB wants whole pages */
    if ((rc = mdb_env_create(&c->env)) != 0 ||
        (rc = mdb_env_set_maxreaders(c->env, GWC_MAXREADERS)) != 0 ||
        (rc = mdb_env_set_maxdbs(c->env, 4)) != 0 ||
        (rc = mdb_env_set_mapsize(c->env, (size_t)mapsize)) != 0 ||
        (rc = mdb_env_open(c->env, path, MDB_NOTLS, 0600)) != 0) {
        seterr(err, errlen, "%s: %s", path, mdb_strerror(rc));
        return gwc_mdb_err(rc);
    }
    /* Reader slots of a killed process would pin old pages forever. */
    mdb_reader_check(c->env, &n);
    mdb_env_stat(c->env, &st);
    c->psize = st.ms_psize;

    rc = mdb_txn_begin(c->env, NULL, 0, &txn);
    if (rc == 0) rc = mdb_dbi_open(txn, GWC_DB_NAME, MDB_CREATE, &c->dbi);
    if (rc == 0) rc = mdb_txn_commit(txn);
    else mdb_txn_abort(txn);
    if (rc != 0) {
        seterr(err, errlen, "%s: %s", path, mdb_strerror(rc));
        return gwc_mdb_err(rc);
    }
    return 0;
}

/*
 * Count the committed index into the totals and choose the first blob id.
 * Blob ids count up from the wall clock in nanoseconds, and from past every
 * id the index already holds, so a restart (even after the clock stepped
 * back) never reuses the name of a blob that may still exist.
 */
static int cache_load_totals(struct gw_cache *c, char *err, size_t errlen)
{
    uint64_t entries, bytes, max_id;
    struct timespec ts;
    int rc;

    rc = gwc_scan_totals(c, &entries, &bytes, &max_id);
    if (rc != 0) {
        seterr(err, errlen, "%s/index: index scan failed: %s", c->dir, errstr(rc));
        return rc;
    }
    atomic_store(&c->entries, entries);
    atomic_store(&c->bytes, bytes);

    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t next = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    if (next <= max_id) next = max_id + 1;
    if (next == 0) next = 1;
    atomic_store(&c->next_blob_id, next);
    return 0;
}

/*
 * The steps of gw_cache_open(), in order; each leaves what it opened in c,
 * so one goto leave undoes whatever the steps before a failure did.
 */
static int cache_open(struct gw_cache **out, const struct gw_cache_options *o, int sweep,
                      char *err, size_t errlen)
{
    struct gw_cache *c = NULL;
    int rc;

    *out = NULL;
    seterr(err, errlen, "%s%s", "", "");
    if (o == NULL || o->dir == NULL || o->dir[0] == '\0') {
        seterr(err, errlen, "%s%s", "cache: no directory given", "");
        return -EINVAL;
    }

    c = cache_new(o);
    /* The longest path we build is a blob's: dir + "/blobs/xx/" + 81. */
    if (strlen(c->dir) + 100 > GWC_PATH_MAX) {
        rc = -ENAMETOOLONG;
        seterr(err, errlen, "%s: %s", c->dir, strerror(-rc));
        goto leave;
    }
    rc = gwc_layout_open(c, o, err, errlen);
    if (rc != 0) goto leave;
    rc = cache_lock(c, err, errlen);
    if (rc != 0) goto leave;
    rc = cache_env_open(c, o->index_size, err, errlen);
    if (rc != 0) goto leave;
    if (sweep) {
        rc = gwc_sweep(c, err, errlen);
        if (rc != 0) goto leave;
    }
    rc = cache_load_totals(c, err, errlen);
    if (rc != 0) goto leave;

    *out = c;
    c = NULL;
leave:
    if (c != NULL) cache_free(c);
    return rc;
}

int gw_cache_open(struct gw_cache **out, const struct gw_cache_options *o, char *err,
                  size_t errlen)
{
    return cache_open(out, o, 1, err, errlen);
}

int gw_cache_open_nosweep(struct gw_cache **out, const struct gw_cache_options *o, char *err,
                          size_t errlen)
{
    return cache_open(out, o, 0, err, errlen);
}

void gw_cache_close(struct gw_cache *c)
{
    if (c == NULL) return;
    GWC_CHECK(c);
    /* Best effort: an access lost here only makes LRU a little less exact. */
    (void)gw_cache_flush_touches(c);
    cache_free(c);
}

void gw_cache_last_sweep(struct gw_cache *c, uint64_t *tmp_removed, uint64_t *orphans_removed,
                         uint64_t *entries_dropped)
{
    GWC_CHECK(c);
    if (tmp_removed != NULL) *tmp_removed = c->sweep_tmp;
    if (orphans_removed != NULL) *orphans_removed = c->sweep_orphans;
    if (entries_dropped != NULL) *entries_dropped = c->sweep_dropped;
}
