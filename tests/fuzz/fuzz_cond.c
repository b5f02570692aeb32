/*
 * fuzz_cond.c - libFuzzer target: request fields through the RFC 9110
 * preconditions and byte ranges of cond.c.
 *
 * The input is a request's header fields, one "Name: value" a line (LF or
 * CRLF; a line without ':' is skipped, blanks around the value dropped),
 * at most FZ_FIELDS of them, any bytes in a value: what cond.c sees is
 * whatever llhttp let through, and these functions must hold for more.
 * They are judged as a GET of one representation: FZ_LENGTH bytes, strong
 * ETag FZ_ETAG, Last-Modified FZ_LM.
 *
 * Verdict (fuzz.h): "PRE.RANGE", PRE the precondition (pass, 304, 412),
 * RANGE what the Range asks (full: a 200, 416, or rN: a 206 of N ranges).
 *
 * Invariants (abort on violation):
 *   - ranges are sorted, within the representation, and neither overlap
 *     nor touch (they were merged); at most GW_RANGES_MAX;
 *   - whether a Range is ignored (0) depends on its syntax alone, not on
 *     the length it is resolved against, and a length of 0 never gives a
 *     range; without If-Range, gw_cond_ranges() is gw_cond_parse_ranges();
 *     with it, that or 0;
 *   - If-Match on a representation with no ETag is always 412;
 *   - a date that parses to t (years 1970 to 9999) parses back to t from
 *     its IMF-fixdate.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cond.h"
#include "fuzz.h"
#include "http.h"
#include "util.h"

#define FZ_FIELDS 32
#define FZ_LENGTH 10000u
#define FZ_ETAG "0123456789abcdef0123456789abcdef"
#define FZ_LM "Sun, 06 Nov 1994 08:49:37 GMT"
/* 10000-01-01T00:00:00Z: the first second an IMF-fixdate cannot spell. */
#define FZ_DATE_END 253402300800ll

static int blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Fields from data into r: names and values copied into r->buf. */
static void build_request(const uint8_t *data, size_t size, struct gw_http_req *r)
{
    memset(r, 0, sizeof(*r));
    r->magic = GW_HTTP_REQ_MAGIC;
    r->method = HTTP_GET;
    r->method_known = 1;
    r->http_major = r->http_minor = 1;
    r->buf = gw_malloc(size + 1);
    r->hdrs = gw_calloc(FZ_FIELDS, sizeof(*r->hdrs));
    const char *p = (const char *)data, *end = p + size;
    while (p < end && r->nhdrs < FZ_FIELDS) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *le = eol ? eol : end;
        const char *colon = memchr(p, ':', (size_t)(le - p));
        if (le > p && le[-1] == '\r' && eol) le--;
        if (colon != NULL && colon < le && colon > p) {
            const char *v = colon + 1, *ve = le;
            while (v < ve && blank(*v)) v++;
            while (ve > v && blank(ve[-1])) ve--;
            struct gw_header *h = &r->hdrs[r->nhdrs++];
            h->name_off = r->used;
            h->name_len = (uint32_t)(colon - p);
            memcpy(r->buf + r->used, p, h->name_len);
            r->used += h->name_len;
            h->value_off = r->used;
            h->value_len = (uint32_t)(ve - v);
            memcpy(r->buf + r->used, v, h->value_len);
            r->used += h->value_len;
        }
        p = eol ? eol + 1 : end;
    }
}

static void check_ranges(const struct gw_range *g, int n, uint64_t length)
{
    FZ_CHECK(n >= -1 && n <= GW_RANGES_MAX);
    if (length == 0) FZ_CHECK(n <= 0);
    for (int i = 0; i < n; i++) {
        FZ_CHECK(g[i].first <= g[i].last && g[i].last < length);
        if (i > 0) FZ_CHECK(g[i].first > g[i - 1].last + 1);
    }
}

/* The Range alone against lengths around the representation's and beyond. */
static void check_range_syntax(const char *v, size_t n)
{
    static const uint64_t lengths[] = {0, 1, 2, FZ_LENGTH - 1, FZ_LENGTH + 1, INT64_MAX,
                                       UINT64_MAX};
    struct gw_range g[GW_RANGES_MAX];
    int ignored = gw_cond_parse_ranges(v, n, FZ_LENGTH, g) == 0;
    for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
        int k = gw_cond_parse_ranges(v, n, lengths[i], g);
        check_ranges(g, k, lengths[i]);
        FZ_CHECK((k == 0) == ignored);
    }
}

static void check_date(const char *v, size_t n)
{
    int64_t t = gw_cond_parse_date(v, n);
    if (t < 0 || t >= FZ_DATE_END) return;
    time_t tt = (time_t)t;
    struct tm tm;
    char buf[64];
    FZ_CHECK(gmtime_r(&tt, &tm) != NULL);
    size_t k = strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    FZ_CHECK(k == 29);
    FZ_CHECK(gw_cond_parse_date(buf, k) == t);
}

static const char *pre_word(enum gw_precond pre)
{
    switch (pre) {
    case GW_PRECOND_PASS: return "pass";
    case GW_PRECOND_304: return "304";
    case GW_PRECOND_412: return "412";
    }
    FZ_CHECK(!"unknown precondition");
    return NULL;
}

int fuzz_cond_verdict(const uint8_t *data, size_t size, char *out, size_t len)
{
    struct gw_http_req r;
    build_request(data, size, &r);
    static const char *const dates[] = {"If-Modified-Since", "If-Unmodified-Since", "If-Range"};
    size_t n;
    for (size_t i = 0; i < sizeof(dates) / sizeof(dates[0]); i++) {
        const char *v = gw_http_header(&r, dates[i], &n);
        if (v != NULL) check_date(v, n);
    }

    enum gw_precond pre = gw_cond_evaluate(&r, FZ_ETAG, FZ_LM);
    if (gw_http_header(&r, "If-Match", &n) != NULL)
        FZ_CHECK(gw_cond_evaluate(&r, "", FZ_LM) == GW_PRECOND_412);

    struct gw_range g[GW_RANGES_MAX], h[GW_RANGES_MAX];
    int k = gw_cond_ranges(&r, FZ_LENGTH, FZ_ETAG, FZ_LM, g);
    check_ranges(g, k, FZ_LENGTH);
    const char *range = gw_http_header(&r, "Range", &n);
    if (range != NULL) {
        check_range_syntax(range, n);
        int plain = gw_cond_parse_ranges(range, n, FZ_LENGTH, h);
        size_t irn;
        int if_range = gw_http_header(&r, "If-Range", &irn) != NULL;
        FZ_CHECK(k == plain || (if_range && k == 0));
        if (k == plain && k > 0) FZ_CHECK(memcmp(g, h, (size_t)k * sizeof(g[0])) == 0);
    } else {
        FZ_CHECK(k == 0);
    }
    free(r.buf);
    free(r.hdrs);

    if (k == 0) return fz_verdict(out, len, "%s.full", pre_word(pre));
    if (k < 0) return fz_verdict(out, len, "%s.416", pre_word(pre));
    return fz_verdict(out, len, "%s.r%d", pre_word(pre), k);
}
