/*
 * backup.c - `swiftgate backup`: copy every image the Fractals API lists
 * into Swift, N at a time, either directly with a configuration's
 * credentials and container (-c) or through a gateway's PUT (-g).  This
 * file has the command line, the order of the steps, the listing's items,
 * the summary's counts and the exit status; backup_run.c has the
 * transfers.
 *
 * The listing (fapi.c, shared with `warm --from-api`) is read whole first,
 * so that progress can say how much is left; a bad page is reported with
 * its URL and the pages after it are still read, so what can be stored is
 * stored.  A rerun HEADs every fractal first and skips those Swift holds
 * with the image's MD5, so after an interruption it stores only what is
 * missing.
 *
 * Invariants: every listed fractal ends stored, present or failed or,
 * after SIGINT or SIGTERM, cancelled or never started; once the listing is
 * read and the report open, the summary is printed, a signal or not.
 * Nothing printed holds a token or a key.  What the steps make is freed in
 * one place, at the end of gw_backup_main().
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "backup.h"
#include "backup_int.h"
#include "conf.h"
#include "fapi.h"
#include "swift.h"
#include "util.h"

#define BACKUP_DEFAULT_JOBS 8
#define BACKUP_TOKEN_ENV "SWIFTGATE_WRITE_TOKEN"

/* Each step returns BACKUP_GO_ON, or the exit status to stop with (its message printed). */
#define BACKUP_GO_ON (-1)

static void usage(FILE *out)
{
    fprintf(out,
        "usage: swiftgate backup --from-api URL (-g GATEWAY_URL | -c FILE) [-j N] [options]\n"
        "\n"
        "Copy every image the Fractals API at URL lists (GET URL/v1/fractal, page by\n"
        "page; each image GET URL/fractal/<uuid>) into Swift, as object <uuid>.  Each\n"
        "fractal is first looked up with a HEAD: one Swift holds with the image's MD5\n"
        "is skipped (\"present\"), so a rerun stores only what is missing.  An image\n"
        "is checked against the API's checksum (MD5 or SHA-256) when it lists one,\n"
        "and stored with its MD5, which Swift checks; the ETag Swift answers must be\n"
        "that MD5.\n"
        "\n"
        "      --from-api URL       the Fractals API (required)\n"
        "  -c, --config FILE        store directly in Swift, with FILE's [swift]\n"
        "                           credentials and container (SWIFTGATE_* overrides\n"
        "                           apply, as for serve)\n"
        "  -g, --gateway URL        store through a gateway: PUT URL/fractal/<uuid>\n"
        "                           with a bearer token (its [server] write_token)\n"
        "      --token TOKEN        that token (default: $" BACKUP_TOKEN_ENV ")\n"
        "  -j, --concurrency N      fractals in flight, 1 to %d (default %d)\n"
        "      --timeout DURATION   per request (default 60s; 500ms, 2m, ...)\n"
        "      --progress-interval SECONDS\n"
        "                           how often progress is shown: a line rewritten in\n"
        "                           place on a terminal (default 0.25), else a line\n"
        "                           each time (default 2); 0 = no progress\n"
        "      --report FILE        write \"<uuid>: <reason>\" for every fractal that\n"
        "                           failed, and a line for each bad page of the listing\n"
        "                           (the first %d go to stderr too)\n"
        "      --summary-json       print the summary as one JSON object on stdout:\n"
        "                           stored, present, failed, bad_listing, total, done,\n"
        "                           seconds, bytes, interrupted\n"
        "  -h, --help               this help\n"
        "\n"
        "A connection error, a timeout, 408, 429 or a 5xx is retried after 0.5, 1\n"
        "and 2 s; then, or on another 4xx, or when the API's bytes twice do not match\n"
        "its checksum, the fractal fails.  A bad listing page (no answer, not 200,\n"
        "not JSON) is reported with its URL; the other pages are still copied.\n"
        "\n"
        "Exit status: 0 when every listed fractal is stored and verified (or was\n"
        "present); 1 when one failed or the listing was bad; 2 on bad usage, a bad\n"
        "FILE or credentials Swift refused; 130 on Ctrl-C (SIGINT; 143 on SIGTERM):\n"
        "transfers in flight are aborted and the summary is printed.  A second\n"
        "Ctrl-C exits at once.\n",
        GW_CLI_MAX_JOBS, BACKUP_DEFAULT_JOBS, GW_TALLY_FAILURES_SHOWN);
}

