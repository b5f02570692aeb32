/*
 * conf_keys.c - the table of configuration keys, and setting one key from
 * text.
 *
 * Each row of gw_conf_keys[] gives a key's section, name, type, default,
 * bounds, extra check and where it lands in struct gw_conf, so adding a key
 * is adding a row (and counting it in GW_CONF_NKEYS).  A row flagged
 * GW_CONF_RESTART is read only at start (what it sets up cannot change
 * under a running gateway); every other key takes effect on a reload.  Defaults are strings
 * parsed by gw_conf_set_value(), the same code as file and environment
 * values, so a default can never be something the file could not say.
 * Invariants: a row compiles only if its field has the C type its kind
 * writes (FIELD() below); setting a key either stores a value that passed
 * every check of its row or changes nothing; and what gw_conf_fmt_value()
 * prints reads back as the same value, secrets aside.  Which keys are
 * needed together and where a value came from are conf.c's business.
 */
#include "conf_int.h"
#include "cors.h"
#include "proxyproto.h"
#include "realip.h"
#include "util.h"

#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/*
 * FIELD() is offsetof() that also refuses to compile when the member does
 * not have the type the row's kind implies, so a row can never write an int
 * into a char * or the like.
 */
#define FIELD(member, ctype)                                                \
    _Generic(((struct gw_conf *)0)->member,                                 \
             ctype: offsetof(struct gw_conf, member))

#define STR(m) .off = FIELD(m, char *)
#define INT(m) .off = FIELD(m, int)
#define U64(m) .off = FIELD(m, uint64_t)
#define MS(m) .off = FIELD(m##_ms, uint64_t)

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)

static const char *check_listen(const char *v);
static const char *check_listen_or_empty(const char *v);
static const char *check_url(const char *v);
static const char *check_container(const char *v);
static const char *check_header_value(const char *v);
static const char *check_user(const char *v);
static const char *check_group(const char *v);
static const char *check_container_list(const char *v);

static const struct gw_conf_choice workers_choices[] = {{"auto", 0}, {NULL, 0}};
static const struct gw_conf_choice log_levels[] = {
    {"debug", GW_LOG_DEBUG}, {"info", GW_LOG_INFO},
    {"warning", GW_LOG_WARNING}, {"error", GW_LOG_ERROR}, {NULL, 0},
};
static const struct gw_conf_choice access_formats[] = {
    {"swiftgate", 0}, {"combined", 1}, {"json", 2}, {NULL, 0},
};
static const struct gw_conf_choice auth_versions[] = {
    {"1", GW_AUTH_V1}, {"3", GW_AUTH_V3}, {"static", GW_AUTH_STATIC}, {NULL, 0},
};
static const struct gw_conf_choice proxy_versions[] = {
    {"off", GW_PROXY_OFF}, {"v1", GW_PROXY_V1}, {"v2", GW_PROXY_V2}, {"both", GW_PROXY_BOTH},
    {NULL, 0},
};
static const struct gw_conf_choice interfaces[] = {
    {"public", 0}, {"internal", 1}, {"admin", 2}, {NULL, 0},
};

