/*
 * warm_int.h - what the files of `swiftgate warm` share and nothing else
 * sees: the state of one command (struct warm), the outcomes, and the few
 * functions one of its files calls in another.  Only gateway/warm*.c
 * include it; the rest of the gateway knows warm.h alone.
 *
 * Who writes what: the command line (warm.c) fills struct warm_opts, and
 * warm_list.c fills struct warm_list, both before the first request; from
 * then on both are only read.  warm_run.c owns the transfers and counts
 * the outcomes (its transfers run in batch.c); the terminal (the progress
 * line, the failures shown, the summary) is tally.c's.  All of it runs on
 * one thread; a signal handler only records the signal (cli.h).
 */
#ifndef GW_WARM_INT_H
#define GW_WARM_INT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "batch.h"
#include "cli.h"
#include "tally.h"

enum warm_outcome {
    OUT_WARMED,         /* MISS or REVALIDATED: the gateway fetched it now */
    OUT_CACHED,         /* HIT: it was in the cache and fresh */
    OUT_UNCACHEABLE,    /* PASS: the gateway cannot cache it (e.g. too large) */
    OUT_NOT_FOUND,      /* 404 */
    OUT_FAILED,         /* anything else, STALE included */
    OUT_N
};

struct warm_item {
    char *url;          /* the request URL, owned */
    char uuid[37];
};

/* The options: set from the command line (and the terminal) before the lists are read. */
struct warm_opts {
    struct gw_cli_opts run;     /* -j, --from-api, --timeout, --report, ... */
    const char *gateway;        /* -g as given, NULL when not given */
    char *base;                 /* -g or the default, without a trailing '/'; owned */
    int via_get;
    const char **files;         /* the list files, "-" for stdin; the array is owned */
    int nfiles;
};

/* The list: filled from the files and the API before the run, then only read. */
struct warm_list {
    struct warm_item *items;
    size_t nitems, cap;
    size_t *set;                /* open addressing over items by URL; SIZE_MAX = empty */
    size_t set_cap;             /* a power of two */
    uint64_t bad_lines, duplicates;
};

struct warm_slot;               /* what one transfer keeps; warm_run.c's */

struct warm {
    struct warm_opts opt;
    struct warm_list list;

    /* the transfers: warm_run.c's */
    struct gw_batch batch;
    struct curl_slist *headers;
    struct warm_slot *slots;    /* opt.run.jobs of them */

    /* the tally: counted by warm_run.c, printed by warm.c */
    uint64_t count[OUT_N];
    struct gw_tally tally;      /* done, failed, bytes, times, terminal, report */
    int bodies_seen;            /* a warm request was answered with a body */
};

/* ---- warm_list.c ---- */

/*
 * Add the lines of one list file, "-" for stdin, to *l, routed by o->gateway
 * and o->base.  Bad lines are reported and counted, not fatal.  0, or -1
 * when the file cannot be opened or read, with a message printed (the
 * lines read so far stay).  A signal ends the reading early, and returns 0.
 */
int gw_warm_read_file(struct warm_list *l, const struct warm_opts *o, const char *name);

/*
 * Add every fractal of the Fractals API at api (fapi.h) to *l; a listed
 * object without a uuid counts as a bad line.  0, or -1 with a message
 * printed, or after a signal.
 */
int gw_warm_api_list(struct warm_list *l, const struct warm_opts *o, const char *api);

/* Free the items and the set; *l is empty after. */
void gw_warm_list_free(struct warm_list *l);

/* ---- warm_run.c ---- */

/*
 * Request every item of w->list, opt.run.jobs at a time (batch.h),
 * counting each outcome in w->count and w->tally (a failure also goes to
 * gw_tally_failure()), with the progress line every opt.run.interval_ms.
 * Returns when the list is done, or after a signal with the transfers in
 * flight cancelled, and then sets w->tally.t_end.  0, or GW_ELIMIT when
 * libcurl's handles could not be made or its loop failed (message
 * printed).  What it makes stays until gw_warm_run_free().
 */
int gw_warm_run(struct warm *w);

/* Free the handles gw_warm_run() made, whether or not it ran or finished. */
void gw_warm_run_free(struct warm *w);

/* ---- helpers ---- */

/* s[0..n) starts with p, in any case. */
static inline int warm_has_prefix_ci(const char *s, size_t n, const char *p)
{
    size_t pl = strlen(p);
    return n >= pl && strncasecmp(s, p, pl) == 0;
}

#endif