/* ---- command line ---- */

/* A value that must not be empty: 0, or -1 with a message printed. */
static int set_text(const char *opt, const char *what, const char *v, const char **out)
{
    if (v == NULL || v[0] == '\0') {
        fprintf(stderr, "backup: %s: want %s\n", opt, what);
        return -1;
    }
    *out = v;
    return 0;
}

/* The options of backup's own; *matched says whether argv[*i] is one.  0 or -1. */
static int own_option(struct backup_opts *o, int argc, char **argv, int *i, int *matched)
{
    const char *v = gw_cli_opt_value(argc, argv, i, "-g", "--gateway", matched);
    if (*matched) {
        free(o->gateway);
        o->gateway = gw_cli_url_option("backup", "-g", v);
        return o->gateway ? 0 : -1;
    }
    v = gw_cli_opt_value(argc, argv, i, "-c", "--config", matched);
    if (*matched) return set_text("-c", "a configuration file", v, &o->conf_path);
    v = gw_cli_opt_value(argc, argv, i, NULL, "--token", matched);
    if (*matched) return set_text("--token", "a token", v, &o->token);
    return 0;
}

/* argv[*i]: an option, else an unknown one or an argument.  0, or -1 with a message printed. */
static int option(struct backup_opts *o, int argc, char **argv, int *i)
{
    int matched;
    if (own_option(o, argc, argv, i, &matched) != 0) return -1;
    if (matched) return 0;
    if (gw_cli_run_option("backup", &o->run, argc, argv, i, &matched) != 0) return -1;
    if (matched) return 0;
    if (argv[*i][0] == '-')
        fprintf(stderr, "backup: unknown option '%s' (see swiftgate backup --help)\n", argv[*i]);
    else
        fprintf(stderr, "backup: unexpected argument '%s' (see swiftgate backup --help)\n",
                argv[*i]);
    return -1;
}

/* What must go together: the API, one destination, a token for -g.  0 or -1. */
static int check_args(struct backup_opts *o)
{
    const char *why = NULL;
    if (o->run.api == NULL)
        why = "--from-api URL is required";
    else if ((o->gateway == NULL) == (o->conf_path == NULL))
        why = "want one of -g GATEWAY_URL and -c FILE";
    else if (o->gateway && o->token == NULL && (o->token = getenv(BACKUP_TOKEN_ENV)) == NULL)
        why = "-g needs a write token: --token TOKEN or $" BACKUP_TOKEN_ENV;
    else if (o->conf_path && o->token)
        why = "--token goes with -g (with -c, the credentials are FILE's)";
    if (why == NULL) return 0;
    fprintf(stderr, "backup: %s (see swiftgate backup --help)\n", why);
    return -1;
}

/* argv into *o.  BACKUP_GO_ON, 0 after --help, 2 on bad usage. */
static int parse_args(struct backup_opts *o, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (option(o, argc, argv, &i) != 0) return 2;
    }
    return check_args(o) == 0 ? BACKUP_GO_ON : 2;
}

/* ---- set-up ---- */

/* -c: the configuration and a token.  BACKUP_GO_ON, or 2. */
static int swift_setup(struct backup *b)
{
    char err[512];
    b->conf = gw_calloc(1, sizeof(*b->conf));
    if (gw_conf_load(b->conf, b->opt.conf_path, err, sizeof(err)) != 0) {
        fprintf(stderr, "backup: %s\n", err);
        return 2;
    }
    if (gw_swift_login(b->conf, &b->storage_url, &b->swift_token) != 0) {
        fprintf(stderr, "backup: no Swift token for user %s at %s (see above)\n",
                b->conf->user, b->conf->auth_url);
        return 2;
    }
    return BACKUP_GO_ON;
}

/* The terminal, the signals, libcurl, Swift.  BACKUP_GO_ON, or 1 or 2. */
static int setup(struct backup *b)
{
    b->tally.prog = "backup";
    b->tally.show_bytes = 1;
    gw_log_level = GW_LOG_WARNING; /* the gateway's auth code says only what went wrong */
    if (gw_cli_begin("backup", &b->opt.run, &b->tally.tty) != 0) return 1;
    b->begun = 1;
    b->api = gw_cli_base_url(b->opt.run.api);
    return b->opt.conf_path ? swift_setup(b) : BACKUP_GO_ON;
}

