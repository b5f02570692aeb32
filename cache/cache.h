/*
 * cache.h - swiftgate's on-disk cache: an LMDB index and a directory of
 * blob files.  The only header of cache/ that anyone else includes.
 *
 * Layout under the cache directory:
 *   index/          the LMDB environment (data.mdb, lock.mdb)
 *   blobs/XX/       committed blobs, "<key hex>-<blob id hex>", immutable
 *   tmp/            blobs being filled; anything here at start-up is swept
 *   lock            flock()ed by the one process that has the cache open
 * Directories are 0700 and files 0600, all owned by one user (layout.c);
 * none of them may be a symbolic link, and the sweep and fsck walk them
 * through descriptors opened with O_NOFOLLOW, so nothing outside the
 * cache directory is ever unlinked.
 *
 * Invariants:
 *  - The index points only at complete blobs: a blob is written, fsync'd
 *    and renamed into blobs/ before the index entry naming it is committed.
 *  - A blob file is never modified after it is renamed into blobs/.  A new
 *    version of an object gets a new blob id; the old file is unlinked
 *    after the index names the new one, so a reader that already opened it
 *    finishes with the old bytes intact.
 *  - After gw_cache_open() returns, tmp/ is empty, every entry's blob exists
 *    with the entry's size, and every blob file has an entry.
 *
 * Threads: every function may be called from any thread, concurrently.
 * Those marked BLOCKING write to disk (fsync, LMDB write transactions) and
 * must not run on an event-loop thread.  gw_cache_get(), gw_cache_touch(),
 * gw_cache_usage() and gw_cache_blob_path() are cheap and never block on a
 * write (LMDB readers never wait for writers).  Each thread that calls
 * gw_cache_get() keeps one LMDB reader slot of the cache (idle between
 * calls, pinning nothing) until the thread exits or the cache is closed.
 * gw_cache_close() must not overlap any other call on the same cache.
 *
 * Errors: 0, -errno, or one of the GW_CACHE_E* below.  Each is a code of
 * gateway/util.h's table under the cache's prefix (so cache/ needs nothing
 * from gateway/), and gw_strerror() knows them; gateway/util.c asserts at
 * compile time that the numbers agree.  A new code here needs its twin in
 * that table and an assertion there.
 */
#ifndef GW_CACHE_H
#define GW_CACHE_H

#include <stddef.h>
#include <stdint.h>

#define GW_CACHE_ENOTFOUND (-20008) /* = GW_ENOTFOUND */
#define GW_CACHE_ELIMIT (-20009)    /* = GW_ELIMIT: index map full */
#define GW_CACHE_ECORRUPT (-20011)  /* = GW_ECORRUPT: an index record that cannot be read */
#define GW_CACHE_EUNSAFE (-20014)   /* = GW_EUNSAFE: a link, wrong type or owner in the cache */

#define GW_CACHE_KEY_LEN 32 /* SHA-256 */

enum gw_cache_kind {
    GW_CACHE_KIND_OBJECT = 1,   /* a whole object, body verified against its MD5 */
    GW_CACHE_KIND_SEGMENT = 2,  /* a segment of a large object */
    GW_CACHE_KIND_MANIFEST = 3, /* an SLO/DLO manifest (its plan in the blob) */
    /* Swift said 404: no blob.  The gateway keeps 404s in memory now
     * (gateway/neg.h) and writes no record of this kind; it removes those
     * an earlier version wrote with gw_cache_drop_negative() at start. */
    GW_CACHE_KIND_NEGATIVE = 4,
};

struct gw_cache_entry {
    uint8_t key[GW_CACHE_KEY_LEN];
    uint8_t kind;               /* enum gw_cache_kind */
    uint64_t size;              /* blob bytes; 0 for NEGATIVE */
    uint64_t blob_id;           /* set by gw_cache_commit(); 0 = no blob */
    int64_t stored_at;          /* unix ms: fetched, or last revalidated */
    int64_t last_access;        /* unix ms, approximate (see gw_cache_touch) */
    char md5[33];               /* hex MD5 of the blob's bytes ("" if no blob) */
    char etag[80];              /* Swift's ETag, unquoted */
    char last_modified[64];     /* as Swift sent it */
    char content_type[128];
    char name[1100];            /* "container/object", for reports */
    char meta[2048];            /* headers to replay, "Name: value\r\n"... */
};

