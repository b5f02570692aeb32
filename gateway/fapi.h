/*
 * fapi.h - the Fractals API's listing as client commands read it
 * (`swiftgate warm --from-api`, `swiftgate backup`): GET <api>/v1/fractal,
 * page by page, every listed fractal handed to the command.
 */
#ifndef GW_FAPI_H
#define GW_FAPI_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/*
 * One listed fractal: its uuid (checked: 36 characters of a uuid), its
 * JSON object (borrowed for the call), the page and its place on it
 * (from 1).
 */
typedef void gw_fapi_each_fn(void *ud, const char *uuid, json_t *obj, long page, size_t index);

/* A bad page or object: the message, as printed after "<prog>: ". */
typedef void gw_fapi_bad_fn(void *ud, const char *msg);

struct gw_fapi_listing {
    const char *prog;           /* "warm": starts the messages */
    uint64_t timeout_ms;        /* per page */
    int keep_going;             /* after a bad page, read the next ones (when their number is known) */
    gw_fapi_each_fn *each;
    gw_fapi_bad_fn *bad;        /* or NULL; each bad page or object is printed anyway */
    void *ud;
    /* what the listing found */
    uint64_t listed;            /* fractals handed to each() */
    uint64_t bad_objects;       /* objects without a uuid */
    long pages, bad_pages;
};

/*
 * Every page of GET <api>/v1/fractal (api as the user gave it; the path
 * is added unless it ends the URL), results_per_page=100 (the API's cap),
 * until total_pages.  Each bad page (no answer, not 200, not JSON, not a
 * Flask-Restless listing) and each object without a uuid is printed on
 * stderr with the page's URL and counted.  0 when every page was read,
 * else -1 (also after a SIGINT or SIGTERM, which aborts the transfer).
 * Needs curl_global_init().
 */
int gw_fapi_list(struct gw_fapi_listing *q, const char *api);

#endif
