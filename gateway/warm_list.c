/*
 * warm_list.c - the list `swiftgate warm` works through: the lines of list
 * files (or stdin) and the Fractals API's paged listing.
 *
 * A line is a full URL, a /fractal/<uuid> path or a bare uuid; a bad line
 * is reported with its source and line number, counted and skipped, and so
 * is a listed object without a uuid.  Each request URL is kept once: an
 * open-addressing set over the items finds a duplicate, which is counted
 * and dropped.  The set's capacity is a power of two and at least twice
 * the number of items, so every probe ends at an empty bucket.  A signal
 * stops the reading between lines and aborts a listing transfer; what was
 * read so far stays.  Nothing printed holds a URL's user:password.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "route.h"
#include "util.h"
#include "warm_int.h"

#define WARM_API_PAGE_SIZE 100      /* the Fractals API's cap */
#define WARM_API_MAX_PAGES 1000000
#define WARM_API_MAX_BODY (16u << 20)

/* ---- lines ---- */

enum { ENTRY_UUID, ENTRY_PATH, ENTRY_URL };

/*
 * One trimmed, non-empty line: a uuid, "/fractal/<uuid>" or
 * "http[s]://authority/fractal/<uuid>", the last two optionally followed by
 * ?query or #fragment (dropped: the gateway ignores a query).  Returns the
 * ENTRY_ kind with the uuid copied out (and, for a URL, the length of its
 * "scheme://authority" in *origin_len), or -1.
 */
static int parse_entry(const char *s, size_t n, char uuid[37], size_t *origin_len)
{
    static const char pfx[] = "/fractal/";
    const size_t pl = sizeof(pfx) - 1;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f) return -1;
    if (n == 36) {
        if (!gw_route_is_uuid(s, 36)) return -1;
        memcpy(uuid, s, 36);
        uuid[36] = '\0';
        return ENTRY_UUID;
    }
    int kind = ENTRY_PATH;
    size_t p = 0;
    if (warm_has_prefix_ci(s, n, "http://"))
        p = 7;
    else if (warm_has_prefix_ci(s, n, "https://"))
        p = 8;
    if (p > 0) {
        size_t a = p;
        while (a < n && s[a] != '/' && s[a] != '?' && s[a] != '#') a++;
        if (a == p) return -1;
        *origin_len = a;
        kind = ENTRY_URL;
        p = a;
    }
    if (n - p < pl + 36 || memcmp(s + p, pfx, pl) != 0) return -1;
    p += pl;
    if (!gw_route_is_uuid(s + p, 36)) return -1;
    memcpy(uuid, s + p, 36);
    uuid[36] = '\0';
    p += 36;
    if (p < n && s[p] != '?' && s[p] != '#') return -1;
    return kind;
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;            /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static void set_grow(struct warm_list *l)
{
    size_t cap = l->set_cap ? l->set_cap * 2 : 1024;
    size_t *set = gw_malloc(cap * sizeof(*set));
    for (size_t i = 0; i < cap; i++) set[i] = SIZE_MAX;
    for (size_t i = 0; i < l->nitems; i++) {
        size_t j = (size_t)hash_str(l->items[i].url) & (cap - 1);
        while (set[j] != SIZE_MAX) j = (j + 1) & (cap - 1);
        set[j] = i;
    }
    free(l->set);
    l->set = set;
    l->set_cap = cap;
}

/* Add url (taken over) for uuid, unless the list has it: then count a duplicate. */
static void add_item(struct warm_list *l, char *url, const char *uuid)
{
    if ((l->nitems + 1) * 2 > l->set_cap) set_grow(l);
    size_t j = (size_t)hash_str(url) & (l->set_cap - 1);
    while (l->set[j] != SIZE_MAX) {
        if (strcmp(l->items[l->set[j]].url, url) == 0) {
            l->duplicates++;
            free(url);
            return;
        }
        j = (j + 1) & (l->set_cap - 1);
    }
    if (l->nitems == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 1024;
        l->items = gw_realloc(l->items, l->cap * sizeof(*l->items));
    }
    l->set[j] = l->nitems;
    struct warm_item *it = &l->items[l->nitems++];
    it->url = url;
    memcpy(it->uuid, uuid, 37);
}

