/*
 * cache_int.h - what open.c, index.c, blob.c and evict.c share.  Nothing
 * outside cache/ includes it, except the cache's own unit tests (which reach
 * the LMDB handle through it to plant corrupt records and to rescan totals).
 *
 * Ownership: struct gw_cache is allocated by gw_cache_open() and freed by
 * gw_cache_close(); every other function borrows it.
 *
 * Locks, in the order they may be taken:
 *   elock   one eviction at a time (taken without wlock held).
 *   wlock   held around every write transaction of the handle (and the
 *           update of the totals that follows its commit).  LMDB would
 *           serialise the writers anyway; holding our own mutex as well is
 *           what makes the in-memory totals change in the same order as
 *           the index does, so they always equal a rescan.
 *   tlock   the touch queue; never held while LMDB is called.
 *   thread.c's reg_lock, process-wide: the lists of read transactions kept
 *           per thread (c->readers); taken with none of the above held,
 *           and nothing is taken under it.
 */
#ifndef GW_CACHE_INT_H
#define GW_CACHE_INT_H

#include "cache.h"

#include <lmdb.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>

#define GWC_MAGIC 0x43414348u               /* "CACH"; zeroed by close */
#define GWC_DB_NAME "entries"               /* the LMDB database of entries */
#define GWC_MAXREADERS 512                  /* concurrent read transactions */
#define GWC_DEFAULT_INDEX_SIZE (UINT64_C(1) << 30)
#define GWC_TOUCH_QUEUE 8192                /* keys queued by gw_cache_touch() */
#define GWC_BLOB_NAME_LEN 81                /* 64 hex key, '-', 16 hex blob id */
#define GWC_PATH_MAX 4096
#define GWC_INDEX_HIGH 80                   /* % of the map's pages: evict above */
#define GWC_EVICT_CHUNK 64                  /* deletions per write transaction */

/* The largest encoded record: less than the entry itself (see index.c). */
#define GWC_REC_MAX (sizeof(struct gw_cache_entry) + 64)

struct gw_cache {
    uint32_t magic;
    char *dir;                  /* as given, without trailing slashes */
    MDB_env *env;
    MDB_dbi dbi;
    uint64_t max_size;          /* 0 = no cap */
    uint64_t max_entries;       /* 0 = no cap */
    int lock_fd;                /* "<dir>/lock", flock()ed: one process per cache */
    unsigned int psize;         /* LMDB page size */

    pthread_mutex_t elock;

    pthread_mutex_t wlock;
    _Atomic uint64_t entries;   /* changed only under wlock (gwc_write_commit) */
    _Atomic uint64_t bytes;
    _Atomic uint64_t evicted[GW_CACHE_EVICT_NREASONS];   /* entries, by reason */
    _Atomic uint64_t reserved;  /* temp blobs' bytes, counted with `bytes` for max_size */
    _Atomic uint64_t writes;    /* write transactions committed */
    _Atomic uint64_t next_blob_id;

    pthread_mutex_t tlock;
    uint8_t (*touchq)[GW_CACHE_KEY_LEN];    /* ring of GWC_TOUCH_QUEUE keys */
    size_t touch_head;          /* index of the oldest queued key */
    size_t touch_len;

    uint64_t id;                /* unique in the process (thread.c's readers) */
    struct gwc_reader *readers; /* the threads' read transactions (thread.c) */

    uint64_t sweep_tmp;         /* what the sweep at open removed */
    uint64_t sweep_orphans;
    uint64_t sweep_dropped;
};

