/*
 * tally.h - what a client command that works through a list prints while
 * it works and when it is done (`swiftgate warm`, `swiftgate backup`): the
 * progress line, each failure (and --report), the summary and its JSON
 * form (--summary-json).
 */
#ifndef GW_TALLY_H
#define GW_TALLY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define GW_TALLY_FAILURES_SHOWN 10  /* on stderr; all of them go to --report */

struct gw_tally {
    const char *prog;           /* "warm": starts every line */
    size_t total;               /* items listed */
    size_t done;                /* items over */
    uint64_t failed;            /* items reported by gw_tally_failure() */
    uint64_t bytes;             /* body bytes that count */
    int show_bytes;             /* MB and MB/s in the progress and summary */
    uint64_t t0, t_end;         /* gw_now_ms(); t_end 0 while running */
    int tty;                    /* stderr is a terminal */
    FILE *report;               /* --report, NULL without it */
    const char *report_path;
    unsigned failures_shown;
    int progress_shown;         /* a \r line is on the terminal */
};

/* One count of the summary: "label n" on stderr, "key": n in the JSON. */
struct gw_tally_count {
    const char *key, *label;
    uint64_t n;
};

/* Open --report `path` (NULL: none) for writing: 0, or -1 with a message printed. */
int gw_tally_open_report(struct gw_tally *t, const char *path);

/*
 * Close the report, if any; when it cannot be written, say so and turn an
 * exit status of 0 into 1.  Returns the exit status.
 */
int gw_tally_close_report(struct gw_tally *t, int status);

/*
 * A command's exit status once its run is over, the report closed
 * (gw_tally_close_report()): 1 when the run broke down (rc != 0), else
 * 128 + the signal that stopped it, else 1 when anything was bad, else 0.
 */
int gw_tally_exit_status(struct gw_tally *t, int rc, int bad);

/* The progress line: rewritten in place on a terminal, else a line each time. */
void gw_tally_progress(struct gw_tally *t);

/*
 * An item failed: "<what>: <reason>" into the report, and onto stderr
 * while fewer than GW_TALLY_FAILURES_SHOWN were shown there; counted.
 */
void gw_tally_failure(struct gw_tally *t, const char *what, const char *reason);

/* A line of text on stderr ("<prog>: " before it), the progress line taken off first. */
void gw_tally_note(struct gw_tally *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * The summary on stderr, timed from t0 to t_end: the counts, then how many
 * of how many in how long; after a signal, what was cancelled and not
 * started; where the failures are listed.  With json, one JSON object on
 * stdout too: the counts, then total, done, seconds, bytes, interrupted.
 */
void gw_tally_summary(struct gw_tally *t, const struct gw_tally_count *c, size_t n,
                      size_t cancelled, int json);

#endif
