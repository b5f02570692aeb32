/*
 * blobfd.h - shared open descriptors of cached blobs, for sendfile hits.
 *
 * A hit's body goes from the blob's descriptor to the socket with
 * sendfile(2): the page cache hands its pages over, nothing is copied into
 * the process and nothing is mapped.  One descriptor per blob is shared by
 * every request of every worker that sends it, counted by references.
 */
#ifndef GW_BLOBFD_H
#define GW_BLOBFD_H

#include <stdatomic.h>
#include <stdint.h>

#include <uv.h>

#include "cache.h"

struct gw_blobfd {
    int fd;             /* read-only; valid while a reference is held */
    uint64_t len;       /* the blob's size, checked against its entry */
    /* A whole 200's fixed header lines for this blob, set once by respond.c
     * (gw_object_meta.prepared); freed with the blob. */
    _Atomic(char *) head;
};

/* The open blob (key, blob_id) with a new reference, or NULL.  Cheap. */
struct gw_blobfd *gw_blobfd_get(const uint8_t key[GW_CACHE_KEY_LEN], uint64_t blob_id);

/*
 * BLOCKING (open, fstat): e's blob, with a reference.  A blob opened here
 * for the first time is also read ahead (POSIX_FADV_WILLNEED), so the loop's
 * sendfile finds its pages in the page cache.  0, or -errno; -ENOENT when
 * the blob is gone or is not the size the entry says (evicted or replaced
 * since the lookup: a miss).
 */
int gw_blobfd_open(struct gw_cache *c, const struct gw_cache_entry *e, struct gw_blobfd **out);

/*
 * gw_blobfd_open() in loop's thread pool, for a cold blob: cb(ud, 0, b)
 * or cb(ud, -errno, NULL) then, from the loop.  e is copied.  Returns the
 * pending open, or NULL when it cannot be queued (no callback follows).
 */
struct gw_blob_open;
struct gw_blob_open *gw_blobfd_open_async(uv_loop_t *loop, struct gw_cache *c,
                                          const struct gw_cache_entry *e,
                                          void (*cb)(void *ud, int rc, struct gw_blobfd *b),
                                          void *ud);
/* The caller is going away: no callback follows; a blob opened
 * meanwhile is released, and the open frees itself. */
void gw_blobfd_open_cancel(struct gw_blob_open *op);

/* One more reference, and its release; both from any thread. */
void gw_blobfd_ref(struct gw_blobfd *b);
void gw_blobfd_release(struct gw_blobfd *b);
/* gw_blobfd_release() with a void * argument, for a sink's release callback. */
void gw_blobfd_release_cb(void *b);

/* Close the idle descriptors whose blob the index no longer names, so the
 * disk space of an evicted blob is freed.  Reads the index; fine in the
 * thread pool. */
void gw_blobfd_sweep(struct gw_cache *c);

/* Close every idle descriptor (at exit, once no request holds any). */
void gw_blobfd_shutdown(void);

#endif