/*
 * Where a fractal is requested: -g wins over a URL line's own host; without
 * -g, a URL line keeps its scheme and host and anything else goes to the
 * default gateway.
 */
static void add_uuid(struct warm_list *l, const struct warm_opts *o, const char *uuid,
                     const char *origin, size_t origin_len)
{
    char *url;
    if (origin != NULL && o->gateway == NULL)
        url = gw_asprintf("%.*s/fractal/%s", (int)origin_len, origin, uuid);
    else
        url = gw_asprintf("%s/fractal/%s", o->base, uuid);
    add_item(l, url, uuid);
}

static void add_line(struct warm_list *l, const struct warm_opts *o, char *s, size_t n,
                     const char *src, uint64_t lineno)
{
    while (n > 0 && isspace((unsigned char)s[n - 1])) n--;
    while (n > 0 && isspace((unsigned char)*s)) {
        s++;
        n--;
    }
    if (n == 0 || s[0] == '#') return;
    char uuid[37];
    size_t origin_len = 0;
    int kind = parse_entry(s, n, uuid, &origin_len);
    if (kind < 0) {
        char buf[512];
        gw_warm_shown(buf, sizeof(buf), s, n);
        fprintf(stderr, "warm: %s:%llu: not a fractal URL, path or uuid: %s\n", src,
                (unsigned long long)lineno, buf);
        l->bad_lines++;
        return;
    }
    add_uuid(l, o, uuid, kind == ENTRY_URL ? s : NULL, origin_len);
}

/* Read one list; 0, or -errno when reading failed (the lines read so far stay). */
static int read_list(struct warm_list *l, const struct warm_opts *o, FILE *f, const char *src)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    uint64_t lineno = 0;
    int rc = 0;
    errno = 0;
    while (!gw_warm_signal() && (len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        add_line(l, o, line, (size_t)len, src, lineno);
    }
    if (ferror(f) && !gw_warm_signal()) rc = errno ? -errno : -EIO;
    free(line);
    return rc;
}

int gw_warm_read_file(struct warm_list *l, const struct warm_opts *o, const char *name)
{
    int is_stdin = strcmp(name, "-") == 0;
    const char *src = is_stdin ? "stdin" : name;
    FILE *f = is_stdin ? stdin : fopen(name, "r");
    if (f == NULL) {
        fprintf(stderr, "warm: %s: %s\n", name, strerror(errno));
        return -1;
    }
    if (is_stdin && isatty(STDIN_FILENO))
        fprintf(stderr, "warm: reading the list from the terminal; end it with Ctrl-D\n");
    int rc = read_list(l, o, f, src);
    if (!is_stdin) fclose(f);
    if (rc != 0) {
        fprintf(stderr, "warm: %s: %s\n", src, strerror(-rc));
        return -1;
    }
    return 0;
}

void gw_warm_list_free(struct warm_list *l)
{
    for (size_t i = 0; i < l->nitems; i++) free(l->items[i].url);
    free(l->items);
    free(l->set);
    memset(l, 0, sizeof(*l));
}

/* ---- the Fractals API ---- */

struct api_buf {
    char *data;
    size_t len;
    int too_big;
};

static size_t api_write(char *p, size_t size, size_t n, void *ud)
{
    struct api_buf *b = ud;
    size_t k = size * n;
    if (b->len + k > WARM_API_MAX_BODY) {
        b->too_big = 1;
        return 0;
    }
    b->data = gw_realloc(b->data, b->len + k + 1);
    memcpy(b->data + b->len, p, k);
    b->len += k;
    b->data[b->len] = '\0';
    return k;
}

static int api_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)ud, (void)a, (void)b, (void)c, (void)d;
    return gw_warm_signal() ? 1 : 0; /* non-zero aborts the transfer */
}

