/*
 * cond.c - RFC 9110 preconditions and byte ranges.
 *
 * Everything here reads the request head and the representation's two
 * validators and decides; nothing is sent.  The gateway's ETags are strong
 * (an MD5, or Swift's manifest ETag), so a weak tag from a client matches
 * only where the RFC asks for weak comparison (If-None-Match).  Swift
 * accepts unquoted tags; so does this, as a courtesy to old clients.
 * Malformed header values are treated as absent, as the RFC allows, except
 * that a malformed Range means "no range" (a 200), never an error.
 */
#include "cond.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "http.h"
#include "util.h"

/* ---- entity tags ---- */

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

/*
 * Does the list `v` (comma-separated entity tags, or "*") match `etag`?
 * strong: W/ tags never match.  "*" matches any existing representation.
 */
static int etag_list_matches(const char *v, size_t len, const char *etag, int strong)
{
    const char *p = v, *end = v + len;
    size_t elen = strlen(etag);
    while (p < end) {
        while (p < end && (is_space(*p) || *p == ',')) p++;
        if (p == end) break;
        if (*p == '*') return etag[0] != '\0';
        int weak = 0;
        if (end - p >= 2 && p[0] == 'W' && p[1] == '/') {
            weak = 1;
            p += 2;
        }
        const char *tag, *tag_end;
        if (p < end && *p == '"') {
            tag = ++p;
            while (p < end && *p != '"') p++;
            tag_end = p;
            if (p < end) p++;
        } else {
            tag = p;
            while (p < end && *p != ',' && !is_space(*p)) p++;
            tag_end = p;
        }
        if (!(strong && weak) && elen > 0 && (size_t)(tag_end - tag) == elen &&
            memcmp(tag, etag, elen) == 0)
            return 1;
        while (p < end && *p != ',') p++;
    }
    return 0;
}

/* ---- dates ---- */

/* Two digits at s, or -1. */
static int two_digits(const char *s)
{
    if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9') return -1;
    return (s[0] - '0') * 10 + (s[1] - '0');
}

/*
 * IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT", the form every current
 * client and Swift send, read without strptime (whose locale-aware name
 * matching was a measured part of every hit's cost).  -1 if s is not one.
 */
static int64_t parse_imf_fixdate(const char *s, size_t len)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    if (len != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' ||
        s[16] != ' ' || s[19] != ':' || s[22] != ':' || s[25] != ' ' ||
        memcmp(s + 26, "GMT", 3) != 0)
        return -1;
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    tm.tm_mon = -1;
    for (int m = 0; m < 12; m++)
        if (memcmp(s + 8, months + 3 * m, 3) == 0) tm.tm_mon = m;
    int cent = two_digits(s + 12), yy = two_digits(s + 14);
    tm.tm_mday = two_digits(s + 5);
    tm.tm_hour = two_digits(s + 17);
    tm.tm_min = two_digits(s + 20);
    tm.tm_sec = two_digits(s + 23);
    if (tm.tm_mon < 0 || cent < 0 || yy < 0 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
        tm.tm_hour < 0 || tm.tm_hour > 23 || tm.tm_min < 0 || tm.tm_min > 59 ||
        tm.tm_sec < 0 || tm.tm_sec > 60)
        return -1;
    tm.tm_year = cent * 100 + yy - 1900;
    return (int64_t)timegm(&tm);
}

int64_t gw_cond_parse_date(const char *s, size_t len)
{
    static const char *const forms[] = {
        "%a, %d %b %Y %H:%M:%S GMT", /* IMF-fixdate */
        "%A, %d-%b-%y %H:%M:%S GMT", /* RFC 850 */
        "%a %b %e %H:%M:%S %Y",      /* asctime */
    };
    char buf[64];
    if (s == NULL || len == 0 || len >= sizeof(buf)) return -1;
    int64_t t = parse_imf_fixdate(s, len);
    if (t >= 0) return t;
    memcpy(buf, s, len);
    buf[len] = '\0';
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        struct tm tm;
        memset(&tm, 0, sizeof(tm));
        const char *rest = strptime(buf, forms[i], &tm);
        if (rest && *rest == '\0') return (int64_t)timegm(&tm);
    }
    return -1;
}

/* ---- preconditions ---- */

/* The representation's Last-Modified as a time, or -1; read only when a
 * request's precondition needs it. */
static int64_t last_modified_time(const char *last_modified)
{
    return last_modified[0] ? gw_cond_parse_date(last_modified, strlen(last_modified)) : -1;
}

