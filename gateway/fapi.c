/*
 * fapi.c - the Fractals API's paged listing (fapi.h), read with libcurl's
 * easy interface one page at a time: the command needs the whole list
 * before its run, so that its progress can say how much is left.
 *
 * Invariants: a page is handed over object by object only once the whole
 * page parsed as a Flask-Restless listing; nothing printed holds a URL's
 * user:password (gw_cli_shown()); a page body is at most FAPI_MAX_BODY
 * bytes and the pages at most FAPI_MAX_PAGES.
 */
#include "fapi.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cli.h"
#include "route.h"
#include "util.h"

#define FAPI_PAGE_SIZE 100          /* the Fractals API's cap */
#define FAPI_MAX_PAGES 1000000
#define FAPI_MAX_BODY (16u << 20)

struct page_buf {
    char *data;
    size_t len;
    int too_big;
};

static size_t page_write(char *p, size_t size, size_t n, void *ud)
{
    struct page_buf *b = ud;
    size_t k = size * n;
    if (b->len + k > FAPI_MAX_BODY) {
        b->too_big = 1;
        return 0;
    }
    b->data = gw_realloc(b->data, b->len + k + 1);
    memcpy(b->data + b->len, p, k);
    b->len += k;
    b->data[b->len] = '\0';
    return k;
}

static int page_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)ud, (void)a, (void)b, (void)c, (void)d;
    return gw_cli_signal() ? 1 : 0; /* non-zero aborts the transfer */
}

/* One page being read: where it is, for the messages. */
struct page {
    struct gw_fapi_listing *q;
    const char *shown_base;     /* the listing's URL, for messages */
    const char *url;
    long number;
};

static void bad(const struct page *pg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "<base>: page N: <what> (GET <url>)", printed and handed to q->bad. */
static void bad(const struct page *pg, const char *fmt, ...)
{
    char what[512], shown_url[512], msg[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    gw_cli_shown(shown_url, sizeof(shown_url), pg->url, strlen(pg->url));
    snprintf(msg, sizeof(msg), "%s: page %ld: %s (GET %s)", pg->shown_base, pg->number, what,
             shown_url);
    fprintf(stderr, "%s: %s\n", pg->q->prog, msg);
    if (pg->q->bad) pg->q->bad(pg->q->ud, msg);
}

/* Hand each object of a parsed page over; one without a uuid is reported. */
static void each_object(const struct page *pg, json_t *objects)
{
    size_t i;
    json_t *obj;
    json_array_foreach(objects, i, obj) {
        const char *u = json_string_value(json_object_get(obj, "uuid"));
        if (u == NULL || strlen(u) != 36 || !gw_route_is_uuid(u, 36)) {
            char buf[512] = "";
            if (u) gw_cli_shown(buf, sizeof(buf), u, strlen(u));
            bad(pg, "object %zu: %s%s", i + 1, u ? "not a uuid: " : "no \"uuid\" string", buf);
            pg->q->bad_objects++;
            continue;
        }
        pg->q->listed++;
        pg->q->each(pg->q->ud, u, obj, pg->number, i + 1);
    }
}

/* The body of a page; 0 with *total_pages set, or -1 when it is bad (reported). */
static int parse_page(const struct page *pg, const struct page_buf *b, long *total_pages)
{
    json_error_t jerr;
    json_t *root = json_loadb(b->data ? b->data : "", b->len, 0, &jerr);
    if (root == NULL) {
        bad(pg, "not JSON: %s (line %d)", jerr.text, jerr.line);
        return -1;
    }
    json_t *objects = json_object_get(root, "objects");
    json_t *tp = json_object_get(root, "total_pages");
    if (!json_is_array(objects) || !json_is_integer(tp) || json_integer_value(tp) < 0) {
        bad(pg, "not a Flask-Restless listing (want \"objects\" and \"total_pages\")");
        json_decref(root);
        return -1;
    }
    json_int_t t = json_integer_value(tp);
    *total_pages = t > FAPI_MAX_PAGES ? FAPI_MAX_PAGES : (long)t;
    each_object(pg, objects);
    json_decref(root);
    return 0;
}

/* One page; 0, or -1 when it is bad (reported) or a signal came. */
static int read_page(const struct page *pg, CURL *e, long *total_pages)
{
    struct page_buf b = {0};
    char errbuf[CURL_ERROR_SIZE] = "";
    int rc = -1;
    curl_easy_setopt(e, CURLOPT_URL, pg->url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, page_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode cc = curl_easy_perform(e);
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    if (gw_cli_signal()) goto leave;
    if (cc != CURLE_OK)
        bad(pg, "%s", b.too_big ? "listing larger than 16 MB"
                      : errbuf[0] ? errbuf
                                  : curl_easy_strerror(cc));
    else if (status != 200)
        bad(pg, "HTTP %ld", status);
    else
        rc = parse_page(pg, &b, total_pages);
leave:
    free(b.data);
    return rc;
}

/* <api>/v1/fractal without a trailing '/'; caller frees. */
static char *listing_url(const char *api)
{
    char *base = gw_strdup(api);
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/') base[--n] = '\0';
    if (n >= 11 && strcmp(base + n - 11, "/v1/fractal") == 0) return base;
    char *b2 = gw_asprintf("%s/v1/fractal", base);
    free(base);
    return b2;
}

static CURL *listing_easy(const struct gw_fapi_listing *q, struct curl_slist *h)
{
    CURL *e = curl_easy_init();
    if (e == NULL) return NULL;
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)q->timeout_ms);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "swiftgate/" GW_VERSION);
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, page_progress);
    return e;
}

int gw_fapi_list(struct gw_fapi_listing *q, const char *api)
{
    char *base = listing_url(api);
    char shown_base[512];
    gw_cli_shown(shown_base, sizeof(shown_base), base, strlen(base));
    struct curl_slist *h = curl_slist_append(NULL, "Accept: application/json");
    CURL *e = listing_easy(q, h);
    if (e == NULL) {
        fprintf(stderr, "%s: curl_easy_init failed\n", q->prog);
        curl_slist_free_all(h);
        free(base);
        return -1;
    }
    long total = 1;
    int stop = 0;
    for (long page = 1; page <= total && !stop && !gw_cli_signal(); page++) {
        char *url = gw_asprintf("%s%cpage=%ld&results_per_page=%d", base,
                                strchr(base, '?') ? '&' : '?', page, FAPI_PAGE_SIZE);
        struct page pg = {.q = q, .shown_base = shown_base, .url = url, .number = page};
        if (read_page(&pg, e, &total) == 0) {
            q->pages++;
        } else if (!gw_cli_signal()) {
            q->bad_pages++;
            /* The number of pages is known only from a good page. */
            stop = !q->keep_going || q->pages == 0;
        }
        free(url);
    }
    if (q->bad_pages == 0 && !gw_cli_signal())
        fprintf(stderr, "%s: %s: %llu fractals in %ld pages\n", q->prog, shown_base,
                (unsigned long long)q->listed, total);
    curl_easy_cleanup(e);
    curl_slist_free_all(h);
    free(base);
    return q->bad_pages == 0 && !gw_cli_signal() ? 0 : -1;
}
