/*
 * respond.h - response heads and bodies for every way of answering.
 *
 * Heads: an object's head from the cache (preconditions, then ranges),
 * the headers every object answer carries (validators, Cache-Control, Age,
 * X-Cache and RFC 9211 Cache-Status), multipart/byteranges framing, the
 * 204 of a warm request and small text answers.  Bodies: from an open
 * blob (sendfile) and from a fill's file, queued until the sink is
 * congested.  Used by the request's ways and by the assembler; everything
 * goes through a struct gw_sink, so it is tested without a connection.
 */
#ifndef GW_RESPOND_H
#define GW_RESPOND_H

#include <stdatomic.h>
#include <stdint.h>

#include "cond.h"
#include "stats.h"

struct gw_blobfd;
struct gw_buf;
struct gw_conf;
struct gw_fill_reader;
struct gw_http_req;
struct gw_sink;

/* The body of an answer from the cache: whole, one range or several. */
struct gw_body {
    int nranges;                /* gw_cond_ranges(): 0 whole, n, -1 unsatisfiable */
    int multipart;              /* nranges > 1: multipart/byteranges */
    int nparts;                 /* pieces to send: the ranges, or the whole (0 if empty) */
    struct gw_range parts[GW_RANGES_MAX];
    int part_i;                 /* the part being sent */
    uint64_t part_off;          /* bytes of parts[part_i] queued */
    int part_head_sent;         /* multipart: its head is queued */
    uint64_t length;            /* the representation's length */
    char boundary[24];
    char ctype[128];            /* the representation's Content-Type */
};

/* What an object head says about the representation. */
struct gw_object_meta {
    uint64_t length;
    const char *etag;           /* unquoted, "" if none */
    const char *last_modified;  /* "" if none */
    const char *content_type;   /* "" means application/octet-stream */
    int64_t stored_at;          /* unix ms the cache has had it; 0: fresh from Swift (no Age) */
    const char *replay;         /* Swift's headers passed on (replay.h); NULL: none */
    /*
     * Optional (a cached blob's, blobfd.h): where the header lines of a
     * whole 200 that depend on the representation alone are kept once
     * built, so that later hits format only Date, Age and the end.
     */
    _Atomic(char *) *prepared;
};

/* The ranges this request asks of a representation of length bytes. */
void gw_body_plan(struct gw_body *b, const struct gw_http_req *req, int head_only,
                  uint64_t length, const char *etag, const char *last_modified);

/* The body goes out: preconditions pass and there are bytes to send. */
int gw_body_wanted(const struct gw_body *b, const struct gw_http_req *req, int head_only,
                   const char *etag, const char *last_modified);

/*
 * The head of an answer from the cache: 412, 304, 416, or 200/206 with
 * Content-Type, Content-Length and Content-Range (multipart: its own
 * type and total length).  gw_body_plan() must have run.  Returns 1 when
 * the answer is complete and ended (304, 412, 416, HEAD, an empty body), 0
 * when the body in b->parts follows.
 */
int gw_respond_object_head(struct gw_sink *s, const struct gw_conf *conf, struct gw_body *b,
                           const struct gw_object_meta *m, int head_only);

/* Headers every object answer carries, 200, 206 and 304 alike. */
void gw_respond_common_headers(struct gw_buf *b, const struct gw_conf *conf,
                               const struct gw_http_req *req, enum gw_cache_result how,
                               const char *etag, const char *lm, int64_t stored_at,
                               const char *replay);
/* RFC 9211 Cache-Status for a cache result. */
const char *gw_respond_cache_status(enum gw_cache_result how);

/* Multipart only (a no-op otherwise): the head of part b->part_i; the closing line. */
void gw_respond_part_head(struct gw_sink *s, const struct gw_body *b);
void gw_respond_multipart_tail(struct gw_sink *s, const struct gw_body *b);

/*
 * A small text answer, "<status> <reason>\n", ended.  extra is NULL or
 * header lines ending in CRLF.  An answer about an object (the sink's cache
 * result is set) says X-Cache too.
 */
void gw_respond_simple(struct gw_sink *s, int status, const char *reason, const char *extra);
/* gw_respond_simple() for an object request: with its CORS lines, so that a
 * page on another origin can read why it failed. */
void gw_respond_object_error(struct gw_sink *s, const struct gw_conf *conf, int status,
                             const char *reason, const char *extra);
/* A warm request's answer: 204, X-Cache saying what the cache made of it; ended. */
void gw_respond_warm(struct gw_sink *s, enum gw_cache_result how);

/*
 * Queue bytes [off, off + len) of an open blob, at most slice per write,
 * until all are queued or the sink is congested.  Returns the bytes queued.
 */
uint64_t gw_respond_from_blob(struct gw_sink *s, struct gw_blobfd *blob, uint64_t off,
                              uint64_t len, uint64_t slice);
/*
 * Send every part of b from an open blob, part heads and closing line
 * included, until done or congested.  1 when all is queued, 0 otherwise.
 */
int gw_respond_parts_from_blob(struct gw_sink *s, struct gw_body *b, struct gw_blobfd *blob,
                               uint64_t slice);
/*
 * Queue bytes [off, off + len) of what a fill has written (sent from its
 * file, not copied), until all are queued or the sink is congested.
 * Returns the bytes queued, or -errno (the file cannot be had: the caller
 * cuts the answer).
 */
int64_t gw_respond_from_fill(struct gw_sink *s, struct gw_fill_reader *r, uint64_t off,
                             uint64_t len);

#endif
