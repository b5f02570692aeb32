/*
 * neg.c - the negative cache (neg.h): a hash table of cache keys, chained,
 * and a FIFO list of the same entries in the order they were put.
 *
 * Invariants, all under n->lock:
 *  - count <= max: a put into a full table first drops the head of the
 *    list (the oldest entry, hence the first to expire).
 *  - An entry keeps when it was put, not when it expires: every entry is
 *    judged by the ttl of now (a reload may change it), so the oldest is
 *    always the first to expire, whatever the ttl was when it was put.
 *  - An entry is on the list and in exactly one bucket chain, or freed.
 *  - Expired entries at the head are dropped by every put, and an expired
 *    entry a get finds is dropped then; the others wait for a put to reach
 *    them.  So memory is bounded by max entries whatever the traffic.
 *  - The bucket array is a power of two no smaller than count / 2 (it
 *    doubles as the table fills, never shrinks): chains stay short.
 *
 * The key is a SHA-256 already, so its first bytes are the hash.  Counts
 * go to stats.c as they change (held, evicted, hits).
 */
#include "neg.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"
#include "util.h"

#define NEG_MAGIC 0x4e454721u
#define NEG_MIN_BUCKETS 1024

struct neg_entry {
    uint8_t key[GW_CACHE_KEY_LEN];
    uint64_t put_at;                /* monotonic ms */
    struct neg_entry *hnext;        /* bucket chain */
    struct neg_entry *prev, *next;  /* FIFO list: head is the oldest */
};

struct gw_neg {
    uint32_t magic;
    pthread_mutex_t lock;
    uint64_t max, ttl_ms;
    uint64_t count;
    struct neg_entry **buckets;
    uint64_t nbuckets;              /* a power of two */
    struct neg_entry *head, *tail;
};

static uint64_t hash_of(const uint8_t *key)
{
    uint64_t h;
    memcpy(&h, key, sizeof(h));
    return h;
}

static struct neg_entry **slot(struct gw_neg *n, const uint8_t *key)
{
    struct neg_entry **p = &n->buckets[hash_of(key) & (n->nbuckets - 1)];
    while (*p && memcmp((*p)->key, key, GW_CACHE_KEY_LEN) != 0) p = &(*p)->hnext;
    return p; /* the link that points at key's entry, or the chain's NULL end */
}

static void list_unlink(struct gw_neg *n, struct neg_entry *e)
{
    if (e->prev) e->prev->next = e->next;
    else n->head = e->next;
    if (e->next) e->next->prev = e->prev;
    else n->tail = e->prev;
    e->prev = e->next = NULL;
}

static void list_append(struct gw_neg *n, struct neg_entry *e)
{
    e->prev = n->tail;
    e->next = NULL;
    if (n->tail) n->tail->next = e;
    else n->head = e;
    n->tail = e;
}

/* Whether e has expired at now_ms (lock held). */
static int expired(const struct gw_neg *n, const struct neg_entry *e, uint64_t now_ms)
{
    return now_ms >= e->put_at + n->ttl_ms;
}

/* Drop the entry *link points at (lock held). */
static void drop(struct gw_neg *n, struct neg_entry **link)
{
    struct neg_entry *e = *link;
    *link = e->hnext;
    list_unlink(n, e);
    free(e);
    n->count--;
}

/* Twice the buckets, every entry rehashed (lock held). */
static void grow(struct gw_neg *n)
{
    uint64_t nb = n->nbuckets * 2;
    struct neg_entry **b = gw_calloc(nb, sizeof(*b));
    for (uint64_t i = 0; i < n->nbuckets; i++) {
        struct neg_entry *e = n->buckets[i], *next;
        for (; e; e = next) {
            next = e->hnext;
            uint64_t j = hash_of(e->key) & (nb - 1);
            e->hnext = b[j];
            b[j] = e;
        }
    }
    free(n->buckets);
    n->buckets = b;
    n->nbuckets = nb;
}

struct gw_neg *gw_neg_new(uint64_t max_entries, uint64_t ttl_ms)
{
    if (max_entries == 0) return NULL;
    struct gw_neg *n = gw_calloc(1, sizeof(*n));
    n->magic = NEG_MAGIC;
    pthread_mutex_init(&n->lock, NULL);
    n->max = max_entries;
    n->ttl_ms = ttl_ms;
    n->nbuckets = NEG_MIN_BUCKETS;
    n->buckets = gw_calloc(n->nbuckets, sizeof(*n->buckets));
    gw_stats_neg_held(0);
    return n;
}

