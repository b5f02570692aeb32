/*
 * services.h - what a request handler may use besides its connection.
 *
 * Each worker builds one struct gw_services when it starts and hands a
 * const pointer to every handler it calls; it lives as long as the worker's
 * loop.  Everything it points at is shared: conf, cache and swift by the
 * whole process, the rest by the worker's requests.  A handler never
 * reaches the worker or the server in any other way.  conf is the one
 * member that changes: a reload replaces it between two callbacks of the
 * worker's loop, and the old one is freed after that, so code reads
 * svc->conf when it needs a value and keeps no pointer into it (a string
 * of it included) past the callback it runs in.
 */
#ifndef GW_SERVICES_H
#define GW_SERVICES_H

#include <uv.h>

struct gw_cache;
struct gw_conf;
struct gw_fill_worker;
struct gw_neg;
struct gw_origin;
struct gw_swift;
struct gw_swift_client;

struct gw_services {
    const struct gw_conf *conf;
    struct gw_cache *cache;             /* NULL: caching off ([cache] dir empty) */
    struct gw_neg *neg;                 /* the remembered 404s (neg.h); NULL: none */
    struct gw_swift *swift;             /* the process's token */
    struct gw_swift_client *swift_client; /* this worker's auth requests */
    struct gw_origin *origin;           /* this worker's fetches */
    uv_loop_t *loop;                    /* this worker's loop */
    struct gw_fill_worker *fills;       /* this worker's side of fill.c (opaque) */
    int worker;                         /* 0-based worker id, for counters */
};

#endif
