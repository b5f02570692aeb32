/*
 * blobmap.h - shared read-only mappings of cached blobs, for zero-copy hits.
 */
#ifndef GW_BLOBMAP_H
#define GW_BLOBMAP_H

#include <stdint.h>

#include <uv.h>

#include "cache.h"

struct gw_blobmap {
    const char *addr;   /* NULL for an empty blob */
    uint64_t len;
};

/* The mapping of (key, blob_id) with a new reference, or NULL.  Cheap. */
struct gw_blobmap *gw_blobmap_get(const uint8_t key[GW_CACHE_KEY_LEN], uint64_t blob_id);

/*
 * BLOCKING (open, fstat, mmap): the mapping of e's blob, with a reference.
 * 0, or -errno; -ENOENT when the blob is gone or is not the size the entry
 * says (evicted or replaced since the lookup: a miss).
 */
int gw_blobmap_open(struct gw_cache *c, const struct gw_cache_entry *e, struct gw_blobmap **out);

/*
 * gw_blobmap_open() in loop's thread pool, for a cold blob: cb(ud, 0, map)
 * or cb(ud, -errno, NULL) then, from the loop.  e is copied.  Returns the
 * pending open, or NULL when it cannot be queued (no callback follows).
 */
struct gw_blob_open;
struct gw_blob_open *gw_blobmap_open_async(uv_loop_t *loop, struct gw_cache *c,
                                           const struct gw_cache_entry *e,
                                           void (*cb)(void *ud, int rc, struct gw_blobmap *m),
                                           void *ud);
/* The caller is going away: no callback follows; a mapping opened
 * meanwhile is released, and the open frees itself. */
void gw_blobmap_open_cancel(struct gw_blob_open *op);

/* One more reference, and its release; both from any thread. */
void gw_blobmap_ref(struct gw_blobmap *m);
void gw_blobmap_release(struct gw_blobmap *m);

/* Unmap the idle mappings whose blob the index no longer names.  Reads the
 * index; fine in the thread pool. */
void gw_blobmap_sweep(struct gw_cache *c);

/* Unmap every idle mapping (at exit, once no request holds any). */
void gw_blobmap_shutdown(void);

#endif
