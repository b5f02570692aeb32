/*
 * index.c - the cache's LMDB index: key (SHA-256 of "container/object") ->
 * one record describing the entry; write transactions and the totals they
 * keep; lookups, refreshes and removals; the touch queue.  Commits are
 * commit.c's, opening and closing a cache open.c's.
 *
 * Invariants:
 *  - Every write transaction runs under c->wlock, and the in-memory totals
 *    (entries, bytes) change only in gwc_write_commit(), by the delta that
 *    transaction made, after LMDB committed it.  So the totals always
 *    equal what a scan of the committed index counts.
 *  - A record is read only through gwc_rec_decode(), which checks every
 *    length against the record's size and the entry's arrays: garbage in
 *    the index is GW_CACHE_ECORRUPT, never an overread.  A corrupt record
 *    counts as an entry of 0 bytes (it is all the totals can know of it).
 *  - A record of a kind with a blob has a non-zero blob id; NEGATIVE has
 *    blob id 0 and size 0.
 *  - The environment is opened without MDB_NOSYNC or MDB_NOMETASYNC: a
 *    commit that returned is on disk, and a SIGKILL at any moment leaves
 *    the last committed state.
 *
 * Record format, version 1 (integers little-endian, whatever the host):
 *   0  u8   version (1)         18 i64 stored_at
 *   1  u8   kind                26 i64 last_access
 *   2  u64  size                34 strings: md5, etag, last_modified,
 *   10 u64  blob_id                content_type, name, meta; each a u16
 *                                  length and its bytes, no NUL
 * A record is exactly as long as its fields; anything else is corrupt.  A
 * future version gets a new first byte and this decoder calls it corrupt,
 * which costs a refetch, never a wrong answer.
 */
#include "cache_int.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#define REC_VERSION 1
#define REC_HEAD 34

#define STR_FIELD(f) {offsetof(struct gw_cache_entry, f), sizeof(((struct gw_cache_entry *)0)->f)}

/* The variable-length fields, in record order. */
static const struct {
    size_t off, size;
} rec_strings[] = {
    STR_FIELD(md5),          STR_FIELD(etag), STR_FIELD(last_modified),
    STR_FIELD(content_type), STR_FIELD(name), STR_FIELD(meta),
};
#define REC_NSTRINGS (sizeof(rec_strings) / sizeof(rec_strings[0]))

/* ------------------------------------------------------------------------ */
/* Helpers shared by the cache's files                                       */

void gwc_panic(const char *file, int line, const char *what)
{
    fprintf(stderr, "swiftgate: cache: %s:%d: assertion failed: %s\n", file, line, what);
    abort();
}

void *gwc_malloc(size_t n)
{
    void *p = malloc(n != 0 ? n : 1);
    GWC_ASSERT(p != NULL);
    return p;
}

void *gwc_realloc(void *p, size_t n)
{
    p = realloc(p, n != 0 ? n : 1);
    GWC_ASSERT(p != NULL);
    return p;
}