const struct gw_conf_key gw_conf_keys[] = {
    {"server", "listen", GW_CONF_STR, "0.0.0.0:8080", STR(listen), .check = check_listen,
     .flags = GW_CONF_RESTART},
    {"server", "workers", GW_CONF_INT, "auto", INT(workers), .min = 1, .max = 256,
     .choices = workers_choices, .flags = GW_CONF_RESTART},
    {"server", "admin_listen", GW_CONF_STR, "127.0.0.1:8081", STR(admin_listen),
     .check = check_listen_or_empty, .flags = GW_CONF_RESTART},
    {"server", "admin_token", GW_CONF_STR, "", STR(admin_token), .flags = GW_CONF_SECRET},
    {"server", "access_log", GW_CONF_STR, "-", STR(access_log), .flags = GW_CONF_RESTART},
    {"server", "access_log_format", GW_CONF_WORD, "swiftgate", STR(access_log_format),
     .choices = access_formats},
    {"server", "trusted_proxies", GW_CONF_STR, "", STR(trusted_proxies),
     .check = gw_realip_check},
    {"server", "proxy_protocol", GW_CONF_INT, "off", INT(proxy_protocol),
     .choices = proxy_versions},
    {"server", "log_level", GW_CONF_WORD, "info", STR(log_level), .choices = log_levels},
    {"server", "user", GW_CONF_STR, NULL, STR(run_user), .check = check_user,
     .flags = GW_CONF_RESTART},
    {"server", "group", GW_CONF_STR, NULL, STR(run_group), .check = check_group,
     .flags = GW_CONF_RESTART},
    {"server", "max_connections", GW_CONF_COUNT, "10000", U64(max_connections), .min = 1},
    {"server", "max_memory", GW_CONF_SIZE, "0", U64(max_memory), .flags = GW_CONF_RESTART},
    {"server", "admin_max_connections", GW_CONF_COUNT, "16", U64(admin_max_connections),
     .min = 1, .max = 1024},
    {"server", "max_header_size", GW_CONF_SIZE, "16K", U64(max_header_size),
     .min = KiB, .max = MiB},
    {"server", "max_headers", GW_CONF_COUNT, "100", U64(max_headers), .min = 1, .max = 1000},
    /* The upper bound of max_url_size is max_header_size: see cross_check() in conf.c. */
    {"server", "max_url_size", GW_CONF_SIZE, "8K", U64(max_url_size), .min = 256, .max = MiB},
    {"server", "header_timeout", GW_CONF_DURATION, "30s", MS(header_timeout), .min = 1},
    {"server", "keepalive_timeout", GW_CONF_DURATION, "75s", MS(keepalive_timeout), .min = 1},
    {"server", "send_timeout", GW_CONF_DURATION, "60s", MS(send_timeout), .min = 1},
    {"server", "shutdown_grace", GW_CONF_DURATION, "30s", MS(shutdown_grace)},
    {"server", "drain_delay", GW_CONF_DURATION, "0s", MS(drain_delay)},
    {"server", "lingering_timeout", GW_CONF_DURATION, "5s", MS(lingering_timeout)},
    {"server", "max_body_size", GW_CONF_SIZE, "64K", U64(max_body_size), .max = 64 * MiB},
    {"server", "write_token", GW_CONF_STR, "", STR(write_token), .flags = GW_CONF_SECRET},
    {"server", "max_upload_size", GW_CONF_SIZE, "5G", U64(max_upload_size), .min = 1},
    {"server", "write_buffer", GW_CONF_SIZE, "256K", U64(write_buffer),
     .min = 4 * KiB, .max = 64 * MiB},

    {"swift", "auth_version", GW_CONF_INT, "1", INT(auth_version), .choices = auth_versions},
    {"swift", "auth_url", GW_CONF_STR, NULL, STR(auth_url), .check = check_url,
     .flags = GW_CONF_REQ_V1 | GW_CONF_REQ_V3},
    {"swift", "user", GW_CONF_STR, NULL, STR(user), .flags = GW_CONF_REQ_V1 | GW_CONF_REQ_V3},
    {"swift", "key", GW_CONF_STR, NULL, STR(key),
     .flags = GW_CONF_SECRET | GW_CONF_REQ_V1 | GW_CONF_REQ_V3},
    {"swift", "user_domain", GW_CONF_STR, "Default", STR(user_domain)},
    {"swift", "project", GW_CONF_STR, NULL, STR(project), .flags = GW_CONF_REQ_V3},
    {"swift", "project_domain", GW_CONF_STR, "Default", STR(project_domain)},
    {"swift", "region", GW_CONF_STR, NULL, STR(region)},
    {"swift", "interface", GW_CONF_WORD, "public", STR(interface), .choices = interfaces},
    {"swift", "storage_url", GW_CONF_STR, NULL, STR(storage_url), .check = check_url,
     .flags = GW_CONF_REQ_STATIC},
    {"swift", "token", GW_CONF_STR, NULL, STR(token),
     .flags = GW_CONF_SECRET | GW_CONF_REQ_STATIC},
    {"swift", "container", GW_CONF_STR, "fractals", STR(container), .check = check_container,
     .flags = GW_CONF_RESTART},
    {"swift", "ca_path", GW_CONF_STR, NULL, STR(ca_path)},
    {"swift", "tls_verify", GW_CONF_BOOL, "yes", INT(tls_verify)},
    {"swift", "connect_timeout", GW_CONF_DURATION, "5s", MS(connect_timeout), .min = 1},
    {"swift", "first_byte_timeout", GW_CONF_DURATION, "30s", MS(first_byte_timeout), .min = 1},
    {"swift", "stall_timeout", GW_CONF_DURATION, "30s", MS(stall_timeout), .min = 1},
    {"swift", "segment_parallelism", GW_CONF_COUNT, "4", U64(segment_parallelism), .min = 1,
     .max = 64},
    {"swift", "segment_size", GW_CONF_SIZE, "1G", U64(segment_size), .min = MiB,
     .max = 5 * GiB},
    {"swift", "max_fetches", GW_CONF_COUNT, "256", U64(max_fetches), .min = 1, .max = 65536},
    {"swift", "fetch_queue", GW_CONF_COUNT, "4096", U64(fetch_queue), .max = 1048576},
    {"swift", "fetch_queue_timeout", GW_CONF_DURATION, "10s", MS(fetch_queue_timeout), .min = 1},
    /* "" is resolved against container by cross_check() in conf.c. */
    {"swift", "segment_containers", GW_CONF_STR, NULL, STR(segment_containers),
     .check = check_container_list},
    {"swift", "max_segments", GW_CONF_COUNT, "10000", U64(max_segments), .min = 1,
     .max = 100000},
    {"swift", "max_plan_size", GW_CONF_SIZE, "16M", U64(max_plan_size), .min = 64 * KiB,
     .max = 256 * MiB},

    {"cache", "dir", GW_CONF_STR, "/var/cache/swiftgate", STR(dir), .flags = GW_CONF_RESTART},
    {"cache", "max_size", GW_CONF_SIZE, "10G", U64(max_size), .flags = GW_CONF_RESTART},
    {"cache", "max_object_size", GW_CONF_SIZE, "0", U64(max_object_size)},
    {"cache", "ttl", GW_CONF_DURATION, "1h", MS(ttl)},
    {"cache", "negative_ttl", GW_CONF_DURATION, "10s", MS(negative_ttl)},
    {"cache", "negative_max_entries", GW_CONF_COUNT, "100000", U64(negative_max_entries),
     .max = 10000000, .flags = GW_CONF_RESTART},
    {"cache", "stale_if_error", GW_CONF_DURATION, "1d", MS(stale_if_error)},
    {"cache", "stale_while_revalidate", GW_CONF_DURATION, "0", MS(stale_while_revalidate)},
    {"cache", "cache_control", GW_CONF_STR, "public, max-age=31536000, immutable",
     STR(cache_control),
     .check = check_header_value},
    {"cache", "range_passthrough", GW_CONF_SIZE, "8M", U64(range_passthrough)},
    {"cache", "range_fill", GW_CONF_BOOL, "yes", INT(range_fill)},
    {"cache", "max_entries", GW_CONF_COUNT, "1000000", U64(max_entries), .min = 1,
     .flags = GW_CONF_RESTART},
    /* index_size may be as small as 64K: tests fill it. */
    {"cache", "index_size", GW_CONF_SIZE, "1G", U64(index_size), .min = 64 * KiB,
     .flags = GW_CONF_RESTART},
    {"cache", "plan_cache_size", GW_CONF_SIZE, "8M", U64(plan_cache_size), .max = 4 * 1024 * MiB,
     .flags = GW_CONF_RESTART},

    {"cors", "allow_origin", GW_CONF_STR, "", STR(cors_allow_origin),
     .check = gw_cors_check_origins},
    {"cors", "max_age", GW_CONF_DURATION, "1d", MS(cors_max_age)},
    {"cors", "expose_headers", GW_CONF_STR,
     "ETag, Content-Length, Content-Range, Age, X-Cache, Cache-Status",
     STR(cors_expose_headers), .check = check_header_value},
};

