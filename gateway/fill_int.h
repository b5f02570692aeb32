/*
 * fill_int.h - what fill.c (the table and the readers), fill_fetch.c (the
 * fetch and verify), fill_commit.c (the commit) and fill_lo.c (a large
 * object's manifest to a plan) share.  Nobody else includes it.
 *
 * Locking: `gw_fill_lock` guards the table, every fill's reader list, its
 * `info` and `written` (what readers look at).  Everything under "the
 * owner's loop only" is touched by the owning worker's thread alone.
 */
#ifndef GW_FILL_INT_H
#define GW_FILL_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "cache.h"
#include "fill.h"
#include "http.h"
#include "manifest.h"
#include "services.h"
#include "sniff.h"
#include "swift.h"
#include "util.h"

#define FILL_MAGIC 0x46494c4cu
/* The largest manifest or listing page read (Swift's max_manifest_size is
 * 8 MiB; a 10,000-name listing page is about 3 MiB). */
#define FILL_MANIFEST_MAX (16u << 20)

/* What a commit writes to the index (and which outcome it publishes). */
enum fill_commit {
    FILL_COMMIT_NONE,       /* nothing: FAILED */
    FILL_COMMIT_BLOB,       /* an object or a segment: VERIFIED */
    FILL_COMMIT_GONE,       /* a 404 where the index holds the name: its removal; NOT_FOUND */
    FILL_COMMIT_REFRESH,    /* a 304: NOT_MODIFIED */
    FILL_COMMIT_MANIFEST,   /* a large object's plan: MANIFEST */
};

/* Bodies of this many bytes or more are hashed behind the loop (fill_hash.c). */
#define FILL_HASH_BEHIND_MIN (1u << 20)

/* A fill body's MD5 (fill_hash.c says who owns what, and when). */
struct fill_hash {
    EVP_MD_CTX *ctx;
    int behind;                     /* hashed in the thread pool, from the file */
    uint64_t hashed;                /* bytes in ctx */
    uint64_t upto;                  /* the running job hashes up to here */
    int running;                    /* a job is in the pool */
    int err;                        /* reading the file back failed: -errno */
    int wait_verify;                /* the fetch is over: verify once caught up */
    uv_work_t work;
};

/* What the large-object request running now (on the fill's q) is asking Swift. */
enum fill_aux { AUX_NONE, AUX_SUB_SLO, AUX_LISTING };

/* An SLO's HEAD, sent beside its manifests (on the large object's head_q). */
enum fill_head { HEAD_NONE, HEAD_RUNNING, HEAD_OK };

/* A large object's state while its plan is put together (owner's loop only). */
struct fill_lo {
    int kind;                       /* 0, GW_PLAN_SLO or GW_PLAN_DLO */
    enum fill_aux aux;
    char *body;                     /* a manifest or listing being read */
    size_t body_len, body_cap;
    long aux_status;
    char aux_etag[80];
    size_t aux_index;               /* the sub-SLO entry being fetched */
    struct gw_plan plan;
    char manifest_etag[80];         /* an SLO manifest's own ETag: revalidation */
    /* An SLO's HEAD: its Content-Type, and an ETag the plan's must equal. */
    struct gw_swift_req head_q;
    enum fill_head head;
    long head_status;
    char head_etag[80];             /* "" when the HEAD did not say SLO */
    char head_type[128];
    char head_lm[64];
    int manifests_done;             /* the plan is whole, waiting for the HEAD */
    char dlo_container[GW_CONTAINER_MAX + 1];
    char dlo_prefix[GW_OBJECT_MAX + 1];
    char marker[GW_OBJECT_MAX + 1];
    size_t page_max;                /* longest listing page so far */
    const char *why;                /* the plan's limit that was passed */
    unsigned char *plan_buf;        /* the encoded plan, set before MANIFEST */
    size_t plan_len;
};

struct gw_fill {
    uint32_t magic;
    uint8_t key[GW_CACHE_KEY_LEN];
    char container[GW_CONTAINER_MAX + 1];
    char name[GW_OBJECT_MAX + 1];
    int segment;                    /* see gw_fill_spec */
    int no_commit;                  /* a segment over max_object_size: verified, not kept */
    int abandoned;                  /* no_commit, and its readers all left: stopped */
    char expect_md5[33];
    uint64_t expect_size;
    char request_id[GW_REQUEST_ID_MAX + 1]; /* of the request that started it */
    const struct gw_services *owner;/* the worker whose loop runs the fetch */
    struct gw_fill *hnext;          /* table bucket chain */
    struct gw_fill *onext, *oprev;  /* the owner worker's fills */
    int in_table;
    int refs;
    struct gw_fill_reader *readers;

    /* Guarded by the lock: what readers see. */
    struct gw_fill_info info;
    uint64_t written;

