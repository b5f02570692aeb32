/*
 * warm_run.c - the requests of `swiftgate warm`: one transfer per item,
 * run opt.run.jobs at a time by batch.c on reused connections.  Each
 * answer's status and X-Cache become one outcome; a body is counted and
 * dropped, its start kept only to explain a failure.
 *
 * Invariants: every item started ends in exactly one outcome (record()) or,
 * after a signal or a breakdown of the loop, is counted as cancelled by
 * the batch; the items never started are the rest.  A slot's state here
 * (struct warm_slot) is set up by item_start() before its transfer is sent
 * and read by item_done() once it is over.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "util.h"
#include "warm_int.h"

#define WARM_BODY_KEEP 160          /* bytes of an error body kept for the reason */
#define SLOT_MAGIC 0x5741524du      /* "WARM" */

struct warm_slot {
    unsigned magic;     /* SLOT_MAGIC: reached through the header and body callbacks */
    size_t item;        /* index into w->list.items while busy */
    uint64_t bytes;     /* body bytes of this transfer, counted if it succeeds */
    char xcache[16];    /* the first word of X-Cache, "" if none */
    char body[WARM_BODY_KEEP + 1];
    size_t body_len;
    char errbuf[CURL_ERROR_SIZE];
};

/* Keep the first word of X-Cache; each response (after a 1xx) starts over. */
static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct warm_slot *sl = ud;
    GW_CHECK_MAGIC(sl, SLOT_MAGIC);
    size_t len = size * n;
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        sl->xcache[0] = '\0'; /* a new response (after a 1xx) */
    } else if (warm_has_prefix_ci(p, len, "x-cache:")) {
        size_t i = 8, k = 0;
        while (i < len && (p[i] == ' ' || p[i] == '\t')) i++;
        while (i < len && k + 1 < sizeof(sl->xcache) && !isspace((unsigned char)p[i]))
            sl->xcache[k++] = p[i++];
        sl->xcache[k] = '\0';
    }
    return len;
}

/* The body is dropped; its length counts, and its start is kept for a reason. */
static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct warm_slot *sl = ud;
    GW_CHECK_MAGIC(sl, SLOT_MAGIC);
    size_t len = size * n;
    sl->bytes += len;
    if (sl->body_len < WARM_BODY_KEEP) {
        size_t k = WARM_BODY_KEEP - sl->body_len < len ? WARM_BODY_KEEP - sl->body_len : len;
        memcpy(sl->body + sl->body_len, p, k);
        sl->body_len += k;
    }
    return len;
}

/* The item's one request: a GET of its URL on the slot's handle. */
static long item_start(void *ud, unsigned slot, size_t item, CURL *e)
{
    struct warm *w = ud;
    struct warm_slot *sl = &w->slots[slot];
    sl->magic = SLOT_MAGIC;
    sl->item = item;
    sl->bytes = 0;
    sl->xcache[0] = '\0';
    sl->body_len = 0;
    sl->errbuf[0] = '\0';
    gw_batch_easy(e, "warm", w->opt.run.timeout_ms, sl->errbuf, on_header, on_body, sl,
                  w->list.items[item].url);
    if (w->headers) curl_easy_setopt(e, CURLOPT_HTTPHEADER, w->headers);
    return GW_BATCH_NOW;
}

/* The one outcome of an item; one not found or failed is shown and reported. */
static void record(struct warm *w, const struct warm_item *it, enum warm_outcome o,
                   const char *reason)
{
    w->count[o]++;
    w->tally.done++;
    if (o == OUT_NOT_FOUND || o == OUT_FAILED) gw_tally_failure(&w->tally, it->uuid, reason);
}

/* A finished transfer's outcome, from curl's result, the status and X-Cache. */
static long item_done(void *ud, unsigned slot, CURL *e, CURLcode res)
{
    struct warm *w = ud;
    struct warm_slot *sl = &w->slots[slot];
    GW_CHECK_MAGIC(sl, SLOT_MAGIC);
    const struct warm_item *it = &w->list.items[sl->item];
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    char reason[CURL_ERROR_SIZE + 64] = "";
    enum warm_outcome o;
    if (res != CURLE_OK) {
        o = OUT_FAILED;
        if (res == CURLE_OPERATION_TIMEDOUT)
            snprintf(reason, sizeof(reason), "timed out after %.3g s",
                     (double)w->opt.run.timeout_ms / 1000.0);
        else
            snprintf(reason, sizeof(reason), "%s",
                     sl->errbuf[0] ? sl->errbuf : curl_easy_strerror(res));
    } else if (status >= 200 && status < 300) {
        /* Object bytes only: an error body (a 404's text) does not count. */
        w->tally.bytes += sl->bytes;
        if (!w->opt.via_get && status != 204) w->bodies_seen = 1;
        if (strcasecmp(sl->xcache, "HIT") == 0) {
            o = OUT_CACHED;
        } else if (strcasecmp(sl->xcache, "PASS") == 0) {
            o = OUT_UNCACHEABLE;
        } else if (strcasecmp(sl->xcache, "STALE") == 0) {
            o = OUT_FAILED;
            snprintf(reason, sizeof(reason),
                     "X-Cache: STALE: Swift failed; the gateway still has an expired copy");
        } else {
            o = OUT_WARMED; /* MISS, REVALIDATED, or a cache that does not say */
        }
    } else if (status == 404) {
        o = OUT_NOT_FOUND;
        snprintf(reason, sizeof(reason), "not found (HTTP 404)");
    } else {
        o = OUT_FAILED;
        char body[WARM_BODY_KEEP + 1];
        gw_cli_first_line(body, sizeof(body), sl->body, sl->body_len);
        snprintf(reason, sizeof(reason), "HTTP %ld%s%s", status, body[0] ? ": " : "", body);
    }
    record(w, it, o, reason);
    return GW_BATCH_OVER;
}

static const struct gw_batch_ops warm_ops = {
    .start = item_start,
    .done = item_done,
};

int gw_warm_run(struct warm *w)
{
    if (!w->opt.via_get) w->headers = curl_slist_append(NULL, "X-Swiftgate-Warm: 1");
    w->slots = gw_calloc((size_t)w->opt.run.jobs, sizeof(*w->slots));
    return gw_batch_run_list(&w->batch, "warm", &warm_ops, w, &w->opt.run, w->list.nitems,
                             &w->tally);
}

void gw_warm_run_free(struct warm *w)
{
    gw_batch_free(&w->batch);
    free(w->slots);
    w->slots = NULL;
    curl_slist_free_all(w->headers);
    w->headers = NULL;
}
