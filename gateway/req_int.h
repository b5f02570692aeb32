/*
 * req_int.h - what the files of a request share: the request itself, its
 * ways of answering, and each way's entry points.  Nobody outside the
 * request's files (req*.c) includes it.
 *
 * A request for an object is a small state machine.  Its ways are listed
 * once, below; req_goto() in req.c is the only place the way changes, and
 * it checks each move against a table of allowed moves.  What a way needs
 * lives in its member of the union `u`, which req_goto() clears after the
 * way being left has let go of what it held: no way can read another's
 * state.  Each way's start function (req_*_start) is its only entry and
 * calls req_goto() first.
 */
#ifndef GW_REQ_INT_H
#define GW_REQ_INT_H

#include <stdint.h>

#include <uv.h>

#include "cache.h"
#include "fill.h"
#include "replay.h"
#include "respond.h"
#include "services.h"
#include "sink.h"
#include "sniff.h"
#include "swift.h"

struct gw_plan_ref;

#define REQ_MAGIC 0x52455155u

/*
 * The ways of answering, in the order a request may meet them:
 *   LOOKUP     new: the index is read and the way chosen
 *   HIT        a fresh (or revalidated, or stale) entry: head from the
 *              index, body from the blob
 *   FOLLOW     the request follows the fill of its key (fill.c)
 *   PASS       straight from Swift, through no cache
 *   SEGMENTED  a large object, put together from its segments
 *   PURGE      admin: the entry is removed (or expired) in the thread pool
 *   DONE       the answer is written (or cut); nothing runs any more
 */
#define GW_REQ_WAYS(X)              \
    X(LOOKUP, "lookup")             \
    X(HIT, "hit")                   \
    X(FOLLOW, "follow")             \
    X(PASS, "pass")                 \
    X(SEGMENTED, "segmented")       \
    X(PURGE, "purge")               \
    X(DONE, "done")

enum req_way {
#define REQ_WAY_ENUM(name, text) REQ_##name,
    GW_REQ_WAYS(REQ_WAY_ENUM)
#undef REQ_WAY_ENUM
    REQ_NWAYS
};

struct gw_blob_open;
struct gw_asm;
struct purge_job;

struct req_hit {
    struct gw_blobfd *blob;        /* the open blob, shared (blobfd.c) */
    struct gw_blob_open *open;      /* the blob being opened in the thread pool */
};

struct req_follow {
    struct gw_fill_reader reader;
    int following;                  /* reader is in the fill */
    int head_sent;
};

struct req_pass {
    struct gw_swift_req q;
    int counted;                    /* in the fills gauge */
    int passthrough;                /* a cold far Range (range_passthrough) */
    int large;                      /* ...that met a large object: go follow */
    int sniff_fetch;                /* the fetch is a HEAD's 16-byte Range GET */
    int forwarded;                  /* the client's Range/If-* went to Swift */
    int whole, whole_fetched;       /* If-Range did not match: fetch it whole */
    int error_status;               /* answer with this once the fetch is over */
    const char *error_reason;
    int discard;                    /* the origin body means nothing to the client */
    int pass_status;                /* Swift's 206/304/412/416, passed on */
    uint64_t length;
    int no_length;                  /* Swift sent no Content-Length */
    int chunked;                    /* ...so the client gets chunked encoding */
    char etag[80];
    char last_modified[64];
    char content_type[128];
    char content_range[96];
    char replay[GW_REPLAY_MAX];     /* Swift's headers passed on (replay.h) */
    int need_sniff;
    struct gw_sniff sniff;
    int head_sent;
    uint64_t body_sent;
};

struct req_seg {
    struct gw_asm *asm_;            /* the body from the segments */
    uint64_t total;                 /* the large object's length */
    char etag[80];
    char last_modified[64];
    char content_type[128];
    char replay[GW_REPLAY_MAX];
    int64_t stored_at;              /* the manifest entry's, 0 if fresh */
    int head_sent;
};

struct req_purge {
    struct purge_job *job;          /* in the thread pool */
};

struct gw_req {
    uint32_t magic;
    struct gw_sink *sink;
    const struct gw_services *svc;
    enum req_way way;
    char name[64];                  /* the object (a uuid) */
    int head_only;
    int warm;                       /* X-Swiftgate-Warm: fill the cache, answer 204 */
    uint8_t key[GW_CACHE_KEY_LEN];
    struct gw_cache_entry *entry;   /* the index entry, when there is one: entry_store */
    struct gw_cache_entry entry_store;  /* read from the index once per look, not allocated */
    int restarts;                   /* blob gone under us: look again, boundedly */
    struct gw_body body;            /* whole, one range or several */
    union {
        struct req_hit hit;
        struct req_follow follow;
        struct req_pass pass;
        struct req_seg seg;
        struct req_purge purge;
    } u;
};

/* req.c: the one place the way changes; aborts on a move the table forbids. */
void req_goto(struct gw_req *r, enum req_way to);
/* req.c: answer with a small text response; the request is DONE. */
void req_finish(struct gw_req *r, int status, const char *reason, const char *extra);
/* req.c: Swift has no such object: 404, which browsers may keep for
 * [cache] negative_ttl (as the gateway does). */
void req_not_found(struct gw_req *r);
/* req.c: an entry a request for an object can be answered from. */
int req_servable(int kind);
/* req.c: the entry is at most stale_if_error past its ttl. */
int req_stale_usable(const struct gw_req *r);

/* req_hit.c: answer from r->entry (how: what the cache made of it). */
void req_hit_start(struct gw_req *r, enum gw_cache_result how);
/* req_hit.c: the entry's blob is gone (evicted, replaced): ask again, boundedly. */
void req_hit_lost(struct gw_req *r);
void req_hit_drain(struct gw_req *r);
void req_hit_leave(struct gw_req *r);

/* req_follow.c: follow (or start) the fill of r->key; revalidate r->entry. */
void req_follow_start(struct gw_req *r, int revalidate);
void req_follow_drain(struct gw_req *r);
void req_follow_leave(struct gw_req *r);

/* req_pass.c: ask Swift directly (passthrough: a cold far Range). */
void req_pass_start(struct gw_req *r, int passthrough);
/* req_pass.c: take a fill's request over from inside its on_headers. */
int req_pass_take(struct gw_req *r, struct gw_swift_req *from, long status);
void req_pass_drain(struct gw_req *r);
void req_pass_leave(struct gw_req *r);

/* req_seg.c: answer from a large object's plan (the hold ref is taken over). */
/* from: the large object's Last-Modified, Content-Type, replayed headers
 * and stored_at (its length and ETag are the plan's). */
void req_seg_start(struct gw_req *r, struct gw_plan_ref *ref, const struct gw_object_meta *from,
                   enum gw_cache_result how);
void req_seg_drain(struct gw_req *r);
void req_seg_leave(struct gw_req *r);

#endif
