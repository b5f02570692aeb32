/*
 * thread.c - the cache's per-thread state: the SHA-256 context that
 * gw_cache_key() reuses from one call to the next, and the LMDB read
 * transaction each thread keeps per open cache for gw_cache_get().
 *
 * A read transaction is begun once per thread and cache, renewed for each
 * lookup (mdb_txn_renew: no allocation, no reader-table lock, the same
 * reader slot) and reset right after it (mdb_txn_reset).  A reset
 * transaction keeps its slot in the reader table but pins no snapshot, so
 * LMDB can still reuse the pages writers free; a renewed one is never left
 * open between calls.  The environment is opened with MDB_NOTLS, which ties
 * a slot to its transaction rather than to a thread and lets another
 * thread abort it: gw_cache_close() aborts every thread's transaction
 * before the environment closes.  Slots in use: one per thread that ever
 * looked something up, well below GWC_MAXREADERS for the gateway's threads.
 *
 * Invariants:
 *  - The SHA-256 implementation is fetched from OpenSSL once per process
 *    (EVP_sha256() alone makes every EVP_DigestInit_ex() look the digest
 *    up again, which costs more than hashing a short name).  It is never
 *    freed: the process holds it to the end, like OpenSSL's own tables.
 *  - A thread's state is created at its first use and freed when the
 *    thread exits, by the destructor of a pthread key; a thread that never
 *    exits (the main thread) keeps its state reachable from a thread-local
 *    pointer, so a leak checker sees nothing lost.
 *  - A thread's digest context and its list of readers are used by that
 *    thread only, without a lock.  A reader is also on its cache's list;
 *    that list, and a reader's cache pointer, change only under reg_lock.
 *    A reader's transaction is used by its thread while the cache is open,
 *    and ended under reg_lock by gw_cache_close() (which no call on the
 *    same cache may overlap) or by the thread's destructor.
 *  - Readers are matched to caches by an id never reused in the process,
 *    not by address: a cache opened where a closed one was freed gets new
 *    readers, never the closed one's.
 *  - A reader whose cache closed (cache and transaction NULL) stays on its
 *    thread's list until that thread next adds a reader or exits; the
 *    thread that closes a cache frees its own reader of it at once.
 */
#include "cache_int.h"

#include <stdlib.h>

#include <openssl/evp.h>

/* One thread's read transaction on one cache. */
struct gwc_reader {
    uint64_t cache_id;          /* the cache's id; constant */
    MDB_txn *txn;               /* reset between lookups; NULL until begun, after a
                                   failed renew, and once the cache closed */
    struct gw_cache *c;         /* under reg_lock; NULL once the cache closed */
    struct gwc_reader *next;    /* the thread's list; its thread only */
    struct gwc_reader *cprev, *cnext;   /* the cache's list; under reg_lock */
};

struct gwc_thread {
    EVP_MD_CTX *md_ctx;         /* for gw_cache_key(); reinitialised per key */
    struct gwc_reader *readers; /* one per cache this thread looked up */
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic uint64_t last_cache_id;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_key_t thread_key;        /* its destructor frees a thread's state */
static EVP_MD *sha256;
static _Thread_local struct gwc_thread *self;

/* Take r off its cache's list and end its transaction; under reg_lock. */
static void reader_detach(struct gwc_reader *r)
{
    struct gw_cache *c = r->c;

    if (c == NULL) return;
    if (r->cprev != NULL) r->cprev->cnext = r->cnext;
    else c->readers = r->cnext;
    if (r->cnext != NULL) r->cnext->cprev = r->cprev;
    r->cprev = r->cnext = NULL;
    if (r->txn != NULL) mdb_txn_abort(r->txn);
    r->txn = NULL;
    r->c = NULL;
}

/* Free the calling thread's readers of closed caches; under reg_lock. */
static void readers_prune(struct gwc_thread *t)
{
    struct gwc_reader **pp = &t->readers, *r;

    while ((r = *pp) != NULL) {
        if (r->c == NULL) {
            *pp = r->next;
            free(r);
        } else {
            pp = &r->next;
        }
    }
}

static void thread_free(void *p)
{
    struct gwc_thread *t = p;

    /* The thread is leaving: give every cache its reader slot back. */
    pthread_mutex_lock(&reg_lock);
    for (struct gwc_reader *r = t->readers; r != NULL; r = r->next) reader_detach(r);
    readers_prune(t);
    pthread_mutex_unlock(&reg_lock);
    EVP_MD_CTX_free(t->md_ctx);
    free(t);
    self = NULL;
}

static void once_init(void)
{
    GWC_ASSERT(pthread_key_create(&thread_key, thread_free) == 0);
    sha256 = EVP_MD_fetch(NULL, "SHA2-256", NULL);
    GWC_ASSERT(sha256 != NULL);
}

static struct gwc_thread *thread_state(void)
{
    struct gwc_thread *t = self;

