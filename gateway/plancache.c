/*
 * plancache.c - decoded plans, held by count and kept in a bounded LRU
 * (plancache.h).
 *
 * A ref is the plan and its hold count; a kept ref is also in one hash
 * chain and in the LRU list, and the cache's hold is one of its count.
 * Invariants, under `lock`: `bytes` is the sum of the kept refs' `cost`
 * and stays at or under `max` after every insert; a ref is kept at most
 * once (`kept`), and never two refs for one (key, blob id).  The count
 * itself is atomic, so a hold is dropped without the lock: while the
 * cache keeps a ref its count cannot reach zero, and once it has let it
 * go no one can find it.
 */
#include "plancache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"
#include "stats.h"
#include "util.h"

#define REF_MAGIC 0x504c4e52u
#define NBUCKETS 4096
/* What malloc adds to each block, roughly: for the estimate of a plan's memory. */
#define MALLOC_OVERHEAD 16

struct gw_plan_ref {
    uint32_t magic;
    atomic_uint holds;
    struct gw_plan plan;
    size_t cost;                        /* estimated memory of ref and plan */
    int kept;
    uint8_t key[GW_CACHE_KEY_LEN];
    uint64_t blob_id;
    struct gw_plan_ref *chain;          /* next in its bucket */
    struct gw_plan_ref *newer, *older;  /* the LRU list */
};

static struct {
    pthread_mutex_t lock;
    uint64_t max;
    uint64_t bytes;
    uint64_t count;
    struct gw_plan_ref **buckets;
    struct gw_plan_ref *newest, *oldest;
} pc = {.lock = PTHREAD_MUTEX_INITIALIZER};

static size_t plan_cost(const struct gw_plan *p)
{
    size_t c = sizeof(struct gw_plan_ref) + MALLOC_OVERHEAD +
               p->cap * sizeof(struct gw_segment) + MALLOC_OVERHEAD;
    for (size_t i = 0; i < p->n; i++) {
        const struct gw_segment *s = &p->seg[i];
        c += strlen(s->container) + strlen(s->object) + 2 + MALLOC_OVERHEAD;
        if (s->data) c += s->data_len + MALLOC_OVERHEAD;
    }
    return c;
}

struct gw_plan_ref *gw_plan_ref_new(struct gw_plan *plan)
{
    struct gw_plan_ref *r = gw_calloc(1, sizeof(*r));
    r->magic = REF_MAGIC;
    atomic_init(&r->holds, 1);
    r->plan = *plan;
    memset(plan, 0, sizeof(*plan));
    r->cost = plan_cost(&r->plan);
    return r;
}

const struct gw_plan *gw_plan_ref_plan(const struct gw_plan_ref *r)
{
    GW_CHECK_MAGIC(r, REF_MAGIC);
    return &r->plan;
}

static void ref_hold(struct gw_plan_ref *r)
{
    atomic_fetch_add_explicit(&r->holds, 1, memory_order_relaxed);
}

void gw_plan_ref_drop(struct gw_plan_ref *r)
{
    if (r == NULL) return;
    GW_CHECK_MAGIC(r, REF_MAGIC);
    if (atomic_fetch_sub_explicit(&r->holds, 1, memory_order_acq_rel) != 1) return;
    gw_assert(!r->kept);
    gw_plan_free(&r->plan);
    r->magic = 0;
    free(r);
}

/* ---- the table, under pc.lock ---- */

static size_t bucket_of(const uint8_t *key, uint64_t blob_id)
{
    uint64_t h;
    memcpy(&h, key, sizeof(h)); /* the key is a SHA-256: any 8 bytes spread well */
    return (size_t)((h ^ (blob_id * 0x9e3779b97f4a7c15u)) % NBUCKETS);
}

static void lru_unlink(struct gw_plan_ref *r)
{
    if (r->newer) r->newer->older = r->older; else pc.newest = r->older;
    if (r->older) r->older->newer = r->newer; else pc.oldest = r->newer;
    r->newer = r->older = NULL;
}

