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

/*
 * The value v of URL option `opt` ("-g") as a base URL (gw_cli_base_url()),
 * or NULL with "<prog>: <opt>: want http://host[:port]" printed.
 */
char *gw_cli_url_option(const char *prog, const char *opt, const char *v);

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

/* The defaults: `jobs`, a timeout of 60 s, the progress interval of the output. */
void gw_cli_opts_init(struct gw_cli_opts *o, int jobs);

/*
 * argv[*i] if it is one of the options above (then *matched is set):
 * 0, or -1 with "<prog>: <option>: want ..." printed.
 */
int gw_cli_run_option(const char *prog, struct gw_cli_opts *o, int argc, char **argv, int *i,
                      int *matched);

/*
 * Start a run: *tty says whether stderr is a terminal, and the progress
 * interval not given becomes its default for it (0.25 s on a terminal,
 * else 2 s); SIGINT and SIGTERM are caught; libcurl is set up.  0, or -1
 * with "<prog>: ..." printed and nothing left set up.
 */
int gw_cli_begin(const char *prog, struct gw_cli_opts *o, int *tty);

/*
 * End a command: after a signal, a status of 2 (a file not read because of
 * it, say) becomes 128 + the signal; when begun, libcurl and the signals
 * are undone.  Returns the status.
 */
int gw_cli_end(int begun, int status);

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
