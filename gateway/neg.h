/*
 * neg.h - the negative cache: which objects Swift just said 404 for.
 *
 * Kept in memory only, one table for the whole process, shared by every
 * worker under one mutex.  A 404 is remembered for negative_ttl, in a
 * budget of its own (negative_max_entries) that has nothing to do with the
 * on-disk cache: remembering one costs no disk write and no thread-pool
 * job, it never counts against max_entries and never evicts a cached
 * object.  A restart forgets every 404 (as nginx's and Varnish's memory
 * caches do): the cost is one request to Swift per missing name.
 *
 * When the table is full the oldest entry goes.  Every entry lives for the
 * same negative_ttl (the one in effect now: a reload that changes it
 * changes it for all), so the oldest is also the first to expire:
 * insertion order is expiry order, and a FIFO list is all eviction needs.
 *
 * All functions may be called from any thread.  Every call is O(1) but
 * for the table's growth (a rehash, once per doubling).
 */
#ifndef GW_NEG_H
#define GW_NEG_H

#include <stdint.h>

#include "cache.h"

struct gw_neg;

/*
 * A table of at most max_entries, each remembered for ttl_ms (0: none is,
 * until gw_neg_set_ttl() says otherwise).  NULL when max_entries is 0
 * (404s are never remembered); every function takes NULL.
 */
struct gw_neg *gw_neg_new(uint64_t max_entries, uint64_t ttl_ms);
void gw_neg_free(struct gw_neg *n);

/* A reload: from now on every entry, old or new, lives ttl_ms from its put. */
void gw_neg_set_ttl(struct gw_neg *n, uint64_t ttl_ms);

/* Swift said 404 for key at now_ms (monotonic): remember it, afresh. */
void gw_neg_put(struct gw_neg *n, const uint8_t key[GW_CACHE_KEY_LEN], uint64_t now_ms);

/* 1 if key is remembered and fresh at now_ms (a hit, counted), else 0. */
int gw_neg_get(struct gw_neg *n, const uint8_t key[GW_CACHE_KEY_LEN], uint64_t now_ms);

/* For a report (not a hit, not counted): 1 and the ms it has left in
 * *left_ms if key is remembered and fresh at now_ms, else 0. */
int gw_neg_peek(struct gw_neg *n, const uint8_t key[GW_CACHE_KEY_LEN], uint64_t now_ms,
                uint64_t *left_ms);

/* Forget key (the object exists now, or a purge): 1 if it was held, else 0. */
int gw_neg_forget(struct gw_neg *n, const uint8_t key[GW_CACHE_KEY_LEN]);

/* Entries held now (expired ones not yet dropped included). */
uint64_t gw_neg_count(struct gw_neg *n);

#endif
