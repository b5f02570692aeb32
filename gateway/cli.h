/*
 * cli.h - pieces the client commands (`swiftgate warm`, `backup`, `purge`)
 * share: reading an option's value, checking a base URL, the options of a
 * run over a list (-j, --timeout, --report, ...), the signals that stop a
 * run, and showing untrusted text in a message.
 */
#ifndef GW_CLI_H
#define GW_CLI_H

#include <stddef.h>
#include <stdint.h>

/*
 * The value of option argv[*i] in any of its spellings ("-j 8", "-j8",
 * "--concurrency 8", "--concurrency=8"); sopt may be NULL.  *matched says
 * whether argv[*i] is the option at all; the value is NULL when it came
 * last without one.  *i moves past a value taken from the next argument.
 */
const char *gw_cli_opt_value(int argc, char **argv, int *i, const char *sopt, const char *lopt,
                             int *matched);

/*
 * A gateway or API URL as a base to append paths to: http:// or https://,
 * a host, no whitespace, control or non-ASCII byte, no query or fragment.
 * Returns a malloc'd copy without trailing '/', or NULL when s is not one.
 */
char *gw_cli_base_url(const char *s);

/* ---- the options of a run over a list ---- */

#define GW_CLI_MAX_JOBS 256

struct gw_cli_opts {
    int jobs;                   /* -j, --concurrency */
    uint64_t timeout_ms;        /* --timeout, per request */
    int64_t interval_ms;        /* --progress-interval; -1 = the default, 0 = none */
    const char *report_path;    /* --report */
    const char *api;            /* --from-api as given, NULL when not given */
    int summary_json;           /* --summary-json */
};

/*
 * argv[*i] if it is one of the options above (then *matched is set):
 * 0, or -1 with "<prog>: <option>: want ..." printed.
 */
int gw_cli_run_option(const char *prog, struct gw_cli_opts *o, int argc, char **argv, int *i,
                      int *matched);

/* ---- the signals that stop a run ---- */

/*
 * Catch SIGINT and SIGTERM (reset on delivery: a second one kills at
 * once) and ignore SIGPIPE.  0, or -errno when the pipe cannot be made.
 */
int gw_cli_signals_install(void);
/* The default actions back, the pipe closed. */
void gw_cli_signals_remove(void);
/* The signal (SIGINT or SIGTERM) that stops the run, 0 while none came. */
int gw_cli_signal(void);
/* The read end of a pipe that gets a byte for each such signal; for a wait. */
int gw_cli_signal_fd(void);

/*
 * s[0..n) for a message, into out (cap bytes, NUL-terminated): printable
 * ASCII as is, other bytes as \xNN, a URL's user:password as "***", at
 * most about 100 characters.
 */
void gw_cli_shown(char *out, size_t cap, const char *s, size_t n);

/*
 * The first line of s[0..n) (an error body's start) for a message, into out
 * (cap bytes, NUL-terminated): bytes that are not printable ASCII as '?'.
 */
void gw_cli_first_line(char *out, size_t cap, const char *s, size_t n);

#endif
