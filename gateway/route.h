/*
 * route.h - which handler answers a request, as a pure function of the
 * parsed head, so that it can be tested and fuzzed without a connection.
 * gw_route() acts on the decision: it is the one call from the connection
 * (server.c) into the handlers.
 */
#ifndef GW_ROUTE_H
#define GW_ROUTE_H

#include <stddef.h>

struct gw_http_req;
struct gw_services;
struct gw_sink;

enum gw_route_kind {
    GW_ROUTE_SIMPLE,    /* a small text answer: status, reason, extra */
    GW_ROUTE_FRACTAL,   /* the object `name` of the configured container */
    GW_ROUTE_METRICS,   /* the admin listener's Prometheus text */
    GW_ROUTE_PURGE,     /* admin: drop object `name` from the cache (or expire it: soft) */
    GW_ROUTE_INSPECT,   /* admin: what the cache holds for object `name`, as JSON */
    GW_ROUTE_PREFLIGHT, /* OPTIONS /fractal/<uuid>: what a browser may ask */
    GW_ROUTE_UPLOAD,    /* PUT /fractal/<uuid> with the write token: store `name` */
    GW_ROUTE_DELETE,    /* DELETE /fractal/<uuid> with the write token */
};

struct gw_route {
    enum gw_route_kind kind;
    int status;          /* GW_ROUTE_SIMPLE */
    const char *reason;  /* static text */
    const char *extra;   /* NULL or static header lines ending in CRLF */
    int head_only;       /* HEAD: the same head, no body */
    int healthz;         /* the 200 of /healthz: gw_route() answers 503 with
                          * the reason instead while Swift's auth is not
                          * ready (gw_swift_ready) */
    int soft;            /* PURGE: X-Purge-Soft: 1, expire instead of drop */
    char name[37];       /* FRACTAL, PURGE, INSPECT: a uuid, 36 characters */
};

/* What a request meets on the listener it came in on. */
struct gw_route_ctx {
    int admin;               /* the admin listener */
    const char *admin_token; /* "" = none needed */
    const char *write_token; /* "" or NULL = PUT and DELETE refused (405) */
    int draining;            /* /healthz says 503 */
};

/*
 * Decide how to answer the whole request head r.  Reads r only; fills *out.
 * Invariant: kind == GW_ROUTE_FRACTAL, UPLOAD or DELETE only for a path
 * that is exactly "/fractal/" and a uuid (8-4-4-4-12 hex digits), UPLOAD
 * and DELETE only with the write token, GW_ROUTE_PURGE only for an admin
 * DELETE of "/cache/fractal/" and a uuid or an admin PURGE of "/fractal/"
 * and a uuid, GW_ROUTE_INSPECT only for an admin GET or HEAD of
 * "/cache/fractal/" and a uuid, and then name holds that uuid and nothing
 * else, so no percent-encoding, dot-segment or control
 * byte can reach Swift as part of an object name.
 */
void gw_route_decide(const struct gw_http_req *r, const struct gw_route_ctx *ctx,
                     struct gw_route *out);

/*
 * A whole request head is on the sink (gw_sink_request): answer it.
 * Either the answer is queued and ended before this returns, or a handler
 * attaches itself to the sink and ends it later.
 */
void gw_route(struct gw_sink *s, const struct gw_services *svc, const struct gw_route_ctx *ctx);

/* 1 if s[0..len) is a uuid: 8-4-4-4-12 hex digits, either case. */
int gw_route_is_uuid(const char *s, size_t len);

#endif
