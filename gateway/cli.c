/*
 * cli.c - what the client commands share on their command lines (cli.h):
 * option values, base URLs, the options of a run over a list, the signals
 * that stop it, and untrusted text made fit for a message.
 *
 * Invariants: the option functions read their arguments and nothing else.
 * The signal handler only stores the signal in a lock-free atomic and
 * writes a byte to a pipe that a run's wait watches, so a signal is never
 * lost between the flag test and the wait.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>

#include "conf.h"
#include "util.h"

const char *gw_cli_opt_value(int argc, char **argv, int *i, const char *sopt, const char *lopt,
                             int *matched)
{
    const char *a = argv[*i];
    size_t ll = strlen(lopt);
    *matched = 0;
    if (strcmp(a, lopt) == 0 || (sopt && strcmp(a, sopt) == 0)) {
        *matched = 1;
        if (*i + 1 >= argc) return NULL;
        return argv[++*i];
    }
    if (strncmp(a, lopt, ll) == 0 && a[ll] == '=') {
        *matched = 1;
        return a + ll + 1;
    }
    if (sopt && strncmp(a, sopt, 2) == 0 && a[2] != '\0' && a[1] != '-') {
        *matched = 1;
        return a + 2;
    }
    return NULL;
}

char *gw_cli_base_url(const char *s)
{
    size_t n = strlen(s), p;
    if (n >= 7 && strncasecmp(s, "http://", 7) == 0)
        p = 7;
    else if (n >= 8 && strncasecmp(s, "https://", 8) == 0)
        p = 8;
    else
        return NULL;
    if (p == n || s[p] == '/') return NULL;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f || s[i] == '?' ||
            s[i] == '#')
            return NULL;
    char *b = gw_strdup(s);
    while (n > p && b[n - 1] == '/') b[--n] = '\0';
    return b;
}

char *gw_cli_url_option(const char *prog, const char *opt, const char *v)
{
    char *b = v ? gw_cli_base_url(v) : NULL;
    if (b == NULL)
        fprintf(stderr, "%s: %s: want http://host[:port] (got %s)\n", prog, opt,
                v ? "something else" : "nothing");
    return b;
}

/* ---- the options of a run over a list ---- */

void gw_cli_opts_init(struct gw_cli_opts *o, int jobs)
{
    memset(o, 0, sizeof(*o));
    o->jobs = jobs;
    o->timeout_ms = 60000;
    o->interval_ms = -1;
}

/* "0.2", "2", "250ms", "2s" -> milliseconds; 0 or -1. */
static int parse_interval(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end != s && *end == '\0' && errno == 0 && v >= 0 && v <= 86400) {
        *out = (int64_t)(v * 1000 + 0.5);
        return 0;
    }
    uint64_t ms;
    if (gw_parse_duration_ms(s, &ms) != 0 || ms > 86400000) return -1;
    *out = (int64_t)ms;
    return 0;
}

/* A setter gets the value, NULL when the option came last without one: 0 or -1. */
static int set_jobs(struct gw_cli_opts *o, const char *v)
{
    uint64_t j;
    if (v == NULL || gw_parse_u64(v, &j) != 0 || j < 1 || j > GW_CLI_MAX_JOBS) return -1;
    o->jobs = (int)j;
    return 0;
}

static int set_api(struct gw_cli_opts *o, const char *v)
{
    char *b = v ? gw_cli_base_url(v) : NULL;
    if (b == NULL) return -1;
    free(b); /* only checked: the listing makes its own URL of v */
    o->api = v;
    return 0;
}

static int set_timeout(struct gw_cli_opts *o, const char *v)
{
    return v == NULL || gw_parse_duration_ms(v, &o->timeout_ms) != 0 || o->timeout_ms == 0 ||
                   o->timeout_ms > 86400000
               ? -1
               : 0;
}

static int set_interval(struct gw_cli_opts *o, const char *v)
{
    return v == NULL || parse_interval(v, &o->interval_ms) != 0 ? -1 : 0;
}

static int set_report(struct gw_cli_opts *o, const char *v)
{
    if (v == NULL || v[0] == '\0') return -1;
    o->report_path = v;
    return 0;
}