_Static_assert(sizeof(gw_conf_keys) / sizeof(gw_conf_keys[0]) == GW_CONF_NKEYS,
               "GW_CONF_NKEYS in conf_int.h must count the rows of gw_conf_keys");

static const char *check_listen(const char *v)
{
    char host[256];
    int port;
    if (gw_parse_hostport(v, host, sizeof(host), &port) != 0)
        return "must be host:port, e.g. 0.0.0.0:8080 or [::1]:8080";
    return NULL;
}

static const char *check_listen_or_empty(const char *v)
{
    return v[0] == '\0' ? NULL : check_listen(v);
}

/* Empty is let through here: whether the key is needed at all depends on
 * auth_version, which conf.c's check_required() looks at once everything
 * is read. */
static const char *check_url(const char *v)
{
    if (v[0] == '\0') return NULL;
    if ((strncasecmp(v, "http://", 7) == 0 && v[7] != '\0') ||
        (strncasecmp(v, "https://", 8) == 0 && v[8] != '\0'))
        return NULL;
    return "must start with http:// or https://";
}

static const char *check_header_value(const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p < 0x20 || *p == 0x7f) return "must be printable text on one line";
    return NULL;
}

/* The user and group must exist when the config is read, so that
 * check-config finds a typo rather than the start as root. */
