/*
 * warm.c - `swiftgate warm`: fill the cache of a gateway, or of a fleet
 * behind a balancer, from a list of fractals.  This file has the command
 * line, the order of the steps, the summary's counts and the exit status.
 *
 * The list comes from files (or stdin), one fractal a line as a full URL,
 * a /fractal/<uuid> path or a bare uuid, and/or from the Fractals API's
 * paged listing (warm_list.c).  The whole list is read first, so that
 * progress can say how much is left; each target URL is kept once
 * (duplicates are counted, not requested).  Then at most `jobs` requests
 * are in flight on reused connections (warm_run.c), each a GET of
 * /fractal/<uuid> with "X-Swiftgate-Warm: 1", which a gateway answers 204
 * once the object is in its cache, X-Cache saying what it did; through a
 * balancer hashing on the URI it reaches the gateway that owns the object.
 * With --via-get the requests are plain GETs and the bodies are counted and
 * dropped, which warms any HTTP cache.  Progress, failures and the summary
 * are printed by tally.c, the options of a run and the signals are cli.c's
 * (`swiftgate backup` shares them); warm_int.h is what warm's files share.
 *
 * Invariants: every listed fractal ends in exactly one outcome (warmed,
 * already cached, uncacheable, not found, failed) or, after SIGINT or
 * SIGTERM, is counted as cancelled or never started; once the list is read
 * and the report open, the summary is printed, a signal or not.  What the
 * steps make is freed in one place, behind gw_warm_main()'s leave label.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cli.h"
#include "conf.h"
#include "util.h"
#include "warm.h"
#include "warm_int.h"

#define WARM_DEFAULT_GATEWAY "http://127.0.0.1:8080"
#define WARM_DEFAULT_JOBS 8

/* ---- command line ---- */

static void usage(FILE *out)
{
    fprintf(out,
        "usage: swiftgate warm [-g GATEWAY_URL] [-j N] [options] [FILE...|-]\n"
        "\n"
        "Fill the cache of a gateway, or of every gateway behind a balancer, with\n"
        "the fractals listed in FILE (stdin when FILE is - or absent) and/or by the\n"
        "Fractals API.  A line is a URL (http://host/fractal/<uuid>), a path\n"
        "(/fractal/<uuid>) or a bare uuid; blank lines and lines starting with #\n"
        "are skipped; a bad line is reported with its line number and skipped.\n"
        "Each fractal is requested once, however often it is listed.\n"
        "\n"
        "  -g, --gateway URL        the gateway, or the balancer in front of a fleet\n"
        "                           (default " WARM_DEFAULT_GATEWAY "). With -g, every\n"
        "                           fractal goes to URL, whatever host a URL line\n"
        "                           names; without -g, a URL line goes to its own\n"
        "                           host and paths and uuids to the default\n"
        "  -j, --concurrency N      requests in flight, 1 to %d (default %d)\n"
        "      --from-api URL       also warm every fractal the Fractals API at URL\n"
        "                           lists (GET URL/v1/fractal, page by page)\n"
        "      --via-get            plain GETs, bodies counted and dropped: works\n"
        "                           with any HTTP cache. Without it, each request\n"
        "                           carries X-Swiftgate-Warm: 1 and the gateway\n"
        "                           answers 204 without the body, so bytes and MB/s\n"
        "                           are shown only with --via-get\n"
        "      --timeout DURATION   per request (default 60s; 500ms, 2m, ...)\n"
        "      --progress-interval SECONDS\n"
        "                           how often progress is shown: a line rewritten in\n"
        "                           place on a terminal (default 0.25), else a line\n"
        "                           each time (default 2); 0 = no progress\n"
        "      --report FILE        write \"<uuid>: <reason>\" for every fractal not\n"
        "                           found or failed (the first %d go to stderr too)\n"
        "      --summary-json       print the summary as one JSON object on stdout:\n"
        "                           warmed, cached, uncacheable, not_found, failed,\n"
        "                           bad_lines, duplicates, total, done, seconds, bytes,\n"
        "                           interrupted\n"
        "  -h, --help               this help\n"
        "\n"
        "X-Cache of each answer says what happened: MISS or REVALIDATED (warmed),\n"
        "HIT (already cached), PASS (cannot be cached, e.g. too large: not a\n"
        "failure), STALE (Swift failed: a failure).  404 is \"not found\".\n"
        "\n"
        "Exit status: 0 when every fractal is in the cache (or uncacheable); 1 when\n"
        "a line was bad, a fractal was not found (an unknown uuid counts) or a\n"
        "request failed, or the API listing failed; 2 on bad usage or an unreadable\n"
        "FILE; 130 on Ctrl-C (SIGINT; 143 on SIGTERM): requests in flight are\n"
        "cancelled and the summary is printed.  A second Ctrl-C exits at once.\n",
        GW_CLI_MAX_JOBS, WARM_DEFAULT_JOBS, GW_TALLY_FAILURES_SHOWN);
}

