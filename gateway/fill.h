/*
 * fill.h - one origin fetch per cache key, any number of readers following
 * it as the bytes arrive.
 *
 * A fill belongs to the worker whose request started it (its curl handle
 * runs on that loop, taking a bounded share of each of its turns, so the
 * worker's other requests go on however fast Swift sends); readers may be
 * requests on any worker.  The fill writes the body to a temp blob; every
 * reader reads from that file at its own pace, so a slow reader neither
 * stalls the fetch nor other readers, and costs only its own bounded send
 * buffer.  Readers are woken on their
 * own loop (a uv_async per worker), never from another thread's stack.
 *
 * Nothing unverified is ever presented as whole: until the body's length
 * and MD5 match Swift's Content-Length and ETag, readers may take all but
 * the last byte.  If verification fails, every reader's connection is cut
 * short, so no client can take the body for a complete one.
 *
 * An object's outcome (VERIFIED, NOT_FOUND, NOT_MODIFIED) is published only
 * once its entry is committed to the index, so a client that has its whole
 * answer finds the entry there.  Two outcomes are published as soon as they
 * are verified, their commit following in the thread pool: a segment's
 * VERIFIED (nobody looks a segment up by its own name, and a large object's
 * answer ends only with its last segment) and a large object's MANIFEST
 * (its readers go on to the segments at once).  Such a fill stays in the
 * table until its commit is over, so a request in between joins it and
 * gets the same outcome; only a look at the index itself (a purge) may
 * miss the entry for those few milliseconds.
 */
#ifndef GW_FILL_H
#define GW_FILL_H

#include <stdint.h>

#include "cache.h"
#include "replay.h"

struct gw_plan;
struct gw_services;
struct gw_swift_req;
struct gw_fill;
struct gw_fill_worker;
struct gw_fill_file;

enum gw_fill_state {
    GW_FILL_HEAD,        /* waiting for Swift's answer */
    GW_FILL_BODY,        /* 200: head known, body arriving */
    GW_FILL_VERIFIED,    /* whole body arrived and matched: all readable; committed
                            (a segment: being committed) */
    GW_FILL_NOT_MODIFIED,/* revalidation: Swift said 304, the cached blob stands */
    GW_FILL_NOT_FOUND,   /* Swift said 404 */
    GW_FILL_UNCACHEABLE, /* cannot go through the cache (no space, no length):
                            each reader fetches on its own */
    GW_FILL_FAILED,      /* see error_status; readers past the head cut short */
    GW_FILL_MANIFEST,    /* a large object: its segment plan is verified and ready
                            (gw_fill_plan); committed as a MANIFEST entry after,
                            if it can be */
};

/* What a reader needs to answer, fixed once the state leaves GW_FILL_HEAD. */
struct gw_fill_info {
    enum gw_fill_state state;
    int error_status;        /* FAILED: 502 or 504 */
    const char *error_reason;/* FAILED: a short static reason, or NULL */
    uint64_t length;
    uint64_t readable;       /* bytes a reader may send now */
    char etag[80];           /* unquoted; MANIFEST: the large object's */
    char last_modified[64];
    char content_type[128];  /* sniffed when Swift said octet-stream */
    char replay[GW_REPLAY_MAX]; /* Swift's headers passed on (replay.h) */
    uint64_t origin_ms;      /* time to Swift's first byte */
};

struct gw_fill_reader {
    /* Called on the reader's own loop when the fill has news (more bytes,
     * a new state).  It may call gw_fill_read(), gw_fill_info() or
     * gw_fill_leave(). */
    void (*on_event)(struct gw_fill_reader *r);
    /*
     * Optional, for the reader that started the fill: Swift's answer cannot
     * go through the cache (UNCACHEABLE), so rather than fetch it again the
     * reader may take the request over (gw_swift_req_take) and leave the
     * fill.  Called from inside the fetch's on_headers, on the reader's
     * loop.  Returns 1 and *rc (what on_headers returns) when taken, 0 when
     * declined.
     */
    int (*on_takeover)(struct gw_fill_reader *r, struct gw_swift_req *q, long status, int *rc);
    /* Internal. */
    struct gw_fill *fill;
    struct gw_fill_worker *fw;
    struct gw_fill_reader *next, *prev;
    struct gw_fill_reader *wnext;
    int pending;
    int primary;
    struct gw_fill_file *file;  /* gw_fill_file(): the reader's descriptor */
};

/*
 * A worker's side of the fills: its readers' wake-up and the fills it owns.
 * The worker creates it on its loop once svc is complete but for ->fills,
 * and stores it there; svc must outlive it.
 */
struct gw_fill_worker *gw_fill_worker_new(const struct gw_services *svc);
/* Abort the fills this worker owns and close its handle; freed from the
 * loop.  Every reader of this worker must have left. */
void gw_fill_worker_close(struct gw_fill_worker *fw);

/* What to fill. */
struct gw_fill_spec {
    const char *container;      /* NULL: the configured container */
    const char *object;
    /*
     * A top-level object (0) is asked for with ?multipart-manifest=get: a
     * large object's manifest comes back, and the fill turns it into a
     * segment plan (MANIFEST).  A segment (1) is a plain GET that must
     * match expect_md5 and expect_size (else FAILED, "segment changed"),
     * cached as a SEGMENT entry.
     */
    int segment;
    const char *expect_md5;
    uint64_t expect_size;
    /* Top-level only: ask Swift with If-None-Match (revalidation). */
    const char *revalidate_etag;
    /* The client request that starts the fill, or NULL: its id goes to
     * Swift as X-Trans-Id-Extra on every request of the fill. */
    const char *request_id;
};

/*
 * Follow the fill of `key` (the cache key of spec's object), starting one
 * on svc's worker if none runs.  A running fill is joined whatever it was started
 * with: a reader checks what it gets (length, ETag) against what it needs.
 * r->on_event must be set.  The first event comes from the loop, never
 * from inside this call.
 */
void gw_fill_join(const struct gw_services *svc, const uint8_t key[GW_CACHE_KEY_LEN],
                  const struct gw_fill_spec *spec, struct gw_fill_reader *r);

/*
 * Make sure the fill of `key` runs (start it on svc's worker if none does),
 * without following it: it goes on into the cache on its own.
 */
void gw_fill_prefetch(const struct gw_services *svc, const uint8_t key[GW_CACHE_KEY_LEN],
                      const struct gw_fill_spec *spec);

/*
 * In state MANIFEST: the large object's plan into *out (the caller frees
 * it with gw_plan_free).  0, or GW_EPARSE (not a manifest fill).
 */
int gw_fill_plan(struct gw_fill_reader *r, struct gw_plan *out);

/* A snapshot of the fill. */
void gw_fill_info(struct gw_fill_reader *r, struct gw_fill_info *out);

/*
 * The file the body is written to, for sending bytes [0, info.readable)
 * with sendfile (what the fill has just written: page cache, not disk).
 * *fd is the reader's own descriptor of it, valid after the fill is gone
 * and after gw_fill_leave(), until *ref is dropped: one reference per call,
 * dropped with gw_fill_file_release(*ref) (on the reader's loop, or any).
 * 0, or -errno.
 */
int gw_fill_file(struct gw_fill_reader *r, int *fd, void **ref);
void gw_fill_file_release(void *ref);

/* Stop following; no event follows.  The fill goes on without r. */
void gw_fill_leave(struct gw_fill_reader *r);


#endif
