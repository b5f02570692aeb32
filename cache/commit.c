/*
 * commit.c - making entries the index's: one commit, or many in one write
 * transaction (gw_cache_commit_many), with their blobs published first.
 *
 * Invariants:
 *  - A blob is published (fsync, rename, directory fsync: blob.c) before
 *    any transaction names it, so the index never names a blob that a
 *    crash could lose.  A blob whose entry is not committed is unlinked.
 *  - Many entries share one write transaction, and with it LMDB's two
 *    syncs; if that transaction fails, each entry is tried in one of its
 *    own, so one entry's error never costs the others their commit.
 *  - The blob an entry replaces is unlinked only after the transaction
 *    that replaced it committed; readers that hold it open keep it.
 *  - An entry with a keep_old test is judged inside the transaction that
 *    would write it, against the record the index holds then.
 *  - Eviction runs once per transaction, after it: the entries just
 *    committed are the most recently accessed, so they go last.
 *  - Reservations (temp blobs being written) count against max_size with
 *    the committed bytes, in eviction too; the reservations never pass
 *    max_size but by those forced (gw_cache_reserve refuses the others).
 */
#include "cache_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* What a commit tracks of one entry besides the caller's gw_cache_commit. */
struct item {
    char blob[GWC_PATH_MAX];    /* the published blob, "" if none */
    uint64_t old_id;            /* the blob of the record it replaced */
    int keep;                   /* this transaction keeps the held record */
    int done;                   /* committed, or failed for good */
};

/* The arguments of a commit it can check before touching disk. */
static int commit_check(const struct gw_cache_commit *m)
{
    const struct gw_cache_entry *e = m->e;
    int rc = gwc_rec_check(e);
    if (rc != 0) return rc;
    if (gwc_has_blob(e->kind)) {
        struct stat st;
        if (m->tmp_path == NULL || m->fd < 0) return -EINVAL;
        if (fstat(m->fd, &st) != 0) return -errno;
        /* The index must never promise bytes the blob does not hold. */
        if ((uint64_t)st.st_size != e->size) return -EINVAL;
        return 0;
    }
    if (e->kind != GW_CACHE_KIND_NEGATIVE || m->tmp_path != NULL) return -EINVAL;
    return 0;
}

/* Check m and publish its blob; on error m->rc is set and the temp file gone. */
static void publish(struct gw_cache *c, struct gw_cache_commit *m, struct item *it)
{
    struct gw_cache_entry *e = m->e;

    it->blob[0] = '\0';
    it->done = 0;
    it->keep = 0;
    m->kept_old = 0;
    m->rc = commit_check(m);
    if (m->rc == 0 && gwc_has_blob(e->kind)) {
        e->blob_id = gwc_blob_id_next(c);
        /* Renamed, or unlinked by publish on failure: not the caller's any more. */
        m->rc = gwc_blob_publish(c, e->key, e->blob_id, m->tmp_path, m->fd, it->blob,
                                 sizeof(it->blob));
        if (m->rc != 0) it->blob[0] = '\0';
    } else if (m->rc == 0) {
        e->blob_id = 0;
        e->size = 0;
    } else if (m->tmp_path != NULL) {
        unlink(m->tmp_path);
    }
    if (m->rc != 0) it->done = 1;
}

/*
 * Put m->e into txn in place of the record it replaces, unless m's keep_old
 * says to keep that record (it->keep, nothing written): *d_entries and
 * *d_bytes grow by what it adds to the totals, it->old_id is the blob the
 * old record names (0 if none).  rec and old are scratch.  0 or an LMDB
 * error.
 */
static int put_one(struct gw_cache *c, MDB_txn *txn, const struct gw_cache_commit *m,
                   struct item *it, uint8_t *rec, struct gw_cache_entry *old,
                   int64_t *d_entries, int64_t *d_bytes)
{
    const struct gw_cache_entry *e = m->e;
    MDB_val k = {GW_CACHE_KEY_LEN, (void *)(uintptr_t)e->key}, v;
    int rc = mdb_get(txn, c->dbi, &k, &v);

    it->old_id = 0;
    it->keep = 0;
    if (rc == 0 && m->keep_old != NULL && gwc_rec_decode(&v, old) == 0) {
        memcpy(old->key, e->key, GW_CACHE_KEY_LEN); /* the record holds no key */
        if (m->keep_old(old, e)) {
            it->keep = 1;
            return 0;
        }
    }
    uint64_t *old_id = &it->old_id;
    if (rc == MDB_NOTFOUND) {
        *d_entries += 1;
        *d_bytes += (int64_t)e->size;
    } else if (rc != 0) {
        return rc;
    } else {
        *d_bytes += (int64_t)e->size;
        if (gwc_rec_decode(&v, old) == 0) {
            *d_bytes -= (int64_t)old->size;
            *old_id = old->blob_id;
        }
        /* A corrupt record counted 0 bytes; its blob, if any, is an orphan. */
    }
    v.mv_size = gwc_rec_encode(e, rec);
    v.mv_data = rec;
    return mdb_put(txn, c->dbi, &k, &v, 0);
}