static const char *check_user(const char *v)
{
    if (v[0] == '\0') return NULL;
    return getpwnam(v) != NULL ? NULL : "no such user";
}

static const char *check_group(const char *v)
{
    if (v[0] == '\0') return NULL;
    return getgrnam(v) != NULL ? NULL : "no such group";
}

static const char *check_container(const char *v)
{
    if (v[0] == '\0') return "must not be empty";
    if (strlen(v) > 256) return "must be at most 256 bytes";
    if (strchr(v, '/') != NULL) return "must not contain '/'";
    return NULL;
}

/* Container names separated by commas, or "" for the default. */
static const char *check_container_list(const char *v)
{
    const char *s = v, *item;
    size_t n, count = 0;
    while (gw_conf_list_next(&s, &item, &n)) {
        if (n == 0) return "must be container names separated by commas";
        if (n > 256) return "must name containers of at most 256 bytes";
        if (memchr(item, '/', n) != NULL) return "must name containers without '/'";
        if (++count > 64) return "must name at most 64 containers";
    }
    size_t len = strlen(v);
    while (len && (v[len - 1] == ' ' || v[len - 1] == '\t')) len--;
    if (len && v[len - 1] == ',') return "must be container names separated by commas";
    return NULL;
}

char **gw_conf_str_field(struct gw_conf *c, const struct gw_conf_key *k)
{
    return (char **)(void *)((char *)c + k->off);
}

static int *int_field(struct gw_conf *c, const struct gw_conf_key *k)
{
    return (int *)(void *)((char *)c + k->off);
}

static uint64_t *u64_field(struct gw_conf *c, const struct gw_conf_key *k)
{
    return (uint64_t *)(void *)((char *)c + k->off);
}

static const void *const_field(const struct gw_conf *c, const struct gw_conf_key *k)
{
    return (const char *)c + k->off;
}

