/*
 * warm_int.h - what the files of `swiftgate warm` share and nothing else
 * sees: the state of one command (struct warm), the outcomes, and the few
 * functions one of its files calls in another.  Only gateway/warm*.c
 * include it; the rest of the gateway knows warm.h alone.
 *
 * Who writes what: the command line (warm.c) fills struct warm_opts, and
 * warm_list.c fills struct warm_list, both before the first request; from
 * then on both are only read.  warm_run.c owns the transfers and counts
 * the outcomes; warm_out.c owns the terminal (the progress line, the failures
 * shown) and prints the summary.  All of it runs on one thread; a signal
 * handler only records the signal (gw_warm_signal()).
 */
#ifndef GW_WARM_INT_H
#define GW_WARM_INT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#define WARM_FAILURES_SHOWN 10      /* on stderr; all of them go to --report */

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
    const char *gateway;        /* -g as given, NULL when not given */
    char *base;                 /* -g or the default, without a trailing '/'; owned */
    int jobs;
    int via_get;
    uint64_t timeout_ms;
    int64_t interval_ms;        /* progress; -1 = the default for the output, 0 = none */
    const char *report_path;
    int summary_json;
    const char *api;            /* --from-api as given, NULL when not given */
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

struct warm_slot;               /* one transfer in flight; warm_run.c's */

struct warm {
    struct warm_opts opt;
    struct warm_list list;

    /* the transfers: warm_run.c's */
    CURLM *multi;
    struct curl_slist *headers;
    struct warm_slot *slots;    /* opt.jobs of them */
    size_t next, inflight, cancelled;

    /* the tally: counted by warm_run.c, printed by warm_out.c */
    size_t done;
    uint64_t count[OUT_N];
    uint64_t bytes;             /* body bytes of the 2xx answers */
    uint64_t t0, t_end;         /* gw_now_ms() */
    int bodies_seen;            /* a warm request was answered with a body */

    /* the output: tty and report set up by warm.c, the rest warm_out.c's */
    int tty;                    /* stderr is a terminal */
    FILE *report;               /* --report, NULL without it */
    unsigned failures_shown;
    int progress_shown;         /* a \r line is on the terminal */
};

/* ---- warm.c ---- */

/* The signal (SIGINT or SIGTERM) that stops the command, 0 while none came. */
int gw_warm_signal(void);

/* The read end of a pipe that gets a byte for each such signal; for the run's wait. */
int gw_warm_signal_fd(void);

/* ---- warm_list.c ---- */

/*
 * Add the lines of one list file, "-" for stdin, to *l, routed by o->gateway
 * and o->base.  Bad lines are reported and counted, not fatal.  0, or -1
 * when the file cannot be opened or read, with a message printed (the
 * lines read so far stay).  A signal ends the reading early, and returns 0.
 */
int gw_warm_read_file(struct warm_list *l, const struct warm_opts *o, const char *name);

/*
 * Add every fractal of the Fractals API at api (GET <api>/v1/fractal, page
 * by page, o->timeout_ms each) to *l.  0, or -1 with a message printed, or
 * after a signal.
 */
int gw_warm_api_list(struct warm_list *l, const struct warm_opts *o, const char *api);

/* Free the items and the set; *l is empty after. */
void gw_warm_list_free(struct warm_list *l);

/* ---- warm_run.c ---- */

/*
 * Request every item of w->list, opt.jobs at a time, counting each outcome
 * in w->count and w->done (a failure also goes to gw_warm_failure()), with
 * the progress line every opt.interval_ms from w->t0.  Returns when the
 * list is done, or after a signal with the transfers in flight cancelled,
 * and then sets w->t_end.  0, or GW_ELIMIT when libcurl's handles could
 * not be made (t_end left alone) or its loop failed (message printed).
 * What it makes stays until gw_warm_run_free().
 */
int gw_warm_run(struct warm *w);

/* Free the handles gw_warm_run() made, whether or not it ran or finished. */
void gw_warm_run_free(struct warm *w);

/* ---- warm_out.c ---- */

/*
 * s[0..n) for a message, into out (cap bytes, NUL-terminated): printable
 * ASCII as is, other bytes as \xNN, a URL's user:password as "***", at
 * most about 100 characters.
 */
void gw_warm_shown(char *out, size_t cap, const char *s, size_t n);

/* The progress line: rewritten in place on a terminal, else a line each time. */
void gw_warm_progress(struct warm *w);

/*
 * A fractal not found or failed: "<uuid>: <reason>" into the report, and
 * onto stderr while fewer than WARM_FAILURES_SHOWN were shown there.
 */
void gw_warm_failure(struct warm *w, const char *uuid, const char *reason);

/*
 * The summary on stderr, the progress line taken off first, timed from
 * w->t0 to w->t_end; with --summary-json, one JSON object on stdout too.
 */
void gw_warm_summary(struct warm *w);

/* ---- helpers ---- */

/* s[0..n) starts with p, in any case. */
static inline int warm_has_prefix_ci(const char *s, size_t n, const char *p)
{
    size_t pl = strlen(p);
    return n >= pl && strncasecmp(s, p, pl) == 0;
}

#endif
