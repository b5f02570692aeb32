/*
 * warm_run.c - the requests of `swiftgate warm`.  One libcurl multi
 * handle, driven by curl_multi_poll() in a plain loop (this is a CLI, not
 * the gateway's event loop), keeps at most opt.jobs transfers in flight,
 * one slot with its own easy handle per job, on reused connections.  Each
 * answer's status and X-Cache become one outcome; a body is counted and
 * dropped, its start kept only to explain a failure.
 *
 * Invariants: every item started ends in exactly one outcome (record()) or,
 * after a signal or a breakdown of the loop, is counted as cancelled; the
 * items never started are the rest.  Only the loop adds and removes easy
 * handles, never a curl callback.  The wait also watches the signal pipe,
 * so a signal is never lost between the flag test and the wait.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "origin.h"
#include "util.h"
#include "warm_int.h"

#define WARM_BODY_KEEP 160          /* bytes of an error body kept for the reason */
#define SLOT_MAGIC 0x5741524du      /* "WARM" */

struct warm_slot {
    unsigned magic;     /* SLOT_MAGIC: reached through CURLOPT_PRIVATE */
    struct warm *w;
    CURL *easy;
    size_t item;        /* index into w->list.items while busy */
    int busy;
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

static int slot_init(struct warm *w, struct warm_slot *sl)
{
    sl->magic = SLOT_MAGIC;
    sl->w = w;
    sl->easy = curl_easy_init();
    if (sl->easy == NULL) return GW_ELIMIT;
    CURL *e = sl->easy;
    curl_easy_setopt(e, CURLOPT_PRIVATE, sl);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, sl->errbuf);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, sl);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, sl);
    gw_origin_easy_defaults(e);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)w->opt.timeout_ms);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "swiftgate-warm/" GW_VERSION);
    if (w->headers) curl_easy_setopt(e, CURLOPT_HTTPHEADER, w->headers);
    return 0;
}

static int slot_start(struct warm *w, struct warm_slot *sl, size_t item)
{
    sl->item = item;
    sl->bytes = 0;
    sl->xcache[0] = '\0';
    sl->body_len = 0;
    sl->errbuf[0] = '\0';
    curl_easy_setopt(sl->easy, CURLOPT_URL, w->list.items[item].url);
    if (curl_multi_add_handle(w->multi, sl->easy) != CURLM_OK) return GW_ELIMIT;
    sl->busy = 1;
    w->inflight++;
    return 0;
}

/* The one outcome of an item; one not found or failed is shown and reported. */
static void record(struct warm *w, const struct warm_item *it, enum warm_outcome o,
                   const char *reason)
{
    w->count[o]++;
    w->done++;
    if (o == OUT_NOT_FOUND || o == OUT_FAILED) gw_warm_failure(w, it->uuid, reason);
}

/* The start of an error body as one printable line. */
static void body_reason(const struct warm_slot *sl, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < sl->body_len && o + 1 < cap; i++) {
        unsigned char ch = (unsigned char)sl->body[i];
        if (ch == '\r' || ch == '\n') break;
        out[o++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    out[o] = '\0';
}

/* A finished transfer's outcome, from curl's result, the status and X-Cache. */
static void slot_done(struct warm *w, struct warm_slot *sl, CURLcode res)
{
    const struct warm_item *it = &w->list.items[sl->item];
    long status = 0;
    curl_easy_getinfo(sl->easy, CURLINFO_RESPONSE_CODE, &status);
    char reason[CURL_ERROR_SIZE + 64] = "";
    enum warm_outcome o;
    if (res != CURLE_OK) {
        o = OUT_FAILED;
        if (res == CURLE_OPERATION_TIMEDOUT)
            snprintf(reason, sizeof(reason), "timed out after %.3g s",
                     (double)w->opt.timeout_ms / 1000.0);
        else
            snprintf(reason, sizeof(reason), "%s",
                     sl->errbuf[0] ? sl->errbuf : curl_easy_strerror(res));
    } else if (status >= 200 && status < 300) {
        /* Object bytes only: an error body (a 404's text) does not count. */
        w->bytes += sl->bytes;
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
        body_reason(sl, body, sizeof(body));
        snprintf(reason, sizeof(reason), "HTTP %ld%s%s", status, body[0] ? ": " : "", body);
    }
    record(w, it, o, reason);
}

/* Take every finished transfer off the multi handle; returns how many. */
static size_t drain(struct warm *w)
{
    size_t n = 0;
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(w->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE) continue;
        char *priv = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
        struct warm_slot *sl = (struct warm_slot *)(void *)priv;
        GW_CHECK_MAGIC(sl, SLOT_MAGIC);
        gw_assert(sl->busy);
        CURLcode res = m->data.result; /* m is invalid after the remove */
        curl_multi_remove_handle(w->multi, sl->easy);
        sl->busy = 0;
        w->inflight--;
        slot_done(w, sl, res);
        n++;
    }
    return n;
}