/* ------------------------------------------------------------------------ */
/* Formatting values and reasons                                             */
/* ------------------------------------------------------------------------ */

/* "a, b or c", each word quoted if quote is set. */
static void fmt_choices(const struct gw_conf_choice *ch, int quote, char *buf, size_t len)
{
    size_t n = 0, off = 0;
    while (ch[n].word != NULL) n++;
    buf[0] = '\0';
    for (size_t i = 0; i < n && off < len; i++) {
        const char *sep = i == 0 ? "" : i + 1 == n ? " or " : ", ";
        int w = snprintf(buf + off, len - off, quote ? "%s\"%s\"" : "%s%s", sep, ch[i].word);
        if (w < 0) break;
        off += (size_t)w;
    }
}

/*
 * What a key accepts, as the reason part of an error message.  The bounds
 * are spelled in the key's own units so the user can paste them back.
 */
static void expected(const struct gw_conf_key *k, int rc, char *why, size_t len)
{
    char lo[32], hi[32], words[128];

    switch (k->type) {
    case GW_CONF_STR:
        snprintf(why, len, "bad value");
        break;
    case GW_CONF_WORD:
        fmt_choices(k->choices, 0, words, sizeof(words));
        snprintf(why, len, "must be %s", words);
        break;
    case GW_CONF_INT:
        if (k->max > 0) {
            fmt_choices(k->choices, 1, words, sizeof(words));
            snprintf(why, len, "must be %s or a number from %" PRIu64 " to %" PRIu64,
                     words, k->min, k->max);
        } else {
            fmt_choices(k->choices, 0, words, sizeof(words));
            snprintf(why, len, "must be %s", words);
        }
        break;
    case GW_CONF_COUNT:
        if (k->max > 0)
            snprintf(why, len, "must be a number from %" PRIu64 " to %" PRIu64, k->min, k->max);
        else if (rc == GW_CONF_OVERFLOW)
            snprintf(why, len, "is too large");
        else if (k->min > 0)
            snprintf(why, len, "must be a number of at least %" PRIu64, k->min);
        else
            snprintf(why, len, "must be a number");
        break;
    case GW_CONF_SIZE:
        gw_conf_fmt_size(k->min, lo, sizeof(lo));
        gw_conf_fmt_size(k->max, hi, sizeof(hi));
        if (k->max > 0)
            snprintf(why, len, "must be a size from %s to %s", lo, hi);
        else if (rc == GW_CONF_OVERFLOW)
            snprintf(why, len, "is too large");
        else if (k->min > 0)
            snprintf(why, len, "must be a size of at least %s", lo);
        else
            snprintf(why, len, "must be a size such as 512K, 10M or 10G");
        break;
    case GW_CONF_DURATION:
        gw_conf_fmt_duration(k->min, lo, sizeof(lo));
        gw_conf_fmt_duration(k->max, hi, sizeof(hi));
        if (k->max > 0)
            snprintf(why, len, "must be a duration from %s to %s", lo, hi);
        else if (rc == GW_CONF_OVERFLOW)
            snprintf(why, len, "is too large");
        else if (k->min > 0)
            snprintf(why, len, "must be a duration above 0, such as 250ms, 30s or 5m");
        else
            snprintf(why, len, "must be a duration such as 250ms, 30s, 5m or 1h");
        break;
    case GW_CONF_BOOL:
        snprintf(why, len, "must be yes or no (or true/false, on/off, 1/0)");
        break;
    }
}