/*
 * One write transaction for the items of v[0..n) not done yet; if it
 * commits, they are.  The index map full: evict once and try again.  0 or
 * a cache error, nothing committed then.
 */
static int txn_many(struct gw_cache *c, struct gw_cache_commit *v, struct item *items, size_t n)
{
    uint8_t *rec = gwc_malloc(GWC_REC_MAX);
    struct gw_cache_entry *old = gwc_malloc(sizeof(*old));
    const uint8_t *last = NULL;
    int retried = 0, rc;

again:;
    MDB_txn *txn;
    int64_t d_entries = 0, d_bytes = 0;
    rc = gwc_write_begin(c, &txn);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (items[i].done) continue;
        rc = gwc_mdb_err(put_one(c, txn, &v[i], &items[i], rec, old, &d_entries, &d_bytes));
        last = v[i].e->key;
    }
    if (rc == 0) {
        rc = gwc_write_commit(c, txn, d_entries, d_bytes);
    } else if (txn != NULL) {
        gwc_write_abort(c, txn);
    }
    if (rc == GW_CACHE_ELIMIT && !retried && last != NULL) {
        /* The index map is full: make room once, then give up. */
        retried = 1;
        if (gwc_evict(c, last, GWC_EVICT_MAPFULL) == 0) goto again;
    }
    free(rec);
    free(old);
    return rc;
}

/* The items of a committed transaction: done, their old blobs unlinked. */
static void settle(struct gw_cache *c, struct gw_cache_commit *v, struct item *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (items[i].done) continue;
        items[i].done = 1;
        v[i].rc = 0;
        if (items[i].keep) {
            /* The index kept what it held: this blob is named by nothing. */
            v[i].kept_old = 1;
            if (items[i].blob[0] != '\0') unlink(items[i].blob);
            continue;
        }
        uint64_t old_id = items[i].old_id;
        /* The index names the new blob now; readers of the old one keep it open. */
        if (old_id != 0 && old_id != v[i].e->blob_id) gwc_blob_unlink(c, v[i].e->key, old_id);
    }
}

void gw_cache_commit_many(struct gw_cache *c, struct gw_cache_commit *v, size_t n)
{
    GWC_CHECK(c);
    if (n == 0) return;
    struct item *items = gwc_malloc(n * sizeof(*items));
    size_t pending = 0;

    for (size_t i = 0; i < n; i++) {
        GWC_ASSERT(v[i].e != NULL);
        publish(c, &v[i], &items[i]);
        if (!items[i].done) pending++;
    }
    int rc = pending > 0 ? txn_many(c, v, items, n) : 0;
    if (rc == 0) {
        settle(c, v, items, n);
    } else if (pending == 1) {
        for (size_t i = 0; i < n; i++)
            if (!items[i].done) v[i].rc = rc;
    } else {
        /* Each on its own, so that one entry's error fails only that entry. */
        for (size_t i = 0; i < n; i++) {
            if (items[i].done) continue;
            v[i].rc = txn_many(c, &v[i], &items[i], 1);
            if (v[i].rc == 0) settle(c, &v[i], &items[i], 1);
        }
    }
    const uint8_t *last = NULL;
    for (size_t i = 0; i < n; i++) {
        if (v[i].rc == 0 && !v[i].kept_old) last = v[i].e->key;
        else if (v[i].rc != 0 && items[i].blob[0] != '\0') unlink(items[i].blob);
    }
    /* The commits stand whether or not eviction works; the next one retries. */
    if (last != NULL) (void)gwc_evict(c, last, GWC_EVICT_CAPS);
    free(items);
}

int gw_cache_commit(struct gw_cache *c, struct gw_cache_entry *e, const char *tmp_path, int fd)
{
    struct gw_cache_commit one = {.e = e, .tmp_path = tmp_path, .fd = fd};
    gw_cache_commit_many(c, &one, 1);
    return one.rc;
}

int gw_cache_reserve(struct gw_cache *c, uint64_t len, int force)
{
    GWC_CHECK(c);
    uint64_t cur = atomic_load(&c->reserved);
    do {
        if (!force && c->max_size != 0 && (len > c->max_size || cur > c->max_size - len))
            return GW_CACHE_ELIMIT;
    } while (!atomic_compare_exchange_weak(&c->reserved, &cur, cur + len));
    return 0;
}

void gw_cache_unreserve(struct gw_cache *c, uint64_t len)
{
    GWC_CHECK(c);
    GWC_ASSERT(atomic_fetch_sub(&c->reserved, len) >= len);
}

uint64_t gw_cache_reserved(const struct gw_cache *c)
{
    return atomic_load(&((struct gw_cache *)(uintptr_t)c)->reserved);
}
