/*
 * writereq.h - what PUT (upload.c) and DELETE (delete.c) share: a write
 * request's hold on its sink, its request to Swift, its one answer and
 * its end.
 *
 * A write request is the sink's owner from gw_writereq_init() on.  The
 * connection's release() cancels what runs at Swift and frees it through
 * its own free function, at once, or when the thread-pool job that holds
 * it (busy) is over.  The answer is queued once; after release, nothing.
 */
#ifndef GW_WRITEREQ_H
#define GW_WRITEREQ_H

#include <stdint.h>

#include "cache.h"
#include "swift.h"

struct gw_fetch;
struct gw_fetch_cbs;
struct gw_services;
struct gw_sink;

struct gw_writereq {
    uint32_t magic;
    struct gw_sink *s;
    const struct gw_services *svc;
    char name[37];                  /* a uuid */
    uint8_t key[GW_CACHE_KEY_LEN];  /* of the configured container's `name` */
    struct gw_swift_req q;
    int answered, released;
    int busy;                       /* a thread-pool job holds it */
    void (*free)(struct gw_writereq *w);
    /* Or NULL: told of the release while busy, so the job can wind down
     * (and then end with gw_writereq_job_done()). */
    void (*on_release)(struct gw_writereq *w);
};

/* Set w up for object `name` and attach it to s as the answer's owner. */
void gw_writereq_init(struct gw_writereq *w, struct gw_sink *s, const struct gw_services *svc,
                      const char *name, void (*free_fn)(struct gw_writereq *w));
/* Queue the answer (gw_respond_simple), unless one is queued or w is released. */
void gw_writereq_answer(struct gw_writereq *w, int status, const char *reason,
                        const char *extra);
/*
 * A job that held w (busy) is over.  Returns 1 when w was released
 * meanwhile and is now freed: touch it no more.
 */
int gw_writereq_job_done(struct gw_writereq *w);
/*
 * Send `method` (with "?query" unless NULL) for the object to Swift, once
 * (no retry after a 401), with prepare, cbs and ud as in swift.h; whatever
 * ran on w->q before is cancelled.  0, or GW_EORIGIN (no callback follows).
 */
int gw_writereq_swift(struct gw_writereq *w, const char *method, const char *query,
                      void (*prepare)(void *ud, struct gw_fetch *f),
                      const struct gw_fetch_cbs *cbs, void *ud);

#endif
