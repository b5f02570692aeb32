/*
 * plancache.h - large objects' plans, decoded once and shared.
 *
 * A large object's MANIFEST entry keeps its plan in encoded form; an
 * answer needs it decoded.  A struct gw_plan_ref is a counted hold on one
 * decoded plan, which nobody changes once it is held: each request sending
 * the object holds one, and so does this cache while it keeps the plan, so
 * that the next hit on the object takes a hold instead of decoding again.
 * The plan is freed with the last hold.
 *
 * The cache is process-wide (every worker's hits share it, under one lock
 * taken for a lookup or an insert, never while decoding).  A plan is kept
 * under the cache key and blob id of the entry it was read from; blob ids
 * are never reused, so the plan of an entry replaced or evicted since can
 * never be found for another: it only ages out.  The cache stays under
 * [cache] plan_cache_size bytes (an estimate of the plans' memory), least
 * recently used first; a plan over half of that is not kept.  Its plans,
 * bytes and hits are counted in stats.c (decodes by those who decode).
 */
#ifndef GW_PLANCACHE_H
#define GW_PLANCACHE_H

#include <stdint.h>

#include "cache.h"

struct gw_plan;
struct gw_plan_ref;

/* Before any worker starts (max_bytes 0: keep nothing); after they all
 * stopped, free every plan the cache holds (holds still out are a bug). */
void gw_plancache_init(uint64_t max_bytes);
void gw_plancache_free(void);

/* A hold on *plan, which is taken over (and zeroed); not in the cache. */
struct gw_plan_ref *gw_plan_ref_new(struct gw_plan *plan);
/* The plan held: valid, unchanged, until the hold is dropped. */
const struct gw_plan *gw_plan_ref_plan(const struct gw_plan_ref *r);
/* Drop one hold; any thread.  NULL is fine. */
void gw_plan_ref_drop(struct gw_plan_ref *r);

/* A new hold on the plan kept for (key, blob_id), or NULL. */
struct gw_plan_ref *gw_plancache_get(const uint8_t key[GW_CACHE_KEY_LEN], uint64_t blob_id);

/*
 * *plan (taken over, zeroed), just decoded from the blob of entry (key,
 * blob_id): kept if it fits, replacing any plan kept for the same pair.
 * Returns a hold on it for the caller, kept or not.
 */
struct gw_plan_ref *gw_plancache_put(const uint8_t key[GW_CACHE_KEY_LEN], uint64_t blob_id,
                                     struct gw_plan *plan);

#endif