    if (t != NULL) return t;
    pthread_once(&once, once_init);
    t = calloc(1, sizeof(*t));
    GWC_ASSERT(t != NULL);
    t->md_ctx = EVP_MD_CTX_new();
    GWC_ASSERT(t->md_ctx != NULL);
    GWC_ASSERT(pthread_setspecific(thread_key, t) == 0);
    self = t;
    return t;
}

EVP_MD_CTX *gwc_sha256_ctx(void)
{
    struct gwc_thread *t = thread_state();

    /* The same digest on the same context: OpenSSL keeps what it set up. */
    GWC_ASSERT(EVP_DigestInit_ex2(t->md_ctx, sha256, NULL) == 1);
    return t->md_ctx;
}

/* ------------------------------------------------------------------------ */
/* Read transactions                                                         */

void gwc_readers_init(struct gw_cache *c)
{
    c->id = atomic_fetch_add(&last_cache_id, 1) + 1;
    c->readers = NULL;
}

void gwc_readers_close(struct gw_cache *c)
{
    struct gwc_thread *t = self;

    pthread_mutex_lock(&reg_lock);
    /* No call on c runs now (the contract of gw_cache_close()): every one
       of these transactions is reset, and aborting it frees its slot. */
    while (c->readers != NULL) reader_detach(c->readers);
    if (t != NULL) readers_prune(t);
    pthread_mutex_unlock(&reg_lock);
}

/* The calling thread's reader of c, made at its first lookup there. */
static struct gwc_reader *reader_of(struct gw_cache *c)
{
    struct gwc_thread *t = thread_state();
    struct gwc_reader *r;

    for (r = t->readers; r != NULL; r = r->next)
        if (r->cache_id == c->id) return r;
    r = calloc(1, sizeof(*r));
    GWC_ASSERT(r != NULL);
    r->cache_id = c->id;
    pthread_mutex_lock(&reg_lock);
    readers_prune(t);
    r->c = c;
    r->cnext = c->readers;
    if (c->readers != NULL) c->readers->cprev = r;
    c->readers = r;
    pthread_mutex_unlock(&reg_lock);
    r->next = t->readers;
    t->readers = r;
    return r;
}

int gwc_read_begin(struct gw_cache *c, MDB_txn **txn)
{
    struct gwc_reader *r = reader_of(c);
    int rc;

    if (r->txn != NULL) {
        rc = mdb_txn_renew(r->txn);
        if (rc == 0) {
            *txn = r->txn;
            return 0;
        }
        /* Renewing failed (it should not): start over with a new one. */
        mdb_txn_abort(r->txn);
        r->txn = NULL;
    }
    rc = mdb_txn_begin(c->env, NULL, MDB_RDONLY, &r->txn);
    if (rc != 0) {
        r->txn = NULL;
        *txn = NULL;
        return rc;
    }
    *txn = r->txn;
    return 0;
}

void gwc_read_end(MDB_txn *txn)
{
    mdb_txn_reset(txn);
}
