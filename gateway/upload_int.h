/*
 * upload_int.h - what the two ways of a PUT share: upload.c (a plain
 * object) and upload_slo.c (a body over [swift] segment_size, stored as a
 * static large object).
 */
#ifndef GW_UPLOAD_INT_H
#define GW_UPLOAD_INT_H

#include <stddef.h>
#include <stdint.h>

struct gw_http_req;
struct gw_services;
struct gw_sink;

/* Client bytes waiting for curl. */
#define UPLOAD_BUF (256u * 1024)

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
 * PUT of `name` whose body (Content-Length `length`, over segment_size) is
 * stored as an SLO (upload_slo.c); the answer as for gw_upload().
 */
void gw_upload_slo(struct gw_sink *s, const struct gw_services *svc, const char *name,
                   uint64_t length);

#endif