static const struct run_opt {
    const char *sopt, *lopt, *want;
    int (*set)(struct gw_cli_opts *o, const char *v);
} run_opts[] = {
    {"-j", "--concurrency", "a number from 1 to 256", set_jobs},
    {NULL, "--from-api", "http://host[:port]", set_api},
    {NULL, "--timeout", "a duration such as 60s or 500ms", set_timeout},
    {NULL, "--progress-interval", "seconds such as 2 or 0.5", set_interval},
    {NULL, "--report", "a file name", set_report},
};

int gw_cli_run_option(const char *prog, struct gw_cli_opts *o, int argc, char **argv, int *i,
                      int *matched)
{
    if (strcmp(argv[*i], "--summary-json") == 0) {
        *matched = 1;
        o->summary_json = 1;
        return 0;
    }
    for (size_t k = 0; k < sizeof(run_opts) / sizeof(run_opts[0]); k++) {
        const struct run_opt *r = &run_opts[k];
        const char *v = gw_cli_opt_value(argc, argv, i, r->sopt, r->lopt, matched);
        if (!*matched) continue;
        if (r->set(o, v) == 0) return 0;
        char shown[128] = "nothing";
        if (v) gw_cli_shown(shown, sizeof(shown), v, strlen(v));
        fprintf(stderr, "%s: %s: want %s (got %s)\n", prog, r->sopt ? r->sopt : r->lopt, r->want,
                shown);
        return -1;
    }
    return 0;
}

int gw_cli_begin(const char *prog, struct gw_cli_opts *o, int *tty)
{
    *tty = isatty(STDERR_FILENO);
    if (o->interval_ms < 0) o->interval_ms = *tty ? 250 : 2000;
    if (gw_cli_signals_install() != 0) {
        fprintf(stderr, "%s: pipe: %s\n", prog, strerror(errno));
        return -1;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "%s: curl_global_init failed\n", prog);
        gw_cli_signals_remove();
        return -1;
    }
    return 0;
}

int gw_cli_end(int begun, int status)
{
    int sig = gw_cli_signal();
    if (sig != 0 && status == 2) status = 128 + sig;
    if (begun) {
        curl_global_cleanup();
        gw_cli_signals_remove();
    }
    return status;
}

/* ---- signals ---- */

/*
 * What the handler touches is lock-free atomic, the only kind of object
 * with static storage a C11 signal handler may read as well as write:
 * cli_signal, the number of the last SIGINT or SIGTERM caught (0 before
 * any, never reset), and sigpipe_w, the pipe's write end (-1 while there
 * is no pipe).  The main thread keeps both ends in cli_sigpipe.
 */
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "a signal handler needs a lock-free atomic_int");
static atomic_int cli_signal;
static atomic_int sigpipe_w = -1;
static int cli_sigpipe[2] = {-1, -1};

int gw_cli_signal(void)
{
    return atomic_load(&cli_signal);
}

int gw_cli_signal_fd(void)
{
    return cli_sigpipe[0];
}

static void on_signal(int signum)
{
    int saved = errno;
    atomic_store(&cli_signal, signum);
    int fd = atomic_load(&sigpipe_w);
    if (fd >= 0) {
        ssize_t rc = write(fd, "", 1);
        (void)rc; /* a full pipe already wakes the loop */
    }
    errno = saved;
}

/*
 * The handler is reset on delivery, so a second Ctrl-C kills at once if
 * the clean stop were ever stuck.  No SA_RESTART: a read from stdin
 * returns EINTR and the reading stops.
 */
int gw_cli_signals_install(void)
{
    if (pipe2(cli_sigpipe, O_CLOEXEC | O_NONBLOCK) != 0) return -errno;
    atomic_store(&sigpipe_w, cli_sigpipe[1]);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

void gw_cli_signals_remove(void)
{
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    atomic_store(&sigpipe_w, -1); /* no handler runs now: closing is safe */
    for (int i = 0; i < 2; i++) {
        if (cli_sigpipe[i] >= 0) close(cli_sigpipe[i]);
        cli_sigpipe[i] = -1;
    }
}

/* ---- text ---- */

void gw_cli_shown(char *out, size_t cap, const char *s, size_t n)
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

void gw_cli_first_line(char *out, size_t cap, const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '\r' || ch == '\n') break;
        out[o++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    out[o] = '\0';
}