struct gw_cache_options {
    const char *dir;
    uint64_t max_size;          /* bytes of blobs; eviction keeps below it; 0 = no cap */
    uint64_t max_entries;       /* 0 = no cap */
    uint64_t index_size;        /* LMDB map size in bytes; 0 = 1 GiB */
    /*
     * hand_over 0: everything must be owned by the process's effective
     * uid.  1: by uid; and when the process is root, what root owns is
     * given to uid:gid (a cache about to be used by the user the process
     * drops to, or left by a run as root).
     */
    int hand_over;
    unsigned uid;
    unsigned gid;
};

struct gw_cache;

/*
 * Open (creating if needed) the cache in o->dir, then sweep it (see the
 * invariants).  BLOCKING.  Returns 0 and *out, or an error with a message
 * in err: -EBUSY if another process has the cache open (one process per
 * cache: the sweep would destroy its fills), GW_CACHE_ELIMIT if the index
 * is too full to sweep, GW_CACHE_EUNSAFE if index/, tmp/, blobs/, a
 * fan-out directory, the lock or an LMDB file is a symbolic link, not of
 * its type, or owned by another user (nothing is removed then), -errno.
 * Directories are made 0700 and files 0600; wider modes are tightened.
 */
int gw_cache_open(struct gw_cache **out, const struct gw_cache_options *o, char *err,
                  size_t errlen);
/* Write the queued touches (BLOCKING, best effort), close, free.  NULL is a no-op. */
void gw_cache_close(struct gw_cache *c);

/*
 * What the sweep of gw_cache_open() removed: files in tmp/, files in
 * blobs/ that no entry named (or that are not blob names), and entries
 * whose record was unreadable or whose blob was missing or of the wrong
 * size.  All 0 after gw_cache_open_nosweep().  Any pointer may be NULL.
 */
void gw_cache_last_sweep(struct gw_cache *c, uint64_t *tmp_removed, uint64_t *orphans_removed,
                         uint64_t *entries_dropped);

/* The key of a Swift object: SHA-256 of "container/object". */
void gw_cache_key(const char *container, const char *object, uint8_t key[GW_CACHE_KEY_LEN]);

/*
 * Copy the entry for key into *out: 0, GW_CACHE_ENOTFOUND,
 * GW_CACHE_ECORRUPT (remove it and fetch again), or an error.
 */
int gw_cache_get(struct gw_cache *c, const uint8_t key[GW_CACHE_KEY_LEN],
                 struct gw_cache_entry *out);

/*
 * The path of the entry's blob file; 0, -ENAMETOOLONG, or -EINVAL for an
 * entry without a blob.  The file may be unlinked (replaced, removed,
 * evicted) between gw_cache_get() and open(): treat ENOENT as a miss.  Once
 * open, the fd reads the whole blob whatever happens to the entry.
 */
int gw_cache_blob_path(const struct gw_cache *c, const struct gw_cache_entry *e, char *out,
                       size_t len);

/*
 * A new, empty temp file under tmp/, open O_RDWR|O_CLOEXEC.  Returns the
 * fd (>= 0) and its path in path_out, or -errno.  Cheap (one open).
 */
int gw_cache_tmp_open(struct gw_cache *c, char *path_out, size_t len);

