/*
 * conf_value.c - the syntax of one configuration value: sizes, durations,
 * booleans, host:port and lists, read (gw_parse_*, also used outside the
 * configuration) and written back (gw_conf_fmt_*, for check-config and for
 * the bounds in error messages).
 *
 * Nothing here knows about keys or where a value came from.  Invariants: a
 * parser writes its outputs only when it succeeds; arithmetic never wraps,
 * a number too large for 64 bits is an error of its own (GW_CONF_OVERFLOW)
 * so that a message can say "too large"; and what a formatter writes reads
 * back through the matching parser as the same number.
 */
#include "conf_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Reads one or more decimal digits at *sp; no sign, no spaces. */
int gw_conf_parse_digits(const char **sp, uint64_t *out)
{
    const char *s = *sp;
    uint64_t v = 0;

    if (!isdigit((unsigned char)*s)) return GW_CONF_BAD;
    for (; isdigit((unsigned char)*s); s++) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10) return GW_CONF_OVERFLOW;
        v = v * 10 + d;
    }
    *sp = s;
    *out = v;
    return 0;
}

static int scale(uint64_t v, uint64_t mult, uint64_t *out)
{
    if (mult != 0 && v > UINT64_MAX / mult) return GW_CONF_OVERFLOW;
    *out = v * mult;
    return 0;
}

int gw_conf_parse_size(const char *s, uint64_t *out)
{
    uint64_t v, mult = 1;
    int rc = gw_conf_parse_digits(&s, &v);
    if (rc != 0) return rc;

    switch (*s) {
    case 'k': case 'K': mult = UINT64_C(1) << 10; s++; break;
    case 'm': case 'M': mult = UINT64_C(1) << 20; s++; break;
    case 'g': case 'G': mult = UINT64_C(1) << 30; s++; break;
    case 't': case 'T': mult = UINT64_C(1) << 40; s++; break;
    default: break;
    }
    if (*s == 'b' || *s == 'B') s++;
    if (*s != '\0') return GW_CONF_BAD;
    return scale(v, mult, out);
}

int gw_conf_parse_duration(const char *s, uint64_t *out)
{
    static const struct { const char *unit; uint64_t ms; } units[] = {
        /* "ms" comes before "m" so that it is not read as minutes. */
        {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000},
        {"d", 86400000}, {"", 1000},
    };
    uint64_t v;
    int rc = gw_conf_parse_digits(&s, &v);
    if (rc != 0) return rc;

    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (strcasecmp(s, units[i].unit) == 0) return scale(v, units[i].ms, out);
    return GW_CONF_BAD;
}

int gw_parse_size(const char *s, uint64_t *out)
{
    return gw_conf_parse_size(s, out) == 0 ? 0 : -1;
}

int gw_parse_duration_ms(const char *s, uint64_t *out)
{
    return gw_conf_parse_duration(s, out) == 0 ? 0 : -1;
}

int gw_conf_list_next(const char **sp, const char **item, size_t *len)
{
    const char *s = *sp;
    if (s == NULL || *s == '\0') return 0;
    const char *comma = strchr(s, ',');
    const char *end = comma ? comma : s + strlen(s);
    while (s < end && isblank((unsigned char)*s)) s++;
    const char *e = end;
    while (e > s && isblank((unsigned char)e[-1])) e--;
    *item = s;
    *len = (size_t)(e - s);
    *sp = comma ? comma + 1 : end;
    return 1;
}

int gw_parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(s, yes[i]) == 0) { *out = 1; return 0; }
        if (strcasecmp(s, no[i]) == 0) { *out = 0; return 0; }
    }
    return -1;
}

/*
 * A host name is checked loosely (letters, digits, '-', '.', '_'): the
 * resolver has the last word.  Something that looks like a dotted quad,
 * though, must be a valid IPv4 address, so that "10.0.0.256" is caught here
 * rather than sent to DNS.
 */
