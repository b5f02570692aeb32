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
 * read so far stays.  Nothing printed holds a URL's user:password.  The
 * listing itself is read by fapi.c.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "fapi.h"
#include "route.h"
#include "util.h"
#include "warm_int.h"

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
        gw_cli_shown(buf, sizeof(buf), s, n);
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
    while (!gw_cli_signal() && (len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        add_line(l, o, line, (size_t)len, src, lineno);
    }
    if (ferror(f) && !gw_cli_signal()) rc = errno ? -errno : -EIO;
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

struct api_add {
    struct warm_list *l;
    const struct warm_opts *o;
};

static void api_each(void *ud, const char *uuid, json_t *obj, long page, size_t index)
{
    struct api_add *a = ud;
    (void)obj, (void)page, (void)index;
    add_uuid(a->l, a->o, uuid, NULL, 0);
}

int gw_warm_api_list(struct warm_list *l, const struct warm_opts *o, const char *api)
{
    struct api_add a = {.l = l, .o = o};
    struct gw_fapi_listing q = {
        .prog = "warm", .timeout_ms = o->run.timeout_ms, .each = api_each, .ud = &a};
    int rc = gw_fapi_list(&q, api);
    l->bad_lines += q.bad_objects;
    return rc;
}
