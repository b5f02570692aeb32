/*
 * batch.h - the transfers of a client command that works through a list
 * (`swiftgate warm`, `swiftgate backup`): at most `jobs` items at a time
 * over one libcurl multi handle, on reused connections, each item one or
 * more transfers in turn, a transfer retried later when the command says
 * so, stopped by SIGINT or SIGTERM (cli.h).
 */
#ifndef GW_BATCH_H
#define GW_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

/* What start() and done() return besides a delay in milliseconds (> 0). */
#define GW_BATCH_OVER (-1L)     /* the item is over: its slot is free */
#define GW_BATCH_NOW 0L         /* the easy handle is set up: send it now */

struct gw_batch_ops {
    /*
     * Set up `easy` for the first transfer of `item` in `slot` (0..jobs-1;
     * the handle is as the slot's last transfer left it: curl_easy_reset()
     * it when that matters; CURLOPT_PRIVATE is the batch's).  Returns
     * GW_BATCH_NOW, a delay before it is sent, or GW_BATCH_OVER when there
     * is nothing to send (the item is accounted for by the command).
     */
    long (*start)(void *ud, unsigned slot, size_t item, CURL *easy);
    /*
     * The slot's transfer is over with `res` (the handle is off the multi
     * handle).  Returns as start() does: the next transfer of the item, the
     * same one again after a delay, or GW_BATCH_OVER.
     */
    long (*done)(void *ud, unsigned slot, CURL *easy, CURLcode res);
    /* Every interval_ms of the run; NULL: the tally's progress line. */
    void (*tick)(void *ud);
};

struct batch_slot;
struct gw_tally;

struct gw_batch {
    /* set by the command before gw_batch_run() */
    const char *prog;           /* "warm": starts its messages */
    const struct gw_batch_ops *ops;
    void *ud;
    int jobs;                   /* 1..GW_CLI_MAX_JOBS */
    size_t nitems;
    uint64_t interval_ms;       /* tick; 0 = never */
    uint64_t t0;                /* gw_now_ms() at the start, for the ticks */
    struct gw_tally *tally;     /* its progress line at each tick; or NULL */
    /* the run's own */
    CURLM *multi;
    struct batch_slot *slots;
    size_t next;                /* the first item not started */
    size_t busy;                /* slots with an item (sending or waiting) */
    size_t cancelled;           /* items stopped by a signal */
};

/*
 * An easy handle set up as every transfer of a client command is: the
 * gateway's transfer defaults (gw_origin_easy_defaults()), the timeout,
 * "swiftgate-<prog>/<version>" as User-Agent, curl's error text into
 * errbuf (CURL_ERROR_SIZE bytes), the response's header lines and body to
 * the callbacks with ud, and url.
 */
void gw_batch_easy(CURL *e, const char *prog, uint64_t timeout_ms, char *errbuf,
                   curl_write_callback on_header, curl_write_callback on_body, void *ud,
                   const char *url);

/*
 * Work through items 0..nitems-1, `jobs` at a time.  Returns when every
 * item is over, or after a signal with the items in flight cancelled
 * (counted in b->cancelled, no callback for them).  0, or GW_ELIMIT when
 * libcurl's handles could not be made or its loop failed (message printed;
 * what was in flight is cancelled).
 */
int gw_batch_run(struct gw_batch *b);

struct gw_cli_opts;

/*
 * gw_batch_run() for a command's list: prog, ops and ud, the jobs and the
 * progress interval of o, nitems; timed from t->t0, t's progress line at
 * each tick, and t->t_end set when it returns.
 */
int gw_batch_run_list(struct gw_batch *b, const char *prog, const struct gw_batch_ops *ops,
                      void *ud, const struct gw_cli_opts *o, size_t nitems, struct gw_tally *t);

/* Free what gw_batch_run() made, whether or not it ran or finished. */
void gw_batch_free(struct gw_batch *b);

#endif
