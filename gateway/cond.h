/*
 * cond.h - RFC 9110 conditional requests (§13) and byte ranges (§14), as
 * pure functions of a request head and a representation's validators.
 */
#ifndef GW_COND_H
#define GW_COND_H

#include <stddef.h>
#include <stdint.h>

struct gw_http_req;

enum gw_precond {
    GW_PRECOND_PASS,   /* go on: 200 or 206 */
    GW_PRECOND_304,    /* Not Modified */
    GW_PRECOND_412,    /* Precondition Failed */
};

/*
 * Evaluate If-Match, If-Unmodified-Since, If-None-Match and
 * If-Modified-Since in the order of RFC 9110 §13.2.2, for a GET or HEAD of
 * a representation whose strong ETag is `etag` (unquoted, "" if none) and
 * whose Last-Modified is `last_modified` (an HTTP date, "" if none).
 */
enum gw_precond gw_cond_evaluate(const struct gw_http_req *r, const char *etag,
                                 const char *last_modified);

/* Seconds since the epoch of an HTTP date (all three RFC 9110 forms); -1 if none. */
int64_t gw_cond_parse_date(const char *s, size_t len);

struct gw_range {
    uint64_t first, last; /* inclusive */
};

#define GW_RANGES_MAX 16

/*
 * The ranges a GET asks for, resolved against a representation of
 * `length` bytes, sorted, with overlapping and adjacent ones merged:
 *   0    no Range, a Range to ignore (not bytes=, malformed, more than
 *        GW_RANGES_MAX ranges) or an If-Range that does not match: 200
 *   n>0  n ranges in out[0..n): 206
 *   -1   syntactically fine but none satisfiable: 416
 */
int gw_cond_ranges(const struct gw_http_req *r, uint64_t length, const char *etag,
                   const char *last_modified, struct gw_range *out);

/* The parse alone (tests, fuzzing): same results, no If-Range. */
int gw_cond_parse_ranges(const char *value, size_t len, uint64_t length, struct gw_range *out);

#endif