/* After a signal or a failure of the loop: take what is in flight off, as cancelled. */
static void cancel_all(struct warm *w)
{
    for (int i = 0; i < w->opt.jobs; i++) {
        struct warm_slot *sl = &w->slots[i];
        if (!sl->busy) continue;
        curl_multi_remove_handle(w->multi, sl->easy);
        sl->busy = 0;
        w->inflight--;
        w->cancelled++;
    }
}

int gw_warm_run(struct warm *w)
{
    int rc = 0;
    w->multi = curl_multi_init();
    if (w->multi == NULL) return GW_ELIMIT;
    /* Keep one idle connection per slot, so each transfer reuses one. */
    curl_multi_setopt(w->multi, CURLMOPT_MAXCONNECTS, (long)w->opt.jobs);
    if (!w->opt.via_get) w->headers = curl_slist_append(NULL, "X-Swiftgate-Warm: 1");
    w->slots = gw_calloc((size_t)w->opt.jobs, sizeof(*w->slots));
    for (int i = 0; i < w->opt.jobs; i++)
        if ((rc = slot_init(w, &w->slots[i])) != 0) return rc;

    uint64_t interval = (uint64_t)w->opt.interval_ms;
    uint64_t next_tick = w->t0 + interval;
    struct curl_waitfd wfd = {.fd = gw_warm_signal_fd(), .events = CURL_WAIT_POLLIN};
    for (;;) {
        for (int i = 0; i < w->opt.jobs && w->next < w->list.nitems && !gw_warm_signal(); i++) {
            if (w->slots[i].busy) continue;
            if ((rc = slot_start(w, &w->slots[i], w->next)) != 0) goto leave;
            w->next++;
        }
        if (gw_warm_signal() || (w->inflight == 0 && w->next == w->list.nitems)) break;
        int running;
        CURLMcode mc = curl_multi_perform(w->multi, &running);
        if (mc != CURLM_OK) {
            fprintf(stderr, "warm: curl_multi_perform: %s\n", curl_multi_strerror(mc));
            rc = GW_ELIMIT;
            goto leave;
        }
        size_t finished = drain(w);
        uint64_t now = gw_now_ms();
        if (interval > 0 && now >= next_tick) {
            gw_warm_progress(w);
            next_tick = now + interval;
        }
        if (finished > 0) continue; /* start the next ones before waiting */
        long wait = 1000;
        if (interval > 0 && next_tick - now < (uint64_t)wait) wait = (long)(next_tick - now);
        mc = curl_multi_poll(w->multi, &wfd, 1, (int)wait, NULL);
        if (mc != CURLM_OK) {
            fprintf(stderr, "warm: curl_multi_poll: %s\n", curl_multi_strerror(mc));
            rc = GW_ELIMIT;
            goto leave;
        }
    }
leave:
    if (gw_warm_signal() || rc != 0) cancel_all(w);
    w->t_end = gw_now_ms();
    return rc;
}

void gw_warm_run_free(struct warm *w)
{
    if (w->slots) {
        for (int i = 0; i < w->opt.jobs; i++) {
            struct warm_slot *sl = &w->slots[i];
            if (sl->easy == NULL) continue;
            if (sl->busy) curl_multi_remove_handle(w->multi, sl->easy);
            curl_easy_cleanup(sl->easy);
            sl->magic = 0;
        }
        free(w->slots);
        w->slots = NULL;
    }
    if (w->multi) curl_multi_cleanup(w->multi);
    w->multi = NULL;
    curl_slist_free_all(w->headers);
    w->headers = NULL;
}