/*
 * BLOCKING.  Make e the entry for e->key.  For a kind with a blob: fsync
 * fd, rename tmp_path into blobs/ under a new blob id (set in e->blob_id),
 * commit the index entry, unlink the blob of the entry it replaces.  fd is
 * not closed.  For NEGATIVE, tmp_path is NULL and fd is -1.  e->stored_at
 * and e->last_access are set by the caller.  If the blobs now exceed
 * max_size or max_entries, evicts (least recently accessed first) down to
 * 90% of the caps; if the index map is more than 80% used, evicts a tenth
 * of the entries (LMDB cannot even delete from a completely full map).  On
 * error nothing is committed and tmp_path is unlinked.
 * Errors: -EINVAL (a string not NUL-terminated within its array, an
 * unknown kind, or e->size != the file's size), GW_CACHE_ELIMIT (the index
 * is full even after evicting a tenth of it: serve uncached), -errno.
 */
int gw_cache_commit(struct gw_cache *c, struct gw_cache_entry *e, const char *tmp_path, int fd);

/*
 * Room for a temp blob of len bytes being written: it counts against
 * max_size (and so in eviction) until gw_cache_unreserve().  0, or
 * GW_CACHE_ELIMIT when the reservations would pass max_size: do not cache.
 * With force, never refused (but counted all the same).  Any thread; no
 * disk access.
 */
int gw_cache_reserve(struct gw_cache *c, uint64_t len, int force);
void gw_cache_unreserve(struct gw_cache *c, uint64_t len);
/* The bytes reserved now. */
uint64_t gw_cache_reserved(const struct gw_cache *c);

/* One commit of gw_cache_commit_many(): its arguments and its result. */
struct gw_cache_commit {
    struct gw_cache_entry *e;
    const char *tmp_path;       /* NULL for NEGATIVE */
    int fd;                     /* -1 for NEGATIVE */
    /*
     * Optional: asked inside the write transaction, with the record the
     * index holds for the key now; nonzero keeps that record and drops e
     * (its blob is unlinked; rc is 0 and kept_old set).  So a decision
     * that depends on what the index holds cannot be overtaken by another
     * commit between the look and the write.
     */
    int (*keep_old)(const struct gw_cache_entry *held, const struct gw_cache_entry *e);
    int rc;                     /* out: what gw_cache_commit() would return */
    int kept_old;               /* out: keep_old said so; nothing written */
};

/*
 * BLOCKING.  gw_cache_commit() for each of v[0..n), with one index write
 * transaction (and so one pair of LMDB syncs) for all of them, and one
 * eviction pass after it.  Each v[i].rc says how its commit went; if the
 * shared transaction fails, each entry is tried alone, so one entry's
 * error is only its own.  The same key twice: the later entry wins.
 */
void gw_cache_commit_many(struct gw_cache *c, struct gw_cache_commit *v, size_t n);

/*
 * BLOCKING.  Swift confirmed the entry (a 304): set its stored_at.  0,
 * GW_CACHE_ENOTFOUND (evicted or purged meanwhile), or an error.
 */
int gw_cache_refresh(struct gw_cache *c, const uint8_t key[GW_CACHE_KEY_LEN], int64_t stored_at);

/*
 * BLOCKING.  Make the entry older (a soft purge): its stored_at becomes
 * stored_at_max unless it is already earlier, in one write transaction;
 * the blob stays, so the next request can revalidate it.  0,
 * GW_CACHE_ENOTFOUND, GW_CACHE_ECORRUPT or an error.
 */
int gw_cache_expire(struct gw_cache *c, const uint8_t key[GW_CACHE_KEY_LEN],
                    int64_t stored_at_max);

/*
 * BLOCKING.  Remove the entry and its blob: 0, GW_CACHE_ENOTFOUND or an
 * error.  On a map too full to delete from, evicts a tenth of the entries
 * (never this one) and tries once more; GW_CACHE_ELIMIT if that failed too.
 */
int gw_cache_remove(struct gw_cache *c, const uint8_t key[GW_CACHE_KEY_LEN]);

/*
 * BLOCKING.  Remove every NEGATIVE record, GWC_EVICT_CHUNK per write
 * transaction (few free pages needed, even in a nearly full map).  *removed
 * (may be NULL) gets how many went.  0 or an error; what was removed before
 * an error stays removed.
 */