/*
 * The options that take a value.  A setter gets the value, NULL when the
 * option came last without one, and returns 0, or -1 with a message printed.
 */
static int set_gateway(struct warm_opts *o, const char *v)
{
    char *b = gw_cli_url_option("warm", "-g", v);
    if (b == NULL) return -1;
    free(o->base);
    o->base = b;
    o->gateway = v;
    return 0;
}

/* argv[*i], an option with a value or else an unknown one: 0, or -1 with a message printed. */
static int value_option(struct warm_opts *o, int argc, char **argv, int *i)
{
    int matched;
    const char *v = gw_cli_opt_value(argc, argv, i, "-g", "--gateway", &matched);
    if (matched) return set_gateway(o, v);
    if (gw_cli_run_option("warm", &o->run, argc, argv, i, &matched) != 0) return -1;
    if (matched) return 0;
    fprintf(stderr, "warm: unknown option '%s' (see swiftgate warm --help)\n", argv[*i]);
    return -1;
}

/*
 * Each step of gw_warm_main returns WARM_GO_ON, or the exit status to stop
 * with (its message printed).
 */
#define WARM_GO_ON (-1)

/*
 * argv into *o.  Arguments that are not options, and all after "--", are
 * list files; with neither a file nor --from-api the list is stdin ("-").
 * WARM_GO_ON, 0 after --help, 2 on bad usage.
 */
static int parse_args(struct warm_opts *o, int argc, char **argv)
{
    int only_files = 0;
    o->files = gw_calloc((size_t)argc + 1, sizeof(*o->files));
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (only_files || a[0] != '-' || a[1] == '\0') {
            o->files[o->nfiles++] = a;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--") == 0) {
            only_files = 1;
        } else if (strcmp(a, "--via-get") == 0) {
            o->via_get = 1;
        } else if (value_option(o, argc, argv, &i) != 0) {
            return 2;
        }
    }
    if (o->base == NULL) o->base = gw_strdup(WARM_DEFAULT_GATEWAY);
    if (o->nfiles == 0 && o->run.api == NULL) o->files[o->nfiles++] = "-";
    return WARM_GO_ON;
}

/* The terminal, the signals, libcurl.  WARM_GO_ON, or 1 (then libcurl is not set up). */
static int setup(struct warm *w)
{
    w->tally.prog = "warm";
    return gw_cli_begin("warm", &w->opt.run, &w->tally.tty) == 0 ? WARM_GO_ON : 1;
}

/*
 * The whole list first, the files and then the API: progress needs the
 * total.  A signal stops the reading and goes on to the summary.
 * WARM_GO_ON, 2 for a file that cannot be read, 1 when the listing failed.
 */
static int read_lists(struct warm *w)
{
    const struct warm_opts *o = &w->opt;
    for (int i = 0; i < o->nfiles && !gw_cli_signal(); i++)
        if (gw_warm_read_file(&w->list, o, o->files[i]) != 0) return 2;
    if (o->run.api != NULL && !gw_cli_signal() &&
        gw_warm_api_list(&w->list, o, o->run.api) != 0 &&
        !gw_cli_signal())
        return 1;
    return WARM_GO_ON;
}