/* A key's value in the form the parser reads back; secrets hidden. */
void gw_conf_fmt_value(const struct gw_conf *c, const struct gw_conf_key *k, char *buf,
                       size_t len)
{
    const void *f = const_field(c, k);

    switch (k->type) {
    case GW_CONF_STR:
    case GW_CONF_WORD: {
        const char *s = *(char *const *)f;
        if (s == NULL) s = "";
        if ((k->flags & GW_CONF_SECRET) && s[0] != '\0') s = "(set)";
        snprintf(buf, len, "%s", s);
        break;
    }
    case GW_CONF_INT: {
        int v = *(const int *)f;
        for (const struct gw_conf_choice *ch = k->choices; ch->word != NULL; ch++) {
            if (ch->value == v) {
                snprintf(buf, len, "%s", ch->word);
                return;
            }
        }
        snprintf(buf, len, "%d", v);
        break;
    }
    case GW_CONF_COUNT:
        snprintf(buf, len, "%" PRIu64, *(const uint64_t *)f);
        break;
    case GW_CONF_SIZE:
        gw_conf_fmt_size(*(const uint64_t *)f, buf, len);
        break;
    case GW_CONF_DURATION:
        gw_conf_fmt_duration(*(const uint64_t *)f, buf, len);
        break;
    case GW_CONF_BOOL:
        snprintf(buf, len, "%s", *(const int *)f ? "yes" : "no");
        break;
    }
}

/* ------------------------------------------------------------------------ */
/* Setting one key                                                           */
/* ------------------------------------------------------------------------ */

static int in_bounds(const struct gw_conf_key *k, uint64_t v)
{
    return v >= k->min && (k->max == 0 || v <= k->max);
}

/*
 * Parse v as key k's type and store it in c.  On error c is untouched and
 * why says what was expected.  This is the one path for defaults, the file
 * and the environment alike.
 */
int gw_conf_set_value(struct gw_conf *c, const struct gw_conf_key *k, const char *v,
                      char *why, size_t whylen)
{
    uint64_t u = 0;
    int rc = 0, b;

    switch (k->type) {
    case GW_CONF_STR: {
        const char *reason = k->check ? k->check(v) : NULL;
        if (reason != NULL) {
            snprintf(why, whylen, "%s", reason);
            return -1;
        }
        char **p = gw_conf_str_field(c, k);
        free(*p);
        *p = gw_strdup(v);
        return 0;
    }
    case GW_CONF_WORD:
        for (const struct gw_conf_choice *ch = k->choices; ch->word != NULL; ch++) {
            if (strcasecmp(v, ch->word) == 0) {
                char **p = gw_conf_str_field(c, k);
                free(*p);
                *p = gw_strdup(ch->word);
                return 0;
            }
        }
        break;
    case GW_CONF_INT:
        for (const struct gw_conf_choice *ch = k->choices; ch->word != NULL; ch++) {
            if (strcasecmp(v, ch->word) == 0) {
                *int_field(c, k) = ch->value;
                return 0;
            }
        }
        if (k->max > 0 && k->max <= INT32_MAX) {
            const char *s = v;
            rc = gw_conf_parse_digits(&s, &u);
            if (rc == 0 && *s == '\0' && in_bounds(k, u)) {
                *int_field(c, k) = (int)u;
                return 0;
            }
        }
        break;
    case GW_CONF_COUNT: {
        const char *s = v;
        rc = gw_conf_parse_digits(&s, &u);
        if (rc == 0 && *s != '\0') rc = GW_CONF_BAD;
        if (rc == 0 && in_bounds(k, u)) {
            *u64_field(c, k) = u;
            return 0;
        }
        break;
    }
    case GW_CONF_SIZE:
        rc = gw_conf_parse_size(v, &u);
        if (rc == 0 && in_bounds(k, u)) {
            *u64_field(c, k) = u;
            return 0;
        }
        break;
    case GW_CONF_DURATION:
        rc = gw_conf_parse_duration(v, &u);
        if (rc == 0 && in_bounds(k, u)) {
            *u64_field(c, k) = u;
            return 0;
        }
        break;
    case GW_CONF_BOOL:
        if (gw_parse_bool(v, &b) == 0) {
            *int_field(c, k) = b;
            return 0;
        }
        break;
    }
    expected(k, rc, why, whylen);
    return -1;
}