static int valid_hostname(const char *h, size_t n)
{
    int numeric = 1;

    if (n == 0 || n > 253 || h[0] == '.' || h[0] == '-') return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)h[i];
        if (!isalnum(ch) && ch != '-' && ch != '.' && ch != '_') return 0;
        if (ch == '.' && i + 1 < n && h[i + 1] == '.') return 0;
        if (!isdigit(ch) && ch != '.') numeric = 0;
    }
    if (numeric) {
        char buf[16];
        struct in_addr a;
        if (n >= sizeof(buf)) return 0;
        memcpy(buf, h, n);
        buf[n] = '\0';
        return inet_pton(AF_INET, buf, &a) == 1;
    }
    return 1;
}

/* The inside of "[...]": an IPv6 address, optionally with a "%zone". */
static int valid_ipv6(const char *h, size_t n)
{
    char buf[64];
    struct in6_addr a;
    const char *pct = memchr(h, '%', n);
    size_t addrlen = pct ? (size_t)(pct - h) : n;

    if (addrlen == 0 || addrlen >= sizeof(buf)) return 0;
    memcpy(buf, h, addrlen);
    buf[addrlen] = '\0';
    if (inet_pton(AF_INET6, buf, &a) != 1) return 0;
    if (pct != NULL) {
        size_t zlen = n - addrlen - 1;
        if (zlen == 0) return 0;
        for (size_t i = 0; i < zlen; i++) {
            unsigned char ch = (unsigned char)pct[1 + i];
            if (!isalnum(ch) && ch != '_' && ch != '-' && ch != '.') return 0;
        }
    }
    return 1;
}

int gw_parse_hostport(const char *s, char *host, size_t hostlen, int *port)
{
    const char *h, *hend, *p;
    uint64_t portnum;

    if (s[0] == '[') {
        /* A bracketed IPv6 address; the brackets are not part of the host. */
        h = s + 1;
        hend = strchr(h, ']');
        if (hend == NULL || hend[1] != ':') return -1;
        if (!valid_ipv6(h, (size_t)(hend - h))) return -1;
        p = hend + 2;
    } else {
        /* Unbracketed, the host must not hold a ':' or "::1:80" would be
         * ambiguous. */
        hend = strchr(s, ':');
        if (hend == NULL || strchr(hend + 1, ':') != NULL) return -1;
        h = s;
        if (!valid_hostname(h, (size_t)(hend - h))) return -1;
        p = hend + 1;
    }

    if (strlen(p) > 5 || gw_conf_parse_digits(&p, &portnum) != 0 || *p != '\0') return -1;
    if (portnum > 65535) return -1;
    if ((size_t)(hend - h) >= hostlen) return -1;

    memcpy(host, h, (size_t)(hend - h));
    host[hend - h] = '\0';
    *port = (int)portnum;
    return 0;
}

/* The largest unit that divides the value exactly, so it reads back as is. */
void gw_conf_fmt_size(uint64_t v, char *buf, size_t len)
{
    static const char units[] = "TGMK";
    for (int i = 0; i < 4; i++) {
        uint64_t m = UINT64_C(1) << (10 * (4 - i));
        if (v != 0 && v % m == 0) {
            snprintf(buf, len, "%" PRIu64 "%c", v / m, units[i]);
            return;
        }
    }
    snprintf(buf, len, "%" PRIu64, v);
}

void gw_conf_fmt_duration(uint64_t ms, char *buf, size_t len)
{
    static const struct { const char *unit; uint64_t ms; } units[] = {
        {"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000},
    };
    if (ms == 0) {
        snprintf(buf, len, "0s");
        return;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (ms % units[i].ms == 0) {
            snprintf(buf, len, "%" PRIu64 "%s", ms / units[i].ms, units[i].unit);
            return;
        }
    }
    snprintf(buf, len, "%" PRIu64 "ms", ms);
}