/* ---- the listing ---- */

/* The API's checksum of obj, lower-case, if it is 32 or 64 hex digits; else "". */
static void item_checksum(char out[65], json_t *obj)
{
    const char *c = json_string_value(json_object_get(obj, "checksum"));
    size_t n = c ? strlen(c) : 0;
    out[0] = '\0';
    if (n != 32 && n != 64) return;
    for (size_t i = 0; i < n; i++) {
        if (!isxdigit((unsigned char)c[i])) return;
        out[i] = (char)tolower((unsigned char)c[i]);
    }
    out[n] = '\0';
}

static void list_each(void *ud, const char *uuid, json_t *obj, long page, size_t index)
{
    struct backup *b = ud;
    if (b->nitems == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 1024;
        b->items = gw_realloc(b->items, b->cap * sizeof(*b->items));
    }
    struct backup_item *it = &b->items[b->nitems++];
    memcpy(it->uuid, uuid, 37);
    item_checksum(it->checksum, obj);
    it->page = page;
    it->index = index;
}

static void list_bad(void *ud, const char *msg)
{
    struct backup *b = ud;
    b->bad_listing++;
    if (b->tally.report) fprintf(b->tally.report, "%s\n", msg);
}

/* The report first (the listing's faults go there too), then every page. */
static int read_listing(struct backup *b)
{
    if (gw_tally_open_report(&b->tally, b->opt.run.report_path) != 0) return 2;
    struct gw_fapi_listing q = {.prog = "backup", .timeout_ms = b->opt.run.timeout_ms,
                                .keep_going = 1, .each = list_each, .bad = list_bad, .ud = b};
    gw_fapi_list(&q, b->opt.run.api);
    return BACKUP_GO_ON;
}

/* ---- the run ---- */

static void announce(const struct backup *b)
{
    char target[512];
    if (b->opt.gateway)
        gw_cli_shown(target, sizeof(target), b->opt.gateway, strlen(b->opt.gateway));
    else
        snprintf(target, sizeof(target), "Swift container %s", b->conf->container);
    if (!gw_cli_signal())
        fprintf(stderr, "backup: %zu fractals, %d at a time, to %s\n", b->nitems,
                b->opt.run.jobs, target);
    fflush(stderr);
}

static void summary(struct backup *b)
{
    const struct gw_tally_count counts[] = {
        {"stored", "stored", b->count[BK_STORED]},
        {"present", "present", b->count[BK_PRESENT]},
        {"failed", "failed", b->count[BK_FAILED]},
        {"bad_listing", "bad listing pages or objects", b->bad_listing},
    };
    gw_tally_summary(&b->tally, counts, sizeof(counts) / sizeof(counts[0]), b->batch.cancelled,
                     b->opt.run.summary_json);
}

/*
 * Copy the list (unless a signal came first), print the summary and close
 * the report.  The exit status: 1 when the run broke down, else 128 + the
 * signal, else 1 when a fractal failed or the listing was bad, else 0.
 */
static int backup_all(struct backup *b)
{
    announce(b);
    b->tally.t0 = gw_now_ms();
    b->tally.total = b->nitems;
    int rc = gw_cli_signal() ? 0 : gw_backup_run(b);
    if (b->tally.t_end == 0) b->tally.t_end = gw_now_ms();
    summary(b);
    return gw_tally_exit_status(&b->tally, rc, b->count[BK_FAILED] || b->bad_listing);
}

int gw_backup_main(int argc, char **argv)
{
    struct backup b;
    memset(&b, 0, sizeof(b));
    gw_cli_opts_init(&b.opt.run, BACKUP_DEFAULT_JOBS);

    /* Each step runs while the ones before said to go on. */
    int status = parse_args(&b.opt, argc, argv);
    if (status == BACKUP_GO_ON) status = setup(&b);
    if (status == BACKUP_GO_ON) status = read_listing(&b);
    if (status == BACKUP_GO_ON) status = backup_all(&b);

    gw_backup_run_free(&b);
    if (b.tally.report) fclose(b.tally.report);
    if (b.conf) gw_conf_free(b.conf);
    free(b.conf);
    free(b.storage_url);
    free(b.swift_token);
    free(b.items);
    free(b.api);
    free(b.opt.gateway);
    return gw_cli_end(b.begun, status);
}
