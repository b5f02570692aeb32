/*
 * warm_out.c - what `swiftgate warm` prints while it works and when it is
 * done: the progress line, each fractal not found or failed, the summary
 * and its JSON form.
 *
 * Invariants: on a terminal the progress line is rewritten in place, and
 * taken off (progress_clear()) before any other line goes to stderr; off a
 * terminal it is a plain line each time.  The first WARM_FAILURES_SHOWN
 * failures go to stderr, then one line saying the rest are not shown; the
 * report gets all of them.  Stdout carries nothing but the JSON summary.
 * Nothing printed holds a URL's user:password (gw_warm_shown()).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "util.h"
#include "warm_int.h"

/* ---- text ---- */

void gw_warm_shown(char *out, size_t cap, const char *s, size_t n)
{
    size_t o = 0, hide_from = SIZE_MAX, hide_to = 0;
    const char *sep = memmem(s, n, "://", 3);
    if (sep != NULL) {
        size_t a = (size_t)(sep - s) + 3, e = a;
        while (e < n && s[e] != '/' && s[e] != '?' && s[e] != '#') e++;
        const char *at = memrchr(s + a, '@', e - a);
        if (at != NULL) {
            hide_from = a;
            hide_to = (size_t)(at - s);
        }
    }
    for (size_t i = 0; i < n && o + 8 < cap; i++) {
        if (i == hide_from) {
            o += (size_t)snprintf(out + o, cap - o, "***");
            i = hide_to - 1;
            continue;
        }
        if (o >= 100) {
            o += (size_t)snprintf(out + o, cap - o, "...");
            break;
        }
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch < 0x7f)
            out[o++] = (char)ch;
        else
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", ch);
    }
    out[o < cap ? o : cap - 1] = '\0';
}

/* ---- the progress line ---- */

static double elapsed_s(const struct warm *w)
{
    uint64_t end = w->t_end ? w->t_end : gw_now_ms();
    return (double)(end - w->t0) / 1000.0;
}

static void fmt_duration(char *out, size_t cap, double s)
{
    unsigned long t = (unsigned long)(s + 0.5);
    if (t >= 3600)
        snprintf(out, cap, "%lu:%02lu:%02lu", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(out, cap, "%lu:%02lu", t / 60, t % 60);
}

static void progress_text(const struct warm *w, char *out, size_t cap)
{
    double s = elapsed_s(w);
    double rate = s > 0 ? (double)w->done / s : 0;
    char eta[32] = "-";
    if (rate > 0) fmt_duration(eta, sizeof(eta), (double)(w->list.nitems - w->done) / rate);
    int o = snprintf(out, cap, "%zu/%zu (%d%%), %.1f objects/s", w->done, w->list.nitems,
                     w->list.nitems ? (int)(100 * w->done / w->list.nitems) : 100, rate);
    if (w->opt.via_get && o > 0 && (size_t)o < cap)
        o += snprintf(out + o, cap - (size_t)o, ", %.1f MB, %.2f MB/s", (double)w->bytes / 1e6,
                      s > 0 ? (double)w->bytes / 1e6 / s : 0.0);
    if (o > 0 && (size_t)o < cap)
        snprintf(out + o, cap - (size_t)o, ", ETA %s, %llu failed", eta,
                 (unsigned long long)(w->count[OUT_NOT_FOUND] + w->count[OUT_FAILED]));
}

/* Take the live line off the terminal before printing anything else. */
static void progress_clear(struct warm *w)
{
    if (w->progress_shown) {
        fputs("\r\033[K", stderr);
        w->progress_shown = 0;
    }
}

void gw_warm_progress(struct warm *w)
{
    char line[256];
    progress_text(w, line, sizeof(line));
    if (w->tty) {
        fprintf(stderr, "\rwarm: %s\033[K", line);
        w->progress_shown = 1;
    } else {
        fprintf(stderr, "warm: %s\n", line);
    }
    fflush(stderr);
}

/* ---- failures ---- */

void gw_warm_failure(struct warm *w, const char *uuid, const char *reason)
{
    if (w->report) fprintf(w->report, "%s: %s\n", uuid, reason);
    if (w->failures_shown < WARM_FAILURES_SHOWN) {
        progress_clear(w);
        fprintf(stderr, "warm: %s: %s\n", uuid, reason);
    } else if (w->failures_shown == WARM_FAILURES_SHOWN) {
        progress_clear(w);
        fprintf(stderr, "warm: further failures not shown here%s%s\n",
                w->report ? "; all are in " : " (--report FILE lists all)",
                w->report ? w->opt.report_path : "");
    }
    if (w->failures_shown <= WARM_FAILURES_SHOWN) w->failures_shown++;
}

/* ---- summary ---- */

void gw_warm_summary(struct warm *w)
{
    double s = elapsed_s(w);
    progress_clear(w);
    uint64_t *c = w->count;
    char extra[160] = "";
    if (w->opt.via_get)
        snprintf(extra, sizeof(extra), ", %.1f MB, %.2f MB/s", (double)w->bytes / 1e6,
                 s > 0 ? (double)w->bytes / 1e6 / s : 0.0);
    fprintf(stderr,
            "warm: summary: warmed %llu, already cached %llu, uncacheable %llu, "
            "not found %llu, failed %llu, bad lines %llu, duplicates %llu\n"
            "warm: %zu of %zu objects in %.2f s, %.1f objects/s%s\n",
            (unsigned long long)c[OUT_WARMED], (unsigned long long)c[OUT_CACHED],
            (unsigned long long)c[OUT_UNCACHEABLE], (unsigned long long)c[OUT_NOT_FOUND],
            (unsigned long long)c[OUT_FAILED], (unsigned long long)w->list.bad_lines,
            (unsigned long long)w->list.duplicates, w->done, w->list.nitems, s,
            s > 0 ? (double)w->done / s : 0.0, extra);
    int sig = gw_warm_signal();
    if (sig)
        fprintf(stderr, "warm: interrupted by %s: %zu requests cancelled, %zu not started\n",
                strsignal(sig), w->cancelled, w->list.nitems - w->done - w->cancelled);
    if (w->bodies_seen)
        fprintf(stderr, "warm: the server sent bodies to warm requests: it does not know "
                        "X-Swiftgate-Warm (--via-get is meant for other caches)\n");
    if (w->report && (c[OUT_NOT_FOUND] || c[OUT_FAILED]))
        fprintf(stderr, "warm: failures listed in %s\n", w->opt.report_path);
    if (w->opt.summary_json) {
        json_t *j = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:I, s:b}",
                              "warmed", (json_int_t)c[OUT_WARMED],
                              "cached", (json_int_t)c[OUT_CACHED],
                              "uncacheable", (json_int_t)c[OUT_UNCACHEABLE],
                              "not_found", (json_int_t)c[OUT_NOT_FOUND],
                              "failed", (json_int_t)c[OUT_FAILED],
                              "bad_lines", (json_int_t)w->list.bad_lines,
                              "duplicates", (json_int_t)w->list.duplicates,
                              "total", (json_int_t)w->list.nitems,
                              "done", (json_int_t)w->done,
                              "seconds", s,
                              "bytes", (json_int_t)w->bytes,
                              "interrupted", sig != 0);
        char *text = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        if (text) printf("%s\n", text);
        fflush(stdout);
        free(text);
        json_decref(j);
    }
    fflush(stderr);
}