enum gw_precond gw_cond_evaluate(const struct gw_http_req *r, const char *etag,
                                 const char *last_modified)
{
    size_t n;
    const char *v;

    /* 1. If-Match, else 2. If-Unmodified-Since. */
    if ((v = gw_http_header(r, "If-Match", &n)) != NULL) {
        if (!etag_list_matches(v, n, etag, 1)) return GW_PRECOND_412;
    } else if ((v = gw_http_header(r, "If-Unmodified-Since", &n)) != NULL) {
        int64_t d = gw_cond_parse_date(v, n), lm = last_modified_time(last_modified);
        if (d >= 0 && lm >= 0 && lm > d) return GW_PRECOND_412;
    }
    /* 3. If-None-Match, else 4. If-Modified-Since (GET and HEAD only here). */
    if ((v = gw_http_header(r, "If-None-Match", &n)) != NULL) {
        if (etag_list_matches(v, n, etag, 0)) return GW_PRECOND_304;
    } else if ((v = gw_http_header(r, "If-Modified-Since", &n)) != NULL) {
        /* A date later than now is invalid and ignored (§13.1.3). */
        int64_t d = gw_cond_parse_date(v, n), lm = last_modified_time(last_modified);
        if (d >= 0 && d <= (int64_t)time(NULL) && lm >= 0 && lm <= d) return GW_PRECOND_304;
    }
    return GW_PRECOND_PASS;
}

/* ---- ranges ---- */

static int parse_u64_span(const char **pp, const char *end, uint64_t *out)
{
    const char *p = *pp;
    uint64_t v = 0;
    int digits = 0;
    while (p < end && *p >= '0' && *p <= '9') {
        uint64_t d = (uint64_t)(*p - '0');
        if (v > (UINT64_MAX - d) / 10) return -1;
        v = v * 10 + d;
        p++;
        digits++;
    }
    if (digits == 0) return -1;
    *pp = p;
    *out = v;
    return 0;
}

static int cmp_range(const void *a, const void *b)
{
    const struct gw_range *x = a, *y = b;
    return x->first < y->first ? -1 : x->first > y->first;
}

int gw_cond_parse_ranges(const char *v, size_t len, uint64_t length, struct gw_range *out)
{
    const char *p = v, *end = v + len;
    while (p < end && is_space(*p)) p++;
    if (end - p < 6 || strncasecmp(p, "bytes=", 6) != 0) return 0;
    p += 6;
    struct gw_range all[GW_RANGES_MAX];
    int n = 0, specs = 0;
    while (p < end) {
        while (p < end && (is_space(*p) || *p == ',')) p++;
        if (p == end) break;
        if (++specs > GW_RANGES_MAX) return 0; /* too many: serve it whole */
        uint64_t first, last;
        if (*p == '-') {
            p++;
            uint64_t suffix;
            if (parse_u64_span(&p, end, &suffix) != 0) return 0;
            if (suffix == 0 || length == 0) goto next;
            first = suffix >= length ? 0 : length - suffix;
            last = length - 1;
        } else {
            if (parse_u64_span(&p, end, &first) != 0) return 0;
            if (p == end || *p != '-') return 0;
            p++;
            if (p < end && *p >= '0' && *p <= '9') {
                if (parse_u64_span(&p, end, &last) != 0) return 0;
                if (last < first) return 0; /* invalid: the whole Range is ignored */
            } else {
                last = UINT64_MAX;
            }
            if (first >= length) goto next; /* unsatisfiable, others may be fine */
            if (last >= length) last = length - 1;
        }
        all[n].first = first;
        all[n].last = last;
        n++;
    next:
        while (p < end && is_space(*p)) p++;
        if (p < end && *p != ',') return 0;
    }
    if (specs == 0) return 0;
    if (n == 0) return -1;
    qsort(all, (size_t)n, sizeof(all[0]), cmp_range);
    int m = 0;
    out[0] = all[0];
    for (int i = 1; i < n; i++) {
        if (all[i].first <= out[m].last + 1) {
            if (all[i].last > out[m].last) out[m].last = all[i].last;
        } else {
            out[++m] = all[i];
        }
    }
    return m + 1;
}

int gw_cond_ranges(const struct gw_http_req *r, uint64_t length, const char *etag,
                   const char *last_modified, struct gw_range *out)
{
    size_t vn, irn;
    const char *v = gw_http_header(r, "Range", &vn);
    if (v == NULL || r->method != HTTP_GET) return 0;
    const char *ir = gw_http_header(r, "If-Range", &irn);
    if (ir != NULL) {
        /* The Range counts only if the client still has this representation. */
        int match;
        if (irn >= 1 && (ir[0] == '"' || (irn >= 2 && ir[0] == 'W' && ir[1] == '/')))
            match = etag_list_matches(ir, irn, etag, 1);
        else
            match = last_modified[0] &&
                    gw_cond_parse_date(ir, irn) ==
                        gw_cond_parse_date(last_modified, strlen(last_modified)) &&
                    gw_cond_parse_date(ir, irn) >= 0;
        if (!match) return 0;
    }
    return gw_cond_parse_ranges(v, vn, length, out);
}
