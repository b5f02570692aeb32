/*
 * upload_int.h - what the two ways of a PUT share: upload.c (a plain
 * object of known length) and upload_slo.c (a body over [swift]
 * segment_size, or a chunked one, stored as segments: then a static large
 * object, or a plain object when a chunked body fit in one).
 */
#ifndef GW_UPLOAD_INT_H
#define GW_UPLOAD_INT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>

struct gw_fetch;
struct gw_http_req;
struct gw_services;
struct gw_sink;

/* Client bytes waiting for curl. */
#define UPLOAD_BUF (256u * 1024)
/* A body of unknown length reserves cache room in steps of this much. */
#define UPLOAD_RESERVE_STEP (8u << 20)
/* gw_upload_slo()'s length of a chunked body. */
#define UPLOAD_LEN_UNKNOWN UINT64_MAX

/* Client bytes waiting for curl: [off, off + len) of UPLOAD_BUF. */
struct gw_upload_buf {
    char *buf;
    size_t off, len;
};

/* Append n bytes; the caller gave room for them (n <= UPLOAD_BUF - len). */
static inline void gw_upload_buf_put(struct gw_upload_buf *b, const char *data, size_t n)
{
    if (b->off + b->len + n > UPLOAD_BUF) {
        memmove(b->buf, b->buf + b->off, b->len);
        b->off = 0;
    }
    memcpy(b->buf + b->off + b->len, data, n);
    b->len += n;
}

/* Take up to cap bytes into out (curl's read callback); how many. */
static inline size_t gw_upload_buf_take(struct gw_upload_buf *b, char *out, size_t cap)
{
    size_t n = cap < b->len ? cap : b->len;
    memcpy(out, b->buf + b->off, n);
    b->off += n;
    b->len -= n;
    if (b->len == 0) b->off = 0;
    return n;
}

/*
 * The body is all in: its MD5 (md5 finished) as hex into md5hex (33
 * bytes); 0 when it matches want_md5 or want_md5 is "", -1 when not.
 */
int gw_upload_digest_check(EVP_MD_CTX *md5, const char *want_md5, char *md5hex);

/* A PUT's Content-Type and the client's request id (X-Trans-Id-Extra). */
void gw_upload_put_headers(struct gw_fetch *f, const char *ctype, const struct gw_http_req *r);

/*
 * The client's digest as lower-case hex into out (33 bytes): Content-MD5
 * (base64 of the 16 bytes) or an ETag (32 hex digits, quoted or not).
 * 0, "" when it gave none, or -1 when one is malformed.
 */
int gw_upload_client_digest(const struct gw_http_req *r, char *out);

/*
 * The client's Content-Type into ctype (cap bytes); *need_sniff = 1 when it
 * gave none or octet-stream (then ctype is left alone).  0, or -1 when it
 * is too long.
 */
int gw_upload_client_type(const struct gw_http_req *r, char *ctype, size_t cap,
                          int *need_sniff);

/*
 * PUT of `name` whose body (Content-Length `length`, over segment_size, or
 * UPLOAD_LEN_UNKNOWN for a chunked one) is stored as an SLO, or a chunked
 * one that fit in one segment as a plain object (upload_slo.c); the answer
 * as for gw_upload().
 */
void gw_upload_slo(struct gw_sink *s, const struct gw_services *svc, const char *name,
                   uint64_t length);

#endif