int64_t gwc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void gwc_hex(const uint8_t *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

int gwc_has_blob(unsigned kind)
{
    return kind == GW_CACHE_KIND_OBJECT || kind == GW_CACHE_KIND_SEGMENT ||
           kind == GW_CACHE_KIND_MANIFEST;
}

int gwc_mdb_err(int rc)
{
    switch (rc) {
    case MDB_SUCCESS:
        return 0;
    case MDB_NOTFOUND:
        return GW_CACHE_ENOTFOUND;
    case MDB_MAP_FULL:
    case MDB_TXN_FULL:
    case MDB_READERS_FULL:
    case MDB_DBS_FULL:
        return GW_CACHE_ELIMIT;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
        return GW_CACHE_ECORRUPT;
    case MDB_BAD_VALSIZE:
        return -EINVAL;
    default:
        /* LMDB passes system errors through as positive errno values. */
        return rc > 0 ? -rc : -EIO;
    }
}

/* ------------------------------------------------------------------------ */
/* Records                                                                   */

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

size_t gwc_rec_encode(const struct gw_cache_entry *e, uint8_t *buf)
{
    const char *base = (const char *)e;
    uint8_t *p = buf;

    p[0] = REC_VERSION;
    p[1] = e->kind;
    put_u64(p + 2, e->size);
    put_u64(p + 10, e->blob_id);
    put_u64(p + 18, (uint64_t)e->stored_at);
    put_u64(p + 26, (uint64_t)e->last_access);
    p += REC_HEAD;
    for (size_t i = 0; i < REC_NSTRINGS; i++) {
        /* The caller checked that each string ends inside its array. */
        size_t n = strnlen(base + rec_strings[i].off, rec_strings[i].size);
        GWC_ASSERT(n < rec_strings[i].size && n <= UINT16_MAX);
        p[0] = (uint8_t)n;
        p[1] = (uint8_t)(n >> 8);
        memcpy(p + 2, base + rec_strings[i].off, n);
        p += 2 + n;
    }
    GWC_ASSERT((size_t)(p - buf) <= GWC_REC_MAX);
    return (size_t)(p - buf);
}

int gwc_rec_decode(const MDB_val *v, struct gw_cache_entry *e)
{
    const uint8_t *p = v->mv_data;
    const uint8_t *end = p + v->mv_size;
    char *base = (char *)e;

    memset(e, 0, sizeof(*e));
    if (v->mv_size < REC_HEAD || p[0] != REC_VERSION) return GW_CACHE_ECORRUPT;
    e->kind = p[1];
    e->size = get_u64(p + 2);
    e->blob_id = get_u64(p + 10);
    e->stored_at = (int64_t)get_u64(p + 18);
    e->last_access = (int64_t)get_u64(p + 26);
    p += REC_HEAD;
    for (size_t i = 0; i < REC_NSTRINGS; i++) {
        if (end - p < 2) return GW_CACHE_ECORRUPT;
        size_t n = (size_t)p[0] | (size_t)p[1] << 8;
        p += 2;
        if (n >= rec_strings[i].size || (size_t)(end - p) < n || memchr(p, 0, n) != NULL)
            return GW_CACHE_ECORRUPT;
        memcpy(base + rec_strings[i].off, p, n);
        p += n;
    }
    if (p != end) return GW_CACHE_ECORRUPT;
    if (gwc_has_blob(e->kind)) {
        if (e->blob_id == 0) return GW_CACHE_ECORRUPT;
    } else if (e->kind == GW_CACHE_KIND_NEGATIVE) {
        if (e->blob_id != 0 || e->size != 0) return GW_CACHE_ECORRUPT;
    } else {
        return GW_CACHE_ECORRUPT;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Transactions                                                              */

int gwc_write_begin(struct gw_cache *c, MDB_txn **txn)
{
    pthread_mutex_lock(&c->wlock);
    int rc = mdb_txn_begin(c->env, NULL, 0, txn);
    if (rc != 0) {
        pthread_mutex_unlock(&c->wlock);
        *txn = NULL;
        return gwc_mdb_err(rc);
    }
    return 0;
}

int gwc_write_commit(struct gw_cache *c, MDB_txn *txn, int64_t d_entries, int64_t d_bytes)
{
    int rc = mdb_txn_commit(txn);
    if (rc == 0) {
        /* Unsigned wrap-around adds negative deltas correctly. */
        atomic_fetch_add(&c->entries, (uint64_t)d_entries);
        atomic_fetch_add(&c->bytes, (uint64_t)d_bytes);
        atomic_fetch_add(&c->writes, 1);
    }
    pthread_mutex_unlock(&c->wlock);
    return gwc_mdb_err(rc);
}

void gwc_write_abort(struct gw_cache *c, MDB_txn *txn)
{
    mdb_txn_abort(txn);
    pthread_mutex_unlock(&c->wlock);
}

int gwc_scan_totals(struct gw_cache *c, uint64_t *entries, uint64_t *bytes, uint64_t *max_id)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    struct gw_cache_entry *e = gwc_malloc(sizeof(*e));
    uint64_t n = 0, b = 0, id = 0;
    int rc;

    rc = mdb_txn_begin(c->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0) goto leave;
    rc = mdb_cursor_open(txn, c->dbi, &cur);
    if (rc != 0) goto leave;
    while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
        n++;
        /* Keys of another length are counted as corrupt: 0 bytes. */
        if (k.mv_size == GW_CACHE_KEY_LEN && gwc_rec_decode(&v, e) == 0) {
            b += e->size;
            if (e->blob_id > id) id = e->blob_id;
        }
    }
    if (rc == MDB_NOTFOUND) rc = 0;
leave:
    if (cur != NULL) mdb_cursor_close(cur);
    if (txn != NULL) mdb_txn_abort(txn);
    free(e);
    if (rc == 0) {
        *entries = n;
        *bytes = b;
        if (max_id != NULL) *max_id = id;
    }
    return gwc_mdb_err(rc);
}

/* ------------------------------------------------------------------------ */
/* Keys and lookups                                                          */

void gw_cache_key(const char *container, const char *object, uint8_t key[GW_CACHE_KEY_LEN])
{
    /* A context and a digest kept per thread: nothing allocated or fetched per key. */
    EVP_MD_CTX *ctx = gwc_sha256_ctx();
    unsigned int n = 0;

    GWC_ASSERT(EVP_DigestUpdate(ctx, container, strlen(container)) == 1);
    GWC_ASSERT(EVP_DigestUpdate(ctx, "/", 1) == 1);
    GWC_ASSERT(EVP_DigestUpdate(ctx, object, strlen(object)) == 1);
    GWC_ASSERT(EVP_DigestFinal_ex(ctx, key, &n) == 1 && n == GW_CACHE_KEY_LEN);
}

int gw_cache_get(struct gw_cache *c, const uint8_t key[GW_CACHE_KEY_LEN],
                 struct gw_cache_entry *out)
{
    MDB_txn *txn;
    MDB_val k = {GW_CACHE_KEY_LEN, (void *)(uintptr_t)key}, v;
    int rc;

    GWC_CHECK(c);
    /* This thread's transaction, renewed: no allocation, no reader-table lock. */
    rc = gwc_read_begin(c, &txn);
    if (rc != 0) return gwc_mdb_err(rc);
    rc = mdb_get(txn, c->dbi, &k, &v);
    /* v points into the map and dies with the snapshot: decode first. */
    if (rc == 0) rc = gwc_rec_decode(&v, out);
    else rc = gwc_mdb_err(rc);
    gwc_read_end(txn);
    if (rc == 0) memcpy(out->key, key, GW_CACHE_KEY_LEN);
    return rc;
}

void gw_cache_usage(struct gw_cache *c, uint64_t *entries, uint64_t *bytes)
{
    GWC_CHECK(c);
    if (entries != NULL) *entries = atomic_load(&c->entries);
    if (bytes != NULL) *bytes = atomic_load(&c->bytes);
}

uint64_t gw_cache_evictions(struct gw_cache *c)
{
    GWC_CHECK(c);
    uint64_t n = 0;
    for (int r = 0; r < GW_CACHE_EVICT_NREASONS; r++) n += atomic_load(&c->evicted[r]);
    return n;
}

uint64_t gw_cache_index_writes(struct gw_cache *c)
{
    GWC_CHECK(c);
    return atomic_load(&c->writes);
}

/* ------------------------------------------------------------------------ */
/* Writes                                                                    */

/* Every string of e ends within its array (what gwc_rec_encode() needs). */
int gwc_rec_check(const struct gw_cache_entry *e)
{
    const char *base = (const char *)e;

    for (size_t i = 0; i < REC_NSTRINGS; i++)
        if (strnlen(base + rec_strings[i].off, rec_strings[i].size) >= rec_strings[i].size)
            return -EINVAL;
    return 0;
}

/* STORED_AT_MAX: stored_at becomes the value only if that is earlier. */
enum field { STORED_AT, STORED_AT_MAX, LAST_ACCESS };

/*
 * Rewrite the record of key with one field set to value, in txn; e and rec
 * are scratch space.  0, GW_CACHE_ENOTFOUND, GW_CACHE_ECORRUPT or an
 * LMDB error.
 */
static int rewrite(struct gw_cache *c, MDB_txn *txn, const uint8_t *key, enum field f,
                   int64_t value, struct gw_cache_entry *e, uint8_t *rec)
{
    MDB_val k = {GW_CACHE_KEY_LEN, (void *)(uintptr_t)key}, v;
    int rc = mdb_get(txn, c->dbi, &k, &v);
    if (rc != 0) return gwc_mdb_err(rc);
    rc = gwc_rec_decode(&v, e);
    if (rc != 0) return rc;
    if (f == STORED_AT) e->stored_at = value;
    else if (f == STORED_AT_MAX) e->stored_at = value < e->stored_at ? value : e->stored_at;
    else e->last_access = value;
    v.mv_size = gwc_rec_encode(e, rec);
    v.mv_data = rec;
    return gwc_mdb_err(mdb_put(txn, c->dbi, &k, &v, 0));
}

/* One rewrite of key's stored_at in its own write transaction. */
static int rewrite_stored_at(struct gw_cache *c, const uint8_t *key, enum field f,
                             int64_t stored_at)
{
    struct gw_cache_entry *e = gwc_malloc(sizeof(*e));
    uint8_t *rec = gwc_malloc(GWC_REC_MAX);
    MDB_txn *txn;
    int rc;

    GWC_CHECK(c);
    rc = gwc_write_begin(c, &txn);
    if (rc != 0) goto leave;
    rc = rewrite(c, txn, key, f, stored_at, e, rec);
    if (rc == 0) rc = gwc_write_commit(c, txn, 0, 0);
    else gwc_write_abort(c, txn);
leave:
    free(e);
    free(rec);
    return rc;
}

int gw_cache_refresh(struct gw_cache *c, const uint8_t key[GW_CACHE_KEY_LEN], int64_t stored_at)
{
    return rewrite_stored_at(c, key, STORED_AT, stored_at);
}

int gw_cache_expire(struct gw_cache *c, const uint8_t key[GW_CACHE_KEY_LEN],
                    int64_t stored_at_max)
{
    return rewrite_stored_at(c, key, STORED_AT_MAX, stored_at_max);
}

static int remove_once(struct gw_cache *c, const uint8_t key[GW_CACHE_KEY_LEN])
{
    struct gw_cache_entry *e = gwc_malloc(sizeof(*e));
    MDB_val k = {GW_CACHE_KEY_LEN, (void *)(uintptr_t)key}, v;
    MDB_txn *txn;
    uint64_t size = 0, id = 0;
    int rc;

    GWC_CHECK(c);
    rc = gwc_write_begin(c, &txn);
    if (rc != 0) goto leave;
    rc = mdb_get(txn, c->dbi, &k, &v);
    if (rc == 0) {
        if (gwc_rec_decode(&v, e) == 0) {
            size = e->size;
            id = e->blob_id;
        }
        rc = mdb_del(txn, c->dbi, &k, NULL);
    }
    if (rc != 0) {
        gwc_write_abort(c, txn);
        rc = gwc_mdb_err(rc);
        goto leave;
    }
    rc = gwc_write_commit(c, txn, -1, -(int64_t)size);
    if (rc == 0 && id != 0) gwc_blob_unlink(c, key, id);
leave:
    free(e);
    return rc;
}

int gw_cache_remove(struct gw_cache *c, const uint8_t key[GW_CACHE_KEY_LEN])
{
    int rc = remove_once(c, key);
    /* LMDB deletes by copying pages: a completely full map cannot even
     * delete.  Make room as a commit does (a tenth, never this key), once. */
    if (rc == GW_CACHE_ELIMIT && gwc_evict(c, key, GWC_EVICT_MAPFULL) == 0)
        rc = remove_once(c, key);
    return rc;
}

/* A record of kind NEGATIVE, readable or not (its kind is its second byte). */
static int is_negative(const MDB_val *k, const MDB_val *v)
{
    const uint8_t *p = v->mv_data;
    return k->mv_size == GW_CACHE_KEY_LEN && v->mv_size >= REC_HEAD && p[0] == REC_VERSION &&
           p[1] == GW_CACHE_KIND_NEGATIVE;
}

/*
 * Up to GWC_EVICT_CHUNK keys of NEGATIVE records after `from` (from the
 * start when has_from is 0) into keys; *n gets how many.  Read-only.
 */
static int negative_scan(struct gw_cache *c, const uint8_t *from, int has_from,
                         uint8_t (*keys)[GW_CACHE_KEY_LEN], size_t *n)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k = {GW_CACHE_KEY_LEN, (void *)(uintptr_t)from}, v;
    int rc;

    *n = 0;
    rc = mdb_txn_begin(c->env, NULL, MDB_RDONLY, &txn);
    if (rc == 0) rc = mdb_cursor_open(txn, c->dbi, &cur);
    if (rc == 0) rc = mdb_cursor_get(cur, &k, &v, has_from ? MDB_SET_RANGE : MDB_FIRST);
    while (rc == 0 && *n < GWC_EVICT_CHUNK) {
        if (is_negative(&k, &v) && !(has_from && memcmp(k.mv_data, from, GW_CACHE_KEY_LEN) == 0))
            memcpy(keys[(*n)++], k.mv_data, GW_CACHE_KEY_LEN);
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    if (cur != NULL) mdb_cursor_close(cur);
    if (txn != NULL) mdb_txn_abort(txn);
    return rc == MDB_NOTFOUND ? 0 : gwc_mdb_err(rc);
}

int gw_cache_drop_negative(struct gw_cache *c, uint64_t *removed)
{
    uint8_t (*keys)[GW_CACHE_KEY_LEN] = gwc_malloc(GWC_EVICT_CHUNK * GW_CACHE_KEY_LEN);
    uint8_t from[GW_CACHE_KEY_LEN];
    uint64_t count = 0;
    size_t n;
    int rc, has_from = 0;

    GWC_CHECK(c);
    /* Scan a chunk, delete it (each record only if it is still NEGATIVE),
     * go on after its last key: one pass over the index in all. */
    while ((rc = negative_scan(c, from, has_from, keys, &n)) == 0 && n > 0) {
        MDB_txn *txn;
        int64_t d = 0;
        rc = gwc_write_begin(c, &txn);
        if (rc != 0) break;
        for (size_t i = 0; rc == 0 && i < n; i++) {
            MDB_val k = {GW_CACHE_KEY_LEN, keys[i]}, v;
            rc = mdb_get(txn, c->dbi, &k, &v);
            if (rc == MDB_NOTFOUND) {
                rc = 0;
                continue;
            }
            if (rc == 0 && is_negative(&k, &v)) {
                rc = mdb_del(txn, c->dbi, &k, NULL);
                d--;
            }
        }
        if (rc != 0) {
            gwc_write_abort(c, txn);
            rc = gwc_mdb_err(rc);
            break;
        }
        /* A NEGATIVE record has no blob: only the entry count changes. */
        rc = gwc_write_commit(c, txn, d, 0);
        if (rc != 0) break;
        count += (uint64_t)-d;
        memcpy(from, keys[n - 1], GW_CACHE_KEY_LEN);
        has_from = 1;
    }
    free(keys);
    if (removed != NULL) *removed = count;
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Touches                                                                   */

/*
 * The queue is a ring of GWC_TOUCH_QUEUE keys.  When it is full the oldest
 * key is dropped: a hot key touched again soon is queued again, while the
 * newest accesses are the ones LRU most needs to know about.  Duplicates
 * are not removed here (that would cost a search per touch); the flush
 * sorts and removes them.
 */
void gw_cache_touch(struct gw_cache *c, const uint8_t key[GW_CACHE_KEY_LEN])
{
    GWC_CHECK(c);
    pthread_mutex_lock(&c->tlock);
    if (c->touch_len == GWC_TOUCH_QUEUE) {
        c->touch_head = (c->touch_head + 1) % GWC_TOUCH_QUEUE;
        c->touch_len--;
    }
    memcpy(c->touchq[(c->touch_head + c->touch_len) % GWC_TOUCH_QUEUE], key, GW_CACHE_KEY_LEN);
    c->touch_len++;
    pthread_mutex_unlock(&c->tlock);
}

static int key_cmp(const void *a, const void *b)
{
    return memcmp(a, b, GW_CACHE_KEY_LEN);
}

int gw_cache_flush_touches(struct gw_cache *c)
{
    uint8_t (*keys)[GW_CACHE_KEY_LEN];
    struct gw_cache_entry *e = NULL;
    uint8_t *rec = NULL;
    MDB_txn *txn;
    size_t n, i;
    int rc;

    GWC_CHECK(c);
    /* Take the queue out under the lock; write it without the lock. */
    pthread_mutex_lock(&c->tlock);
    n = c->touch_len;
    keys = gwc_malloc(n * sizeof(keys[0]));
    for (i = 0; i < n; i++)
        memcpy(keys[i], c->touchq[(c->touch_head + i) % GWC_TOUCH_QUEUE], GW_CACHE_KEY_LEN);
    c->touch_head = 0;
    c->touch_len = 0;
    pthread_mutex_unlock(&c->tlock);
    if (n == 0) {
        free(keys);
        return 0;
    }

    qsort(keys, n, sizeof(keys[0]), key_cmp);
    e = gwc_malloc(sizeof(*e));
    rec = gwc_malloc(GWC_REC_MAX);
    int64_t now = gwc_now_ms();
    rc = gwc_write_begin(c, &txn);
    if (rc != 0) goto leave;
    for (i = 0; i < n; i++) {
        if (i > 0 && memcmp(keys[i], keys[i - 1], GW_CACHE_KEY_LEN) == 0) continue;
        rc = rewrite(c, txn, keys[i], LAST_ACCESS, now, e, rec);
        /* Gone or unreadable since it was touched: nothing to note. */
        if (rc == GW_CACHE_ENOTFOUND || rc == GW_CACHE_ECORRUPT) rc = 0;
        if (rc != 0) break;
    }
    if (rc == 0) rc = gwc_write_commit(c, txn, 0, 0);
    else gwc_write_abort(c, txn);
leave:
    free(keys);
    free(e);
    free(rec);
    return rc;
}