static void lru_push(struct gw_plan_ref *r)
{
    r->older = pc.newest;
    r->newer = NULL;
    if (pc.newest) pc.newest->newer = r; else pc.oldest = r;
    pc.newest = r;
}

static struct gw_plan_ref **find(const uint8_t *key, uint64_t blob_id)
{
    struct gw_plan_ref **pp = &pc.buckets[bucket_of(key, blob_id)];
    while (*pp && !((*pp)->blob_id == blob_id && memcmp((*pp)->key, key, GW_CACHE_KEY_LEN) == 0))
        pp = &(*pp)->chain;
    return pp;
}

/* Let r go from the table; returns it, the cache's hold to drop (after the lock). */
static struct gw_plan_ref *evict(struct gw_plan_ref *r)
{
    struct gw_plan_ref **pp = find(r->key, r->blob_id);
    gw_assert(*pp == r);
    *pp = r->chain;
    r->chain = NULL;
    lru_unlink(r);
    r->kept = 0;
    pc.bytes -= r->cost;
    pc.count--;
    return r;
}

/* ---- the cache ---- */

void gw_plancache_init(uint64_t max_bytes)
{
    pthread_mutex_lock(&pc.lock);
    gw_assert(pc.count == 0);
    pc.max = max_bytes;
    if (max_bytes && pc.buckets == NULL) pc.buckets = gw_calloc(NBUCKETS, sizeof(*pc.buckets));
    pthread_mutex_unlock(&pc.lock);
    gw_stats_set_plan_cache(0, 0);
}

void gw_plancache_free(void)
{
    pthread_mutex_lock(&pc.lock);
    while (pc.oldest) {
        struct gw_plan_ref *r = evict(pc.oldest);
        gw_assert(atomic_load(&r->holds) == 1);
        gw_plan_ref_drop(r);
    }
    free(pc.buckets);
    pc.buckets = NULL;
    pc.max = 0;
    pthread_mutex_unlock(&pc.lock);
    gw_stats_set_plan_cache(0, 0);
}

struct gw_plan_ref *gw_plancache_get(const uint8_t key[GW_CACHE_KEY_LEN], uint64_t blob_id)
{
    struct gw_plan_ref *r = NULL;
    pthread_mutex_lock(&pc.lock);
    if (pc.buckets) {
        r = *find(key, blob_id);
        if (r) {
            ref_hold(r);
            lru_unlink(r);
            lru_push(r);
        }
    }
    pthread_mutex_unlock(&pc.lock);
    if (r) gw_stats_plan_cache_hit();
    return r;
}

struct gw_plan_ref *gw_plancache_put(const uint8_t key[GW_CACHE_KEY_LEN], uint64_t blob_id,
                                     struct gw_plan *plan)
{
    struct gw_plan_ref *r = gw_plan_ref_new(plan);
    struct gw_plan_ref *gone = NULL; /* evicted, chained through ->chain */
    memcpy(r->key, key, GW_CACHE_KEY_LEN);
    r->blob_id = blob_id;

    pthread_mutex_lock(&pc.lock);
    if (pc.buckets && r->cost <= pc.max / 2) {
        struct gw_plan_ref *old = *find(key, blob_id);
        if (old) {
            evict(old);
            old->chain = gone;
            gone = old;
        }
        while (pc.bytes + r->cost > pc.max) {
            struct gw_plan_ref *o = evict(pc.oldest);
            o->chain = gone;
            gone = o;
        }
        struct gw_plan_ref **pp = find(key, blob_id);
        *pp = r;
        lru_push(r);
        r->kept = 1;
        ref_hold(r); /* the cache's */
        pc.bytes += r->cost;
        pc.count++;
    }
    uint64_t count = pc.count, bytes = pc.bytes;
    pthread_mutex_unlock(&pc.lock);
    gw_stats_set_plan_cache(count, bytes);

    while (gone) {
        struct gw_plan_ref *next = gone->chain;
        gone->chain = NULL;
        gw_plan_ref_drop(gone);
        gone = next;
    }
    return r;
}