void gw_neg_free(struct gw_neg *n)
{
    if (n == NULL) return;
    GW_CHECK_MAGIC(n, NEG_MAGIC);
    for (struct neg_entry *e = n->head, *next; e; e = next) {
        next = e->next;
        free(e);
    }
    free(n->buckets);
    pthread_mutex_destroy(&n->lock);
    n->magic = 0;
    free(n);
}

void gw_neg_set_ttl(struct gw_neg *n, uint64_t ttl_ms)
{
    if (n == NULL) return;
    GW_CHECK_MAGIC(n, NEG_MAGIC);
    pthread_mutex_lock(&n->lock);
    n->ttl_ms = ttl_ms;
    pthread_mutex_unlock(&n->lock);
}

void gw_neg_put(struct gw_neg *n, const uint8_t key[GW_CACHE_KEY_LEN], uint64_t now_ms)
{
    if (n == NULL) return;
    GW_CHECK_MAGIC(n, NEG_MAGIC);
    uint64_t evicted = 0;
    pthread_mutex_lock(&n->lock);
    struct neg_entry **link = slot(n, key);
    if (*link) drop(n, link); /* put again at the tail, afresh */
    /* The expired first: they cost nothing to lose. */
    while (n->head && expired(n, n->head, now_ms)) drop(n, slot(n, n->head->key));
    if (n->ttl_ms == 0) { /* remembering is off for now */
        gw_stats_neg_held(n->count);
        pthread_mutex_unlock(&n->lock);
        return;
    }
    if (n->count >= n->max) {
        drop(n, slot(n, n->head->key));
        evicted = 1;
    }
    if (n->count + 1 > n->nbuckets * 2) grow(n);
    struct neg_entry *e = gw_malloc(sizeof(*e));
    memcpy(e->key, key, GW_CACHE_KEY_LEN);
    e->put_at = now_ms;
    link = slot(n, key);
    e->hnext = NULL;
    *link = e;
    list_append(n, e);
    n->count++;
    gw_stats_neg_held(n->count);
    pthread_mutex_unlock(&n->lock);
    if (evicted) gw_stats_neg_evicted(evicted);
}

int gw_neg_get(struct gw_neg *n, const uint8_t key[GW_CACHE_KEY_LEN], uint64_t now_ms)
{
    if (n == NULL) return 0;
    GW_CHECK_MAGIC(n, NEG_MAGIC);
    int hit = 0;
    pthread_mutex_lock(&n->lock);
    struct neg_entry **link = slot(n, key);
    if (*link && !expired(n, *link, now_ms)) {
        hit = 1;
    } else if (*link) {
        drop(n, link);
        gw_stats_neg_held(n->count);
    }
    pthread_mutex_unlock(&n->lock);
    if (hit) gw_stats_neg_hit();
    return hit;
}

int gw_neg_peek(struct gw_neg *n, const uint8_t key[GW_CACHE_KEY_LEN], uint64_t now_ms,
                uint64_t *left_ms)
{
    if (n == NULL) return 0;
    GW_CHECK_MAGIC(n, NEG_MAGIC);
    pthread_mutex_lock(&n->lock);
    const struct neg_entry *e = *slot(n, key);
    int fresh = e != NULL && !expired(n, e, now_ms);
    if (fresh) *left_ms = e->put_at + n->ttl_ms - now_ms;
    pthread_mutex_unlock(&n->lock);
    return fresh;
}

int gw_neg_forget(struct gw_neg *n, const uint8_t key[GW_CACHE_KEY_LEN])
{
    if (n == NULL) return 0;
    GW_CHECK_MAGIC(n, NEG_MAGIC);
    pthread_mutex_lock(&n->lock);
    struct neg_entry **link = slot(n, key);
    int held = *link != NULL;
    if (held) {
        drop(n, link);
        gw_stats_neg_held(n->count);
    }
    pthread_mutex_unlock(&n->lock);
    return held;
}

uint64_t gw_neg_count(struct gw_neg *n)
{
    if (n == NULL) return 0;
    GW_CHECK_MAGIC(n, NEG_MAGIC);
    pthread_mutex_lock(&n->lock);
    uint64_t c = n->count;
    pthread_mutex_unlock(&n->lock);
    return c;
}