    /* The owner's loop only. */
    int fd;
    char tmp[512];
    uint64_t reserved;              /* of the cache's max_size, for tmp */
    struct fill_hash hash;
    char md5hex[33];                /* of the whole body, once it is over */
    int revalidate;
    char reval_etag[80];
    struct gw_swift_req q;          /* the request to Swift running now */
    long status;                    /* Swift's answer to the object request */
    int need_sniff;
    struct gw_sniff sniff;
    int owner_ref;                  /* the owner's reference is held */
    int owned;                      /* on the owner worker's list */
    uint64_t turn_bytes;            /* body bytes taken since the fill last yielded */
    struct gw_fill **plist;         /* the owner's paused list f is on, or NULL */
    struct gw_fill *pnext, *pprev;
    uv_work_t work;
    struct gw_fill *cnext;          /* the worker's commit queue */
    struct gw_cache_entry *entry;   /* for the commit */
    int commit_rc;
    enum fill_commit commit_kind;
    struct fill_lo lo;              /* a large object */
};

extern pthread_mutex_t gw_fill_lock;

/* Publish a new state to the readers (takes the lock). */
void fill_set_state(struct gw_fill *f, enum gw_fill_state st, int error_status,
                    const char *why);
/* Wake every reader of f (gw_fill_lock held). */
void fill_notify_locked(struct gw_fill *f);
/* Fail the fill: readers get status (and why), the owner lets go. */
void fill_fail(struct gw_fill *f, int status, const char *why);
/* fill_fetch.c: start f's request to Swift. */
void fill_fetch_begin(struct gw_fill *f);
/* fill_fetch.c: a gw_swift_target prepare (ud: the fill) adding the
 * request id of the request that started f. */
void fill_add_request_id(void *ud, struct gw_fetch *fe);
/* f has had its share of this turn: pause its transfer until the next
 * (returns what on_data hands curl); fill_unpause takes it off that list. */
int fill_yield(struct gw_fill *f);
void fill_unpause(struct gw_fill *f);
/* A reference on f for work outside its readers and owner; fill_drop
 * lets it go (and frees f if it was the last). */
void fill_hold(struct gw_fill *f);
void fill_drop(struct gw_fill *f);
/* The owner is done with f (fetch and commit over); f may be freed. */
void fill_owner_release(struct gw_fill *f);
/* Write what f holds to the index in the thread pool, then publish. */
void fill_commit(struct gw_fill *f, enum fill_commit kind);
/* A worker's queue of blob commits (fill_commit.c); freed by its close
 * once its last batch is done. */
struct fill_commitq *fill_commitq_new(uv_loop_t *loop);
void fill_commitq_close(struct fill_commitq *q);
/* fill.c: the commit queue of the worker fw. */
struct fill_commitq *fill_worker_commitq(struct gw_fill_worker *fw);
/* Swift said 404 for a top-level object: remember it, publish NOT_FOUND. */
void fill_not_found(struct gw_fill *f);
/* A temp blob for f holding len bytes, reserved of max_size; the fd, or
 * GW_ELIMIT (temp files would pass max_size), or -errno. */
int fill_tmp_open(struct gw_fill *f, uint64_t len);

/* fill_fetch.c: the body is whole: check its length and MD5 against
 * Swift's, then commit or fail (called again by fill_hash.c if the MD5
 * was not caught up). */
void fill_body_verify(struct gw_fill *f);

/* fill_hash.c: a new context for a body of length bytes. */
void fill_hash_begin(struct gw_fill *f, uint64_t length);
/* fill_hash.c: bytes just received; hashed here if the body is small. */
void fill_hash_inline(struct gw_fill *f, const char *buf, size_t len);
/* fill_hash.c: f->written grew: hash behind, if the body is large. */
void fill_hash_more(struct gw_fill *f);
/* fill_hash.c: the fetch is over: 1 and the digest in hex, 0 when the
 * hash is behind (fill_body_verify is called again once it is caught
 * up), or -errno when the file could not be read back. */
int fill_hash_final(struct gw_fill *f, char hex[33]);
void fill_hash_free(struct fill_hash *h);

/* fill_lo.c: Swift's answer to the object says it is a large object. */
int fill_lo_headers(struct gw_fill *f, struct gw_fetch *fe, int slo, uint64_t length,
                    uint64_t ttfb);
/* fill_lo.c: body bytes of the object's own answer (an SLO's manifest). */
int fill_lo_data(struct gw_fill *f, const char *buf, size_t len);
/* fill_lo.c: the object's own answer is in: go on to the plan. */
void fill_lo_manifest_done(struct gw_fill *f);
/* fill_lo.c: the owner lets go: stop the large object's own requests. */
void fill_lo_stop(struct gw_fill *f);
/* fill_lo.c: free what the large-object state holds. */
void fill_lo_free(struct fill_lo *lo);

#endif
