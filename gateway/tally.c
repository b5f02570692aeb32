/*
 * tally.c - a client command's progress line, failures and summary
 * (tally.h).
 *
 * Invariants: on a terminal the progress line is rewritten in place, and
 * taken off (progress_clear()) before any other line goes to stderr; off a
 * terminal it is a plain line each time.  The first GW_TALLY_FAILURES_SHOWN
 * failures go to stderr, then one line saying the rest are not shown; the
 * report gets all of them.  Stdout carries nothing but the JSON summary.
 */
#include "tally.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "util.h"

int gw_tally_open_report(struct gw_tally *t, const char *path)
{
    t->report_path = path;
    if (path != NULL && (t->report = fopen(path, "w")) == NULL) {
        fprintf(stderr, "%s: --report %s: %s\n", t->prog, path, strerror(errno));
        return -1;
    }
    return 0;
}

int gw_tally_close_report(struct gw_tally *t, int status)
{
    if (t->report && fclose(t->report) != 0) {
        fprintf(stderr, "%s: --report %s: %s\n", t->prog, t->report_path, strerror(errno));
        if (status == 0) status = 1;
    }
    t->report = NULL;
    return status;
}

int gw_tally_exit_status(struct gw_tally *t, int rc, int bad)
{
    int status = rc != 0 ? 1 : gw_cli_signal() ? 128 + gw_cli_signal() : bad ? 1 : 0;
    return gw_tally_close_report(t, status);
}

static double elapsed_s(const struct gw_tally *t)
{
    uint64_t end = t->t_end ? t->t_end : gw_now_ms();
    return (double)(end - t->t0) / 1000.0;
}

static void fmt_duration(char *out, size_t cap, double s)
{
    unsigned long n = (unsigned long)(s + 0.5);
    if (n >= 3600)
        snprintf(out, cap, "%lu:%02lu:%02lu", n / 3600, n / 60 % 60, n % 60);
    else
        snprintf(out, cap, "%lu:%02lu", n / 60, n % 60);
}

/* ", 1.2 MB, 0.40 MB/s" when bytes count, else "". */
static void fmt_bytes(const struct gw_tally *t, double s, char *out, size_t cap)
{
    out[0] = '\0';
    if (t->show_bytes)
        snprintf(out, cap, ", %.1f MB, %.2f MB/s", (double)t->bytes / 1e6,
                 s > 0 ? (double)t->bytes / 1e6 / s : 0.0);
}

static void progress_text(const struct gw_tally *t, char *out, size_t cap)
{
    double s = elapsed_s(t);
    double rate = s > 0 ? (double)t->done / s : 0;
    char eta[32] = "-", bytes[64];
    if (rate > 0) fmt_duration(eta, sizeof(eta), (double)(t->total - t->done) / rate);
    fmt_bytes(t, s, bytes, sizeof(bytes));
    snprintf(out, cap, "%zu/%zu (%d%%), %.1f objects/s%s, ETA %s, %llu failed", t->done,
             t->total, t->total ? (int)(100 * t->done / t->total) : 100, rate, bytes, eta,
             (unsigned long long)t->failed);
}

/* Take the live line off the terminal before printing anything else. */
static void progress_clear(struct gw_tally *t)
{
    if (t->progress_shown) {
        fputs("\r\033[K", stderr);
        t->progress_shown = 0;
    }
}

void gw_tally_progress(struct gw_tally *t)
{
    char line[256];
    progress_text(t, line, sizeof(line));
    if (t->tty) {
        fprintf(stderr, "\r%s: %s\033[K", t->prog, line);
        t->progress_shown = 1;
    } else {
        fprintf(stderr, "%s: %s\n", t->prog, line);
    }
    fflush(stderr);
}

void gw_tally_note(struct gw_tally *t, const char *fmt, ...)
{
    progress_clear(t);
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", t->prog);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void gw_tally_failure(struct gw_tally *t, const char *what, const char *reason)
{
    t->failed++;
    if (t->report) fprintf(t->report, "%s: %s\n", what, reason);
    if (t->failures_shown < GW_TALLY_FAILURES_SHOWN) {
        gw_tally_note(t, "%s: %s", what, reason);
    } else if (t->failures_shown == GW_TALLY_FAILURES_SHOWN) {
        gw_tally_note(t, "further failures not shown here%s%s",
                      t->report ? "; all are in " : " (--report FILE lists all)",
                      t->report ? t->report_path : "");
    }
    if (t->failures_shown <= GW_TALLY_FAILURES_SHOWN) t->failures_shown++;
}

static void summary_json(const struct gw_tally *t, const struct gw_tally_count *c, size_t n,
                         double s, int sig)
{
    json_t *j = json_object();
    for (size_t i = 0; i < n; i++) json_object_set_new(j, c[i].key, json_integer((json_int_t)c[i].n));
    json_object_set_new(j, "total", json_integer((json_int_t)t->total));
    json_object_set_new(j, "done", json_integer((json_int_t)t->done));
    json_object_set_new(j, "seconds", json_real(s));
    json_object_set_new(j, "bytes", json_integer((json_int_t)t->bytes));
    json_object_set_new(j, "interrupted", json_boolean(sig != 0));
    char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (text) printf("%s\n", text);
    fflush(stdout);
    free(text);
    json_decref(j);
}

void gw_tally_summary(struct gw_tally *t, const struct gw_tally_count *c, size_t n,
                      size_t cancelled, int json)
{
    double s = elapsed_s(t);
    progress_clear(t);
    char counts[512] = "", bytes[64];
    size_t o = 0;
    for (size_t i = 0; i < n && o < sizeof(counts); i++)
        o += (size_t)snprintf(counts + o, sizeof(counts) - o, "%s%s %llu", i ? ", " : "",
                              c[i].label, (unsigned long long)c[i].n);
    fmt_bytes(t, s, bytes, sizeof(bytes));
    fprintf(stderr, "%s: summary: %s\n%s: %zu of %zu objects in %.2f s, %.1f objects/s%s\n",
            t->prog, counts, t->prog, t->done, t->total, s, s > 0 ? (double)t->done / s : 0.0,
            bytes);
    int sig = gw_cli_signal();
    if (sig)
        fprintf(stderr, "%s: interrupted by %s: %zu requests cancelled, %zu not started\n",
                t->prog, strsignal(sig), cancelled, t->total - t->done - cancelled);
    if (t->report && t->failed)
        fprintf(stderr, "%s: failures listed in %s\n", t->prog, t->report_path);
    if (json) summary_json(t, c, n, s, sig);
    fflush(stderr);
}