/* One page of the listing; 0 or -1 with a message printed. */
static int api_page(struct warm_list *l, const struct warm_opts *o, CURL *e,
                    const char *shown_url, const char *url, long page, long *total_pages)
{
    struct api_buf b = {0};
    char errbuf[CURL_ERROR_SIZE] = "";
    json_t *root = NULL;
    int rc = -1;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, api_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode cc = curl_easy_perform(e);
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    if (gw_warm_signal()) goto leave;
    if (cc != CURLE_OK) {
        fprintf(stderr, "warm: %s: page %ld: %s\n", shown_url, page,
                b.too_big ? "listing larger than 16 MB" : errbuf[0] ? errbuf
                                                                   : curl_easy_strerror(cc));
        goto leave;
    }
    if (status != 200) {
        fprintf(stderr, "warm: %s: page %ld: HTTP %ld\n", shown_url, page, status);
        goto leave;
    }
    json_error_t jerr;
    root = json_loadb(b.data ? b.data : "", b.len, 0, &jerr);
    if (root == NULL) {
        fprintf(stderr, "warm: %s: page %ld: not JSON: %s (line %d)\n", shown_url, page,
                jerr.text, jerr.line);
        goto leave;
    }
    json_t *objects = json_object_get(root, "objects");
    json_t *tp = json_object_get(root, "total_pages");
    if (!json_is_array(objects) || !json_is_integer(tp) || json_integer_value(tp) < 0) {
        fprintf(stderr, "warm: %s: page %ld: not a Flask-Restless listing "
                        "(want \"objects\" and \"total_pages\")\n", shown_url, page);
        goto leave;
    }
    json_int_t t = json_integer_value(tp);
    *total_pages = t > WARM_API_MAX_PAGES ? WARM_API_MAX_PAGES : (long)t;
    size_t i;
    json_t *obj;
    json_array_foreach(objects, i, obj) {
        const char *u = json_string_value(json_object_get(obj, "uuid"));
        if (u == NULL || strlen(u) != 36 || !gw_route_is_uuid(u, 36)) {
            char buf[512];
            if (u) gw_warm_shown(buf, sizeof(buf), u, strlen(u));
            fprintf(stderr, "warm: %s: page %ld: object %zu: %s%s\n", shown_url, page, i + 1,
                    u ? "not a uuid: " : "no \"uuid\" string", u ? buf : "");
            l->bad_lines++;
            continue;
        }
        add_uuid(l, o, u, NULL, 0);
    }
    rc = 0;
leave:
    json_decref(root);
    free(b.data);
    return rc;
}

/*
 * Every page of GET <api>/v1/fractal, results_per_page=100 (the API's cap),
 * until total_pages.  0, or -1 with a message printed (or after a signal).
 */
int gw_warm_api_list(struct warm_list *l, const struct warm_opts *o, const char *api)
{
    char *base = gw_strdup(api);
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/') base[--n] = '\0';
    if (n < 11 || strcmp(base + n - 11, "/v1/fractal") != 0) {
        char *b2 = gw_asprintf("%s/v1/fractal", base);
        free(base);
        base = b2;
    }
    char shown_url[512];
    gw_warm_shown(shown_url, sizeof(shown_url), base, strlen(base));
    CURL *e = curl_easy_init();
    if (e == NULL) {
        fprintf(stderr, "warm: curl_easy_init failed\n");
        free(base);
        return -1;
    }
    struct curl_slist *h = curl_slist_append(NULL, "Accept: application/json");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "swiftgate-warm/" GW_VERSION);
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, api_progress);
    size_t before = l->nitems;
    uint64_t dup_before = l->duplicates;
    long total = 1, page = 1;
    int rc = 0;
    for (; page <= total && rc == 0 && !gw_warm_signal(); page++) {
        char *url = gw_asprintf("%s%cpage=%ld&results_per_page=%d", base,
                                strchr(base, '?') ? '&' : '?', page, WARM_API_PAGE_SIZE);
        rc = api_page(l, o, e, shown_url, url, page, &total);
        free(url);
    }
    if (rc == 0 && !gw_warm_signal())
        fprintf(stderr, "warm: %s: %zu fractals in %ld pages\n", shown_url,
                l->nitems - before + (size_t)(l->duplicates - dup_before), total);
    curl_easy_cleanup(e);
    curl_slist_free_all(h);
    free(base);
    return rc == 0 && !gw_warm_signal() ? 0 : -1;
}
