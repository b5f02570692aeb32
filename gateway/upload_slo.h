/*
 * upload_slo.h - what the parts of a PUT stored as segments share:
 * upload_slo.c (the body into segments, and the undoing of a failure),
 * upload_slo_end.c (the manifest, and the cache's copy of it all) and
 * upload_slo_plain.c (a chunked body that fit in one segment, copied to a
 * plain object).
 */
#ifndef GW_UPLOAD_SLO_H
#define GW_UPLOAD_SLO_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <uv.h>

#include "cache.h"
#include "manifest.h"
#include "sniff.h"
#include "stats.h"
#include "swift.h"
#include "upload_int.h"
#include "writereq.h"

#define SLO_MAGIC 0x534c4f55u
#define SLOT_MAGIC 0x534c4f54u

/* One segment, from its first byte to the end of the upload. */
struct slo_seg {
    char md5[33];           /* of its bytes, once they are all in */
    char *tmp;              /* its temp blob, whole; NULL: not cached */
    int sent;               /* its last chunk went: Swift may have it */
};

/* A segment's PUT: one of segment_parallelism. */
struct slo_slot {
    uint32_t magic;
    struct gw_upload_slo *u;
    struct gw_swift_req q;
    size_t index;           /* its segment */
    int busy;               /* the PUT runs */
    long status;            /* Swift's */
    char etag[80];
    char object[GW_OBJECT_MAX + 1];
};

struct gw_upload_slo {
    struct gw_writereq w;   /* first: the sink's owner */
    uint32_t magic;
    uint64_t length, seg_size, bytes;
    /* A chunked body, until its end: length unknown, every segment
     * seg_size, nsegs the most there may be.  At its end, length and nsegs
     * become what came. */
    int open_len;
    int plain;              /* it ended in one segment: a plain object */
    size_t nsegs, next, stored;
    struct slo_seg *segs;
    char segc[GW_CONTAINER_MAX + 1];    /* <container>_segments */
    char prefix[96];                    /* <uuid>/<timestamp> */
    struct slo_slot *slots;
    size_t nslots;
    /* The segment streamed now: bytes [0, cur_in) came, [0, cur_sent) went. */
    struct slo_slot *cur;
    uint64_t cur_in, cur_sent;
    int curl_waiting;       /* its read callback paused on an empty buf */
    int cur_fd;             /* its temp blob, or -1 */
    uint64_t cur_reserved;  /* of max_size, for its temp blob */
    char cur_tmp[512];
    struct gw_upload_buf b; /* the client's bytes of that segment */
    EVP_MD_CTX *md5, *seg_md5;
    char md5hex[33];
    char want_md5[33];      /* the client's Content-MD5 or ETag as hex; "" none */
    char ctype[128];
    int need_sniff;
    struct gw_sniff sniff;
    int cache_segs;         /* segments are teed into temp blobs */
    uint64_t reserved;
    int body_whole;         /* the body came whole and matched the client's digest */
    /* The manifest (upload_slo_end.c). */
    struct gw_swift_req mq;
    int manifest_started;
    char *mbody;
    size_t mlen, moff;
    long mstatus;
    char metag[80], manifest_etag[80], last_modified[64];
    char slo_etag[33];
    /* A failure, and the DELETEs that undo it. */
    int failing, fail_status;
    const char *fail_reason;
    int manifest_bad;       /* Swift stored a manifest that must go */
    int manifest_deleted, del_failed;
    size_t del_next;
    struct gw_swift_req dq;
    long del_status;
    char del_container[GW_CONTAINER_MAX + 1];
    char del_object[GW_OBJECT_MAX + 1];
    /* The commit to the cache. */
    uv_work_t work;
    struct gw_cache_commit *cv;
    size_t cn;
    unsigned char *plan;
    size_t plan_len;
};

struct gw_upload_slo *slo_of(void *ud);
uint64_t slo_seg_len(const struct gw_upload_slo *u, size_t i);
void slo_seg_name(const struct gw_upload_slo *u, size_t i, char *out, size_t cap);
/* Stop caching the segments: every temp blob goes, the reservation too. */
void slo_cache_off(struct gw_upload_slo *u);
/*
 * The upload fails with status and reason (static): nothing more is sent,
 * what Swift may hold is deleted, then the client hears it.  Once.
 */
void slo_fail(struct gw_upload_slo *u, int status, const char *reason,
              enum gw_stats_error kind);
/* The answer (unless the client is gone), and the end of the job: u may be freed. */
void slo_end(struct gw_upload_slo *u, int status, const char *reason, const char *extra);
/*
 * Every segment is stored and the body whole: PUT the manifest (once), or
 * for a plain one slo_plain().
 */
void slo_maybe_manifest(struct gw_upload_slo *u);
/* Why a PUT of the object (manifest or copy) failed, for the client. */
struct slo_put_words {
    const char *not_taken, *not_stored, *mismatch;
};
/* The head of Swift's answer to a PUT of the object (manifest or copy). */
int slo_put_on_headers(void *ud, struct gw_fetch *f, long status);
/*
 * The PUT of the object on u->mq is over (err, u->mstatus, u->metag): 1
 * when Swift stored it under want_etag; else the upload fails (slo_fail(),
 * what Swift stored under another ETag deleted too) and 0.
 */
int slo_object_stored(struct gw_upload_slo *u, int err, const char *want_etag,
                      const struct slo_put_words *words);
/* Swift has it all: the cache entries, then 201 (upload_slo_end.c). */
void slo_commit(struct gw_upload_slo *u);
/*
 * A chunked body that fit in segment 0: Swift copies it to the object, the
 * segment is deleted, then slo_commit() (upload_slo_plain.c).
 */
void slo_plain(struct gw_upload_slo *u);

#endif