static int open_report(struct warm *w)
{
    return gw_tally_open_report(&w->tally, w->opt.run.report_path) == 0 ? WARM_GO_ON : 2;
}

/* The line before the run: how many, how many at a time, what and where to. */
static void announce(const struct warm *w)
{
    char target[512];
    if (w->opt.gateway != NULL)
        gw_cli_shown(target, sizeof(target), w->opt.base, strlen(w->opt.base));
    else
        snprintf(target, sizeof(target), "the hosts of the URL lines, else %s",
                 WARM_DEFAULT_GATEWAY);
    if (!gw_cli_signal())
        fprintf(stderr, "warm: %zu fractals (%llu duplicates skipped, %llu bad lines), "
                        "%d at a time, %s to %s\n",
                w->list.nitems, (unsigned long long)w->list.duplicates,
                (unsigned long long)w->list.bad_lines, w->opt.run.jobs,
                w->opt.via_get ? "plain GETs" : "warm requests", target);
    fflush(stderr);
}

/* The summary (tally.h) with warm's counts, and a word on a server that ignored warm requests. */
static void summary(struct warm *w)
{
    const uint64_t *c = w->count;
    const struct gw_tally_count counts[] = {
        {"warmed", "warmed", c[OUT_WARMED]},
        {"cached", "already cached", c[OUT_CACHED]},
        {"uncacheable", "uncacheable", c[OUT_UNCACHEABLE]},
        {"not_found", "not found", c[OUT_NOT_FOUND]},
        {"failed", "failed", c[OUT_FAILED]},
        {"bad_lines", "bad lines", w->list.bad_lines},
        {"duplicates", "duplicates", w->list.duplicates},
    };
    gw_tally_summary(&w->tally, counts, sizeof(counts) / sizeof(counts[0]), w->batch.cancelled,
                     w->opt.run.summary_json);
    if (w->bodies_seen)
        fprintf(stderr, "warm: the server sent bodies to warm requests: it does not know "
                        "X-Swiftgate-Warm (--via-get is meant for other caches)\n");
}

/*
 * Warm the list (unless a signal came first), print the summary and close
 * the report.  The exit status: 1 when the run broke down, else 128 + the
 * signal, else 1 when anything was bad, not found or failed, else 0; a
 * report that cannot be written turns 0 into 1.
 */
static int warm_all(struct warm *w)
{
    announce(w);
    w->tally.t0 = gw_now_ms();
    w->tally.total = w->list.nitems;
    w->tally.show_bytes = w->opt.via_get;
    int rc = gw_cli_signal() ? 0 : gw_warm_run(w);
    if (w->tally.t_end == 0) w->tally.t_end = gw_now_ms();
    summary(w);
    return gw_tally_exit_status(&w->tally, rc,
                                w->count[OUT_NOT_FOUND] || w->count[OUT_FAILED] ||
                                    w->list.bad_lines);
}

int gw_warm_main(int argc, char **argv)
{
    struct warm w;
    memset(&w, 0, sizeof(w));
    gw_cli_opts_init(&w.opt.run, WARM_DEFAULT_JOBS);
    int begun = 0;

    int status = parse_args(&w.opt, argc, argv);
    if (status != WARM_GO_ON) goto leave;
    if ((status = setup(&w)) != WARM_GO_ON) goto leave;
    begun = 1;
    if ((status = read_lists(&w)) != WARM_GO_ON) goto leave;
    if ((status = open_report(&w)) != WARM_GO_ON) goto leave;
    status = warm_all(&w);

leave:
    gw_warm_run_free(&w);
    if (w.tally.report) fclose(w.tally.report);
    gw_warm_list_free(&w.list);
    free(w.opt.base);
    free(w.opt.files);
    /*
     * After a signal, a file that could not be opened or read (EINTR,
     * perhaps) ends the command with the signal's status, as a run would.
     */
    return gw_cli_end(begun, status);
}