int gw_cache_drop_negative(struct gw_cache *c, uint64_t *removed);

/*
 * Note that key was just used.  Not blocking: accesses are queued in
 * memory (a bounded queue; when it is full, the oldest are dropped) and
 * written by gw_cache_flush_touches().
 */
void gw_cache_touch(struct gw_cache *c, const uint8_t key[GW_CACHE_KEY_LEN]);
/* BLOCKING.  Write the queued accesses in one transaction. */
int gw_cache_flush_touches(struct gw_cache *c);

/* BLOCKING.  Evict down to 90% of the caps if over them. */
int gw_cache_evict(struct gw_cache *c);

/* Entries and blob bytes now (kept in memory; cheap). */
void gw_cache_usage(struct gw_cache *c, uint64_t *entries, uint64_t *bytes);
/* Evictions so far, whatever their reason (cheap). */
uint64_t gw_cache_evictions(struct gw_cache *c);

/*
 * Why an eviction pass ran.  A pass with more than one reason counts its
 * evictions under the first of INDEX, SIZE, ENTRIES.  Removals that are
 * not evictions (a purge, an object Swift no longer has, the sweep at
 * open) are counted by no reason.
 */
enum gw_cache_evict_reason {
    GW_CACHE_EVICT_SIZE,        /* blobs and reservations over max_size */
    GW_CACHE_EVICT_ENTRIES,     /* entries over max_entries */
    GW_CACHE_EVICT_INDEX,       /* the index map over 80% used, or full */
    GW_CACHE_EVICT_NREASONS
};

/* "size", "entries", "index" (a metric's label); "" for an unknown reason. */
const char *gw_cache_evict_reason_name(enum gw_cache_evict_reason r);

/* What the cache holds and may hold, for metrics. */
struct gw_cache_stats {
    uint64_t entries;           /* as gw_cache_usage() */
    uint64_t bytes;
    uint64_t reserved;          /* as gw_cache_reserved() */
    uint64_t max_size;          /* the caps it was opened with; 0 = no cap */
    uint64_t max_entries;
    uint64_t evictions[GW_CACHE_EVICT_NREASONS];
    uint64_t index_size;        /* bytes of the LMDB map */
    uint64_t index_used;        /* bytes of its pages in use (free-listed pages not counted) */
};

/*
 * Fill *out.  Not blocking on a write, but not free either: it reads
 * LMDB's free list in a read transaction (a few pages), so call it per
 * scrape, not per request.  On an LMDB error the index figures are 0.
 */
void gw_cache_stats(struct gw_cache *c, struct gw_cache_stats *out);
/* Write transactions committed to the index since open, sweep included (cheap). */
uint64_t gw_cache_index_writes(struct gw_cache *c);

struct gw_cache_fsck_result {
    uint64_t entries;           /* entries checked */
    uint64_t bad;               /* entries whose blob is missing, short or wrong */
    uint64_t orphans;           /* files with no entry (blobs/ or tmp/) */
    uint64_t repaired;          /* bad entries and orphans removed */
};

/*
 * BLOCKING.  Re-hash every blob and compare with its entry's md5 and size;
 * report each problem as one line through report(ud, line); with repair,
 * remove bad entries (and their blobs) and orphan files.  Opens nothing
 * but the cache itself; works on a cache no gateway is using (fsck is run
 * offline: `swiftgate fsck`).  Returns 0 (even when problems were found;
 * see *res) or an error.
 */
int gw_cache_fsck(struct gw_cache *c, int repair,
                  void (*report)(void *ud, const char *line), void *ud,
                  struct gw_cache_fsck_result *res);

/*
 * Open without sweeping (for fsck, which must report what it finds rather
 * than silently repair).  BLOCKING.
 */
int gw_cache_open_nosweep(struct gw_cache **out, const struct gw_cache_options *o, char *err,
                          size_t errlen);

#endif
