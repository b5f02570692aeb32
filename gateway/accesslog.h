/*
 * accesslog.h - one access log line per answered request, and the
 * "peer "METHOD URL"" that error log lines use to name their request.
 *
 * Every byte that comes from the client is escaped, so a client cannot
 * forge a log line.
 */
#ifndef GW_ACCESSLOG_H
#define GW_ACCESSLOG_H

#include <stddef.h>
#include <stdint.h>

#include "stats.h"

struct gw_http_req;

/* [server] access_log_format */
enum gw_access_format {
    GW_ACCESS_SWIFTGATE,    /* peer time "request" status bytes cache total origin */
    GW_ACCESS_COMBINED,     /* Apache's and nginx's "combined" */
    GW_ACCESS_JSON,         /* one JSON object a line */
};

/* The format a [server] access_log_format value names (checked by conf). */
enum gw_access_format gw_access_format_named(const char *name);

/* What the access log says of one answer. */
struct gw_access_rec {
    enum gw_access_format format;
    const char *trusted;            /* [server] trusted_proxies: who may name the client */
    const char *peer;
    const struct gw_http_req *req;  /* method_known == 0: logged as "-" */
    int status;
    uint64_t bytes;                 /* body bytes */
    enum gw_cache_result cache;
    uint64_t total_ms;
    uint64_t origin_ms;
};

/* Write the record's line to fd (one write(2); errors are ignored). */
void gw_access_log_write(int fd, const struct gw_access_rec *rec);

/* The line of the answer on sink s, begun at start_ms, to fd (none if fd < 0). */
struct gw_sink;
void gw_access_log_sink(int fd, enum gw_access_format format, const char *trusted,
                        const struct gw_sink *s, uint64_t start_ms);

/* The address of socket fd's peer, as log lines name it ("-" if unknown), into out. */
void gw_access_peer(int fd, char *out, size_t len);

/* 'peer "METHOD URL"', the URL escaped and cut at 100 bytes, into out. */
#define GW_ACCESS_WHAT_LEN 512
const char *gw_access_what(const char *peer, const struct gw_http_req *req, char *out,
                           size_t len);

#endif