/* Aborts with file:line on a broken invariant (a bad handle, OOM). */
#define GWC_ASSERT(cond)                                                    \
    do {                                                                    \
        if (!(cond)) gwc_panic(__FILE__, __LINE__, #cond);                  \
    } while (0)
#define GWC_CHECK(c) GWC_ASSERT((c) != NULL && (c)->magic == GWC_MAGIC)

void gwc_panic(const char *file, int line, const char *what) __attribute__((noreturn));
void *gwc_malloc(size_t n);
void *gwc_realloc(void *p, size_t n);

int64_t gwc_now_ms(void);
void gwc_hex(const uint8_t *b, size_t n, char *out);   /* out: 2n + 1 bytes */
int gwc_has_blob(unsigned kind);                        /* OBJECT, SEGMENT, MANIFEST */

/* ---- index.c ----------------------------------------------------------- */

/* An LMDB return code as a cache error: 0, -errno or GW_CACHE_E*. */
int gwc_mdb_err(int rc);

/*
 * Encode e (all but its key) into buf, GWC_REC_MAX bytes; returns the
 * length.  Decode checks every length and field and fills all of *e but
 * its key: 0 or GW_CACHE_ECORRUPT.
 */
size_t gwc_rec_encode(const struct gw_cache_entry *e, uint8_t *buf);
/* 0 if every string of e ends within its array, else -EINVAL. */
int gwc_rec_check(const struct gw_cache_entry *e);
int gwc_rec_decode(const MDB_val *v, struct gw_cache_entry *e);

/*
 * Write transactions.  begin takes wlock; commit and abort release it.
 * commit adds the deltas to the totals if (and only if) LMDB committed.
 */
int gwc_write_begin(struct gw_cache *c, MDB_txn **txn);
int gwc_write_commit(struct gw_cache *c, MDB_txn *txn, int64_t d_entries, int64_t d_bytes);
void gwc_write_abort(struct gw_cache *c, MDB_txn *txn);

/*
 * Count the committed index: entries (corrupt records count, with 0
 * bytes), blob bytes, and the largest blob id.  Read-only.
 */
int gwc_scan_totals(struct gw_cache *c, uint64_t *entries, uint64_t *bytes, uint64_t *max_id);

/* ---- layout.c ---------------------------------------------------------- */

/*
 * Make or check dir, dir/index (and its LMDB files), dir/tmp, dir/blobs,
 * dir/blobs/00..ff and dir/lock: plain directories and files, never links,
 * owned by the expected user, modes 0700 and 0600 (see layout.c).  On
 * success the lock file's fd is in c->lock_fd.  0, GW_CACHE_EUNSAFE (a
 * link, a wrong type or another owner; named in err) or -errno.
 */
int gwc_layout_open(struct gw_cache *c, const struct gw_cache_options *o, char *err,
                    size_t errlen);

/*
 * The directory name ("tmp", "blobs") of the cache, opened O_DIRECTORY |
 * O_NOFOLLOW: the fd, or GW_CACHE_EUNSAFE if it is a link or not a
 * directory, or -errno (-ENOENT if missing).
 */
int gwc_subdir_open(const struct gw_cache *c, const char *name);

/* ---- blob.c ------------------------------------------------------------ */


/* "<dir>/blobs/XX/<key hex>-<id hex>": 0 or -ENAMETOOLONG. */
int gwc_blob_path(const struct gw_cache *c, const uint8_t key[GW_CACHE_KEY_LEN], uint64_t id,
                  char *out, size_t len);

/* A blob id no blob of this cache has had: never 0. */
uint64_t gwc_blob_id_next(struct gw_cache *c);

/*
 * fsync(fd), rename tmp_path to the blob path of (key, id) (written to
 * out), fsync the blob's directory.  On failure the file is unlinked,
 * under whichever name it had, and the error returned.
 */
int gwc_blob_publish(struct gw_cache *c, const uint8_t key[GW_CACHE_KEY_LEN], uint64_t id,
                     const char *tmp_path, int fd, char *out, size_t len);

/* Unlink the blob of (key, id); a missing file is not an error. */
void gwc_blob_unlink(const struct gw_cache *c, const uint8_t key[GW_CACHE_KEY_LEN], uint64_t id);

/* Parse "<64 hex>-<16 hex>" found in blobs/<sub>/: 0, or -EINVAL. */
int gwc_blob_parse(const char *sub, const char *name, uint8_t key[GW_CACHE_KEY_LEN],
                   uint64_t *id);

/*
 * Walkers: fn is called once per non-directory file, with the directory's
 * fd (for unlinkat), the path relative to the cache dir ("tmp/x",
 * "blobs/ab/<name>"), the file name, and for blobs/ the parsed key and id
 * (key NULL when the name does not parse, or the file lies directly in
 * blobs/).  A non-zero return from fn stops the walk and is returned.
 */
typedef int (*gwc_walk_fn)(void *ud, int dirfd, const char *rel, const char *name,
                           const uint8_t *key, uint64_t id);
int gwc_tmp_walk(struct gw_cache *c, gwc_walk_fn fn, void *ud);
int gwc_blob_walk(struct gw_cache *c, gwc_walk_fn fn, void *ud);

/* ---- thread.c ---------------------------------------------------------- */

/*
 * The calling thread's digest context, initialised for SHA-256 and ready
 * for EVP_DigestUpdate().  Owned by the thread: use it before the next
 * call from the same thread, never free it.
 */
EVP_MD_CTX *gwc_sha256_ctx(void);

/*
 * The calling thread's read transaction on c, renewed to see the last
 * commit: 0 and *txn, or an LMDB error.  The thread must hand it back with
 * gwc_read_end() before it returns to its caller (a renewed transaction
 * pins the pages of its snapshot) and must not begin another in between.
 * Never abort or commit it: it lives until the thread exits or the cache
 * closes.
 */
int gwc_read_begin(struct gw_cache *c, MDB_txn **txn);
void gwc_read_end(MDB_txn *txn);
/* c's id and empty list of readers (cache_new); abort them all (close). */
void gwc_readers_init(struct gw_cache *c);
void gwc_readers_close(struct gw_cache *c);

/* ---- evict.c ----------------------------------------------------------- */

enum gwc_evict_mode {
    GWC_EVICT_CAPS,             /* if over a cap: down to 90% of both caps; if the
                                   index map is over GWC_INDEX_HIGH: a tenth */
    GWC_EVICT_MAPFULL,          /* as CAPS, and at least a tenth of the entries */
};

/*
 * Evict, least recently accessed first, never exclude (may be NULL).
 * Takes elock, then wlock per chunk: call it holding neither.
 */
int gwc_evict(struct gw_cache *c, const uint8_t *exclude, enum gwc_evict_mode mode);

/* The sweep of gw_cache_open(): counts go to c->sweep_*.  0 or an error. */
int gwc_sweep(struct gw_cache *c, char *err, size_t errlen);

#endif
