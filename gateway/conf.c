/*
 * conf.c - load swiftgate's configuration: defaults, then the INI file (read
 * by inih), then SWIFTGATE_<SECTION>_<KEY> environment overrides, then the
 * checks that involve more than one key.
 *
 * Everything is driven by the keys[] table below: one row per key gives its
 * section, name, type, default, bounds and where it lands in struct
 * gw_conf, so adding a key is adding a row.  Defaults are strings parsed by
 * the same code as file and environment values, so a default can never be
 * something the file could not say.  Invariants: after gw_conf_load() every
 * string field (and path) is a heap string, never NULL, whatever the
 * result; only the first error is reported, and it names where the bad value
 * came from (file and line, environment variable, or missing key).  There is
 * no mutable global state: inih's runtime options are left at their
 * defaults and all per-load state lives in a struct loader on the stack.
 */
#include "conf_int.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <ini.h>

extern char **environ;

/* ------------------------------------------------------------------------ */
/* The key table                                                             */
/* ------------------------------------------------------------------------ */

enum type {
    T_STR,      /* char *, any text, optionally vetted by check() */
    T_WORD,     /* char *, one of choices[], stored in its canonical spelling */
    T_INT,      /* int: one of choices[], or a number in min..max if max > 0 */
    T_COUNT,    /* uint64_t: a plain number in min..max (max 0: no limit) */
    T_SIZE,     /* uint64_t bytes, "512K" etc., min..max (max 0: no limit) */
    T_DURATION, /* uint64_t milliseconds, "30s" etc., min..max as above */
    T_BOOL,     /* int 0/1 */
};

enum {
    F_SECRET = 1 << 0,     /* never printed, only "(set)" */
    F_REQ_V1 = 1 << 1,     /* must be non-empty when auth_version = 1 */
    F_REQ_V3 = 1 << 2,     /* ... = 3 */
    F_REQ_STATIC = 1 << 3, /* ... = static */
};

struct choice {
    const char *word;
    int value;
};

struct key {
    const char *section;
    const char *name;
    enum type type;
    const char *def;                     /* NULL: empty string */
    size_t off;                          /* into struct gw_conf */
    uint64_t min, max;
    const struct choice *choices;        /* ends with a NULL word */
    const char *(*check)(const char *v); /* NULL if fine, else the reason */
    unsigned flags;
};

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

static const char *check_listen(const char *v);
static const char *check_listen_or_empty(const char *v);
static const char *check_url(const char *v);
static const char *check_container(const char *v);
static const char *check_header_value(const char *v);

static const struct choice workers_choices[] = {{"auto", 0}, {NULL, 0}};
static const struct choice log_levels[] = {
    {"debug", GW_LOG_DEBUG}, {"info", GW_LOG_INFO},
    {"warning", GW_LOG_WARNING}, {"error", GW_LOG_ERROR}, {NULL, 0},
};
static const struct choice auth_versions[] = {
    {"1", GW_AUTH_V1}, {"3", GW_AUTH_V3}, {"static", GW_AUTH_STATIC}, {NULL, 0},
};
static const struct choice interfaces[] = {
    {"public", 0}, {"internal", 1}, {"admin", 2}, {NULL, 0},
};

static const struct key keys[] = {
    {"server", "listen", T_STR, "0.0.0.0:8080", STR(listen), .check = check_listen},
    {"server", "workers", T_INT, "auto", INT(workers), .min = 1, .max = 256,
     .choices = workers_choices},
    {"server", "admin_listen", T_STR, "127.0.0.1:8081", STR(admin_listen),
     .check = check_listen_or_empty},
    {"server", "admin_token", T_STR, "", STR(admin_token), .flags = F_SECRET},
    {"server", "access_log", T_STR, "-", STR(access_log)},
    {"server", "log_level", T_WORD, "info", STR(log_level), .choices = log_levels},
    {"server", "max_connections", T_COUNT, "10000", U64(max_connections), .min = 1},
    {"server", "max_header_size", T_SIZE, "16K", U64(max_header_size),
     .min = KiB, .max = MiB},
    {"server", "max_headers", T_COUNT, "100", U64(max_headers), .min = 1, .max = 1000},
    /* The upper bound of max_url_size is max_header_size: see cross_check(). */
    {"server", "max_url_size", T_SIZE, "8K", U64(max_url_size), .min = 256, .max = MiB},
    {"server", "header_timeout", T_DURATION, "30s", MS(header_timeout), .min = 1},
    {"server", "keepalive_timeout", T_DURATION, "75s", MS(keepalive_timeout), .min = 1},
    {"server", "send_timeout", T_DURATION, "60s", MS(send_timeout), .min = 1},
    {"server", "shutdown_grace", T_DURATION, "30s", MS(shutdown_grace)},
    {"server", "drain_delay", T_DURATION, "0s", MS(drain_delay)},
    {"server", "lingering_timeout", T_DURATION, "5s", MS(lingering_timeout)},
    {"server", "max_body_size", T_SIZE, "64K", U64(max_body_size), .max = 64 * MiB},
    {"server", "write_buffer", T_SIZE, "256K", U64(write_buffer),
     .min = 4 * KiB, .max = 64 * MiB},

    {"swift", "auth_version", T_INT, "1", INT(auth_version), .choices = auth_versions},
    {"swift", "auth_url", T_STR, NULL, STR(auth_url), .check = check_url,
     .flags = F_REQ_V1 | F_REQ_V3},
    {"swift", "user", T_STR, NULL, STR(user), .flags = F_REQ_V1 | F_REQ_V3},
    {"swift", "key", T_STR, NULL, STR(key), .flags = F_SECRET | F_REQ_V1 | F_REQ_V3},
    {"swift", "user_domain", T_STR, "Default", STR(user_domain)},
    {"swift", "project", T_STR, NULL, STR(project), .flags = F_REQ_V3},
    {"swift", "project_domain", T_STR, "Default", STR(project_domain)},
    {"swift", "region", T_STR, NULL, STR(region)},
    {"swift", "interface", T_WORD, "public", STR(interface), .choices = interfaces},
    {"swift", "storage_url", T_STR, NULL, STR(storage_url), .check = check_url,
     .flags = F_REQ_STATIC},
    {"swift", "token", T_STR, NULL, STR(token), .flags = F_SECRET | F_REQ_STATIC},
    {"swift", "container", T_STR, "fractals", STR(container), .check = check_container},
    {"swift", "ca_path", T_STR, NULL, STR(ca_path)},
    {"swift", "tls_verify", T_BOOL, "yes", INT(tls_verify)},
    {"swift", "connect_timeout", T_DURATION, "5s", MS(connect_timeout), .min = 1},
    {"swift", "first_byte_timeout", T_DURATION, "30s", MS(first_byte_timeout), .min = 1},
    {"swift", "stall_timeout", T_DURATION, "30s", MS(stall_timeout), .min = 1},
    {"swift", "segment_parallelism", T_COUNT, "4", U64(segment_parallelism), .min = 1,
     .max = 64},

    {"cache", "dir", T_STR, "/var/cache/swiftgate", STR(dir)},
    {"cache", "max_size", T_SIZE, "10G", U64(max_size)},
    {"cache", "ttl", T_DURATION, "1h", MS(ttl)},
    {"cache", "negative_ttl", T_DURATION, "10s", MS(negative_ttl)},
    {"cache", "stale_if_error", T_DURATION, "1d", MS(stale_if_error)},
    {"cache", "cache_control", T_STR, "public, max-age=3600", STR(cache_control),
     .check = check_header_value},
    {"cache", "range_passthrough", T_SIZE, "8M", U64(range_passthrough)},
    {"cache", "range_fill", T_BOOL, "yes", INT(range_fill)},
    {"cache", "max_entries", T_COUNT, "1000000", U64(max_entries), .min = 1},
    {"cache", "index_size", T_SIZE, "1G", U64(index_size), .min = MiB},
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

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
 * auth_version, which check_required() looks at once everything is read. */
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

static const char *check_container(const char *v)
{
    if (v[0] == '\0') return "must not be empty";
    if (strlen(v) > 256) return "must be at most 256 bytes";
    if (strchr(v, '/') != NULL) return "must not contain '/'";
    return NULL;
}

static char **str_field(struct gw_conf *c, const struct key *k)
{
    return (char **)(void *)((char *)c + k->off);
}

static int *int_field(struct gw_conf *c, const struct key *k)
{
    return (int *)(void *)((char *)c + k->off);
}

static uint64_t *u64_field(struct gw_conf *c, const struct key *k)
{
    return (uint64_t *)(void *)((char *)c + k->off);
}

static const void *const_field(const struct gw_conf *c, const struct key *k)
{
    return (const char *)c + k->off;
}

/* ------------------------------------------------------------------------ */
/* Formatting values and reasons                                             */
/* ------------------------------------------------------------------------ */

/* "a, b or c", each word quoted if quote is set. */
static void fmt_choices(const struct choice *ch, int quote, char *buf, size_t len)
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
static void expected(const struct key *k, int rc, char *why, size_t len)
{
    char lo[32], hi[32], words[128];

    switch (k->type) {
    case T_STR:
        snprintf(why, len, "bad value");
        break;
    case T_WORD:
        fmt_choices(k->choices, 0, words, sizeof(words));
        snprintf(why, len, "must be %s", words);
        break;
    case T_INT:
        if (k->max > 0) {
            fmt_choices(k->choices, 1, words, sizeof(words));
            snprintf(why, len, "must be %s or a number from %" PRIu64 " to %" PRIu64,
                     words, k->min, k->max);
        } else {
            fmt_choices(k->choices, 0, words, sizeof(words));
            snprintf(why, len, "must be %s", words);
        }
        break;
    case T_COUNT:
        if (k->max > 0)
            snprintf(why, len, "must be a number from %" PRIu64 " to %" PRIu64, k->min, k->max);
        else if (rc == GW_CONF_OVERFLOW)
            snprintf(why, len, "is too large");
        else if (k->min > 0)
            snprintf(why, len, "must be a number of at least %" PRIu64, k->min);
        else
            snprintf(why, len, "must be a number");
        break;
    case T_SIZE:
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
    case T_DURATION:
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
    case T_BOOL:
        snprintf(why, len, "must be yes or no (or true/false, on/off, 1/0)");
        break;
    }
}

/* A key's value in the form the parser reads back; secrets hidden. */
static void fmt_value(const struct gw_conf *c, const struct key *k, char *buf, size_t len)
{
    const void *f = const_field(c, k);

    switch (k->type) {
    case T_STR:
    case T_WORD: {
        const char *s = *(char *const *)f;
        if (s == NULL) s = "";
        if ((k->flags & F_SECRET) && s[0] != '\0') s = "(set)";
        snprintf(buf, len, "%s", s);
        break;
    }
    case T_INT: {
        int v = *(const int *)f;
        for (const struct choice *ch = k->choices; ch->word != NULL; ch++) {
            if (ch->value == v) {
                snprintf(buf, len, "%s", ch->word);
                return;
            }
        }
        snprintf(buf, len, "%d", v);
        break;
    }
    case T_COUNT:
        snprintf(buf, len, "%" PRIu64, *(const uint64_t *)f);
        break;
    case T_SIZE:
        gw_conf_fmt_size(*(const uint64_t *)f, buf, len);
        break;
    case T_DURATION:
        gw_conf_fmt_duration(*(const uint64_t *)f, buf, len);
        break;
    case T_BOOL:
        snprintf(buf, len, "%s", *(const int *)f ? "yes" : "no");
        break;
    }
}

/* ------------------------------------------------------------------------ */
/* Setting one key                                                           */
/* ------------------------------------------------------------------------ */

static int in_bounds(const struct key *k, uint64_t v)
{
    return v >= k->min && (k->max == 0 || v <= k->max);
}

/*
 * Parse v as key k's type and store it in c.  On error c is untouched and
 * why says what was expected.  This is the one path for defaults, the file
 * and the environment alike.
 */
static int set_value(struct gw_conf *c, const struct key *k, const char *v,
                     char *why, size_t whylen)
{
    uint64_t u = 0;
    int rc = 0, b;

    switch (k->type) {
    case T_STR: {
        const char *reason = k->check ? k->check(v) : NULL;
        if (reason != NULL) {
            snprintf(why, whylen, "%s", reason);
            return -1;
        }
        char **p = str_field(c, k);
        free(*p);
        *p = gw_strdup(v);
        return 0;
    }
    case T_WORD:
        for (const struct choice *ch = k->choices; ch->word != NULL; ch++) {
            if (strcasecmp(v, ch->word) == 0) {
                char **p = str_field(c, k);
                free(*p);
                *p = gw_strdup(ch->word);
                return 0;
            }
        }
        break;
    case T_INT:
        for (const struct choice *ch = k->choices; ch->word != NULL; ch++) {
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
    case T_COUNT: {
        const char *s = v;
        rc = gw_conf_parse_digits(&s, &u);
        if (rc == 0 && *s != '\0') rc = GW_CONF_BAD;
        if (rc == 0 && in_bounds(k, u)) {
            *u64_field(c, k) = u;
            return 0;
        }
        break;
    }
    case T_SIZE:
        rc = gw_conf_parse_size(v, &u);
        if (rc == 0 && in_bounds(k, u)) {
            *u64_field(c, k) = u;
            return 0;
        }
        break;
    case T_DURATION:
        rc = gw_conf_parse_duration(v, &u);
        if (rc == 0 && in_bounds(k, u)) {
            *u64_field(c, k) = u;
            return 0;
        }
        break;
    case T_BOOL:
        if (gw_parse_bool(v, &b) == 0) {
            *int_field(c, k) = b;
            return 0;
        }
        break;
    }
    expected(k, rc, why, whylen);
    return -1;
}

/* ------------------------------------------------------------------------ */
/* Loading                                                                   */
/* ------------------------------------------------------------------------ */

enum origin_kind { FROM_DEFAULT, FROM_FILE, FROM_ENV };

struct origin {
    enum origin_kind kind;
    int line;  /* FROM_FILE */
};

/* Everything one gw_conf_load() needs, so that loads share nothing. */
struct loader {
    struct gw_conf *c;
    const char *path;    /* as given, or "(no file)" for messages */
    FILE *f;
    char *buf;           /* getline() buffer of the reader */
    size_t cap;
    int lineno;          /* lines handed to inih so far */
    int failed;          /* an error is in msg; stop reading */
    int failed_line;     /* the line that failed, 0 if not in the file */
    char msg[512];
    struct origin origin[NKEYS];
};

static void fail(struct loader *ld, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Only the first error is kept: later ones are often its consequences. */
static void fail(struct loader *ld, int line, const char *fmt, ...)
{
    va_list ap;
    if (ld->failed) return;
    ld->failed = 1;
    ld->failed_line = line;
    va_start(ap, fmt);
    vsnprintf(ld->msg, sizeof(ld->msg), fmt, ap);
    va_end(ap);
}

static int section_exists(const char *section)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].section, section) == 0) return 1;
    return 0;
}

static const struct key *find_key(const char *section, const char *name)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

/*
 * How a key is named in a file error: the bare name, unless another section
 * has a key of the same name, in which case "[section] name".
 */
static void key_label(const struct key *k, char *buf, size_t len)
{
    for (size_t i = 0; i < NKEYS; i++) {
        if (&keys[i] != k && strcmp(keys[i].name, k->name) == 0) {
            snprintf(buf, len, "[%s] %s", k->section, k->name);
            return;
        }
    }
    snprintf(buf, len, "%s", k->name);
}

/* "SWIFTGATE_SWIFT_AUTH_URL" for [swift] auth_url. */
static void env_name(const struct key *k, char *buf, size_t len)
{
    size_t off = 0;
    int n = snprintf(buf, len, "SWIFTGATE_%s_%s", k->section, k->name);
    if (n < 0) return;
    for (off = 10; buf[off] != '\0'; off++)
        buf[off] = (char)toupper((unsigned char)buf[off]);
}

/*
 * The "where" part of a message about key k, from where its value came:
 * "FILE:LINE: key", "env SWIFTGATE_X_Y" or, for a default, "FILE: [s] key".
 */
static void where(const struct loader *ld, const struct key *k, char *buf, size_t len)
{
    const struct origin *o = &ld->origin[k - keys];
    char label[128];

    switch (o->kind) {
    case FROM_FILE:
        key_label(k, label, sizeof(label));
        snprintf(buf, len, "%s:%d: %s", ld->path, o->line, label);
        break;
    case FROM_ENV:
        env_name(k, label, sizeof(label));
        snprintf(buf, len, "env %s", label);
        break;
    case FROM_DEFAULT:
        snprintf(buf, len, "%s: [%s] %s", ld->path, k->section, k->name);
        break;
    }
}

/*
 * inih's reader.  It hands inih one whole line per call, which keeps
 * ld->lineno equal to inih's own count, and it does three things inih
 * cannot:
 *  - Leading whitespace is removed.  inih would otherwise take an indented
 *    line as a continuation of the previous value and call the handler for
 *    the same key again; an indented "key = value" is meant as a key.
 *  - A line that does not fit inih's fixed line buffer is an error here,
 *    instead of being cut in two and the rest parsed as a line of its own.
 *    Long comments are simply shortened, they carry no meaning.
 *  - Section headers are checked, so that "[sever]" is reported at its own
 *    line even when no key follows it (inih tells the handler only about
 *    keys).
 */
static char *read_line(char *str, int num, void *stream)
{
    struct loader *ld = stream;
    ssize_t n;
    char *s;
    size_t len;

    if (ld->failed || num < 2) return NULL;
    n = getline(&ld->buf, &ld->cap, ld->f);
    if (n < 0) {
        if (ferror(ld->f)) fail(ld, 0, "%s: cannot read: %s", ld->path, strerror(errno));
        return NULL;
    }
    ld->lineno++;

    s = ld->buf;
    while (*s != '\0' && *s != '\n' && isspace((unsigned char)*s)) s++;
    len = strlen(s);

    if (len >= (size_t)num) {
        if (*s == ';' || *s == '#') {
            len = (size_t)num - 2;
            s[len++] = '\n';
            s[len] = '\0';
        } else {
            fail(ld, ld->lineno,
                 "%s:%d: line longer than %d bytes; set long values through "
                 "SWIFTGATE_* environment variables",
                 ld->path, ld->lineno, num - 2);
            return NULL;
        }
    }

    if (*s == '[') {
        char *end = strchr(s + 1, ']');
        if (end != NULL) {
            /* inih takes the text between the brackets verbatim too. */
            *end = '\0';
            int known = section_exists(s + 1);
            if (!known)
                fail(ld, ld->lineno, "%s:%d: [%s]: unknown section", ld->path, ld->lineno, s + 1);
            *end = ']';
            if (!known) return NULL;
        }
    }

    memcpy(str, s, len + 1);
    return str;
}

/* inih's handler: one call per "key = value" line, ld->lineno is its line. */
static int on_key(void *user, const char *section, const char *name, const char *value)
{
    struct loader *ld = user;
    const struct key *k;
    char why[256], label[128];

    if (ld->failed) return 1;
    if (section[0] == '\0') {
        fail(ld, ld->lineno, "%s:%d: %s: key before the first [section]", ld->path,
             ld->lineno, name);
        return 0;
    }
    if (!section_exists(section)) {
        fail(ld, ld->lineno, "%s:%d: [%s]: unknown section", ld->path, ld->lineno, section);
        return 0;
    }
    k = find_key(section, name);
    if (k == NULL) {
        fail(ld, ld->lineno, "%s:%d: %s: unknown key in [%s]", ld->path, ld->lineno, name,
             section);
        return 0;
    }
    key_label(k, label, sizeof(label));

    struct origin *o = &ld->origin[k - keys];
    if (o->kind == FROM_FILE) {
        fail(ld, ld->lineno, "%s:%d: %s: duplicate key (first set on line %d)", ld->path,
             ld->lineno, label, o->line);
        return 0;
    }
    if (set_value(ld->c, k, value, why, sizeof(why)) != 0) {
        fail(ld, ld->lineno, "%s:%d: %s: %s", ld->path, ld->lineno, label, why);
        return 0;
    }
    o->kind = FROM_FILE;
    o->line = ld->lineno;
    return 1;
}

static void load_file(struct loader *ld, const char *path)
{
    int rc;

    ld->f = fopen(path, "r");
    if (ld->f == NULL) {
        fail(ld, 0, "%s: cannot open: %s", path, strerror(errno));
        return;
    }
    rc = ini_parse_stream(read_line, ld, on_key, ld);
    fclose(ld->f);
    ld->f = NULL;
    free(ld->buf);
    ld->buf = NULL;

    /*
     * inih returns the first line it found wrong, ours or a syntax error
     * it found itself.  If that line comes before the one we stopped at (or
     * we have none), it is a syntax error and it comes first.
     */
    if (rc > 0 && (!ld->failed || rc < ld->failed_line)) {
        ld->failed = 0;
        fail(ld, rc, "%s:%d: syntax error: expected [section], key = value or a comment",
             path, rc);
    } else if (rc < 0 && !ld->failed) {
        fail(ld, 0, "%s: cannot parse (inih error %d)", path, rc);
    }
}

/*
 * SWIFTGATE_<SECTION>_<KEY>=value for every key.  A variable whose section
 * part is ours but whose key part is not is most likely a typo and an
 * error; one with no known section may belong to something else (a wrapper
 * script's SWIFTGATE_CONF, say) and is left alone.
 */
static void load_env(struct loader *ld)
{
    char why[256], want[128], section_up[64];

    for (char **e = environ; e != NULL && *e != NULL && !ld->failed; e++) {
        const char *var = *e;
        const char *eq = strchr(var, '=');
        const char *rest;
        const struct key *k = NULL;
        const char *section = NULL;
        size_t namelen;

        if (eq == NULL || strncmp(var, "SWIFTGATE_", 10) != 0) continue;
        rest = var + 10;
        namelen = (size_t)(eq - var);

        for (size_t i = 0; i < NKEYS && section == NULL; i++) {
            size_t sl = strlen(keys[i].section);
            if (sl >= sizeof(section_up)) continue;
            for (size_t j = 0; j <= sl; j++)
                section_up[j] = (char)toupper((unsigned char)keys[i].section[j]);
            if (strncmp(rest, section_up, sl) == 0 && rest[sl] == '_')
                section = keys[i].section;
        }
        if (section == NULL) continue;

        for (size_t i = 0; i < NKEYS; i++) {
            if (strcmp(keys[i].section, section) != 0) continue;
            env_name(&keys[i], want, sizeof(want));
            if (strlen(want) == namelen && strncmp(want, var, namelen) == 0) {
                k = &keys[i];
                break;
            }
        }
        if (k == NULL) {
            fail(ld, 0, "env %.*s: unknown key", (int)namelen, var);
            return;
        }
        if (set_value(ld->c, k, eq + 1, why, sizeof(why)) != 0) {
            fail(ld, 0, "env %.*s: %s", (int)namelen, var, why);
            return;
        }
        ld->origin[k - keys].kind = FROM_ENV;
    }
}

/* Rules between keys, which no single row can express. */
static void cross_check(struct loader *ld)
{
    const struct key *url = find_key("server", "max_url_size");
    const struct key *head = find_key("server", "max_header_size");
    struct gw_conf *c = ld->c;
    char at[256], lim[32];

    gw_assert(url != NULL && head != NULL);
    if (c->max_url_size > c->max_header_size) {
        /* Blame whichever of the two the user actually set. */
        if (ld->origin[url - keys].kind != FROM_DEFAULT ||
            ld->origin[head - keys].kind == FROM_DEFAULT) {
            where(ld, url, at, sizeof(at));
            gw_conf_fmt_size(c->max_header_size, lim, sizeof(lim));
            fail(ld, 0, "%s: must not exceed max_header_size (%s)", at, lim);
        } else {
            where(ld, head, at, sizeof(at));
            gw_conf_fmt_size(c->max_url_size, lim, sizeof(lim));
            fail(ld, 0, "%s: must be at least max_url_size (%s)", at, lim);
        }
    }
}

static void check_required(struct loader *ld)
{
    const struct key *av = find_key("swift", "auth_version");
    char version[32];
    unsigned need;

    gw_assert(av != NULL);
    switch (ld->c->auth_version) {
    case GW_AUTH_V1: need = F_REQ_V1; break;
    case GW_AUTH_V3: need = F_REQ_V3; break;
    default: need = F_REQ_STATIC; break;
    }
    fmt_value(ld->c, av, version, sizeof(version));
    for (size_t i = 0; i < NKEYS && !ld->failed; i++) {
        const struct key *k = &keys[i];
        if ((k->flags & need) && (*str_field(ld->c, k))[0] == '\0')
            fail(ld, 0, "%s: [%s] %s: required when %s = %s", ld->path, k->section,
                 k->name, av->name, version);
    }
}

int gw_conf_load(struct gw_conf *c, const char *path, char *err, size_t errlen)
{
    struct loader ld;
    char why[256];

    memset(c, 0, sizeof(*c));
    memset(&ld, 0, sizeof(ld));
    ld.c = c;
    ld.path = path != NULL ? path : "(no file)";
    c->path = gw_strdup(path != NULL ? path : "");

    /* Strings start as "" so that a row with no default, or a load that
     * stops early, still leaves every field a heap string. */
    for (size_t i = 0; i < NKEYS; i++)
        if (keys[i].type == T_STR || keys[i].type == T_WORD)
            *str_field(c, &keys[i]) = gw_strdup("");
    for (size_t i = 0; i < NKEYS; i++) {
        int rc = set_value(c, &keys[i], keys[i].def ? keys[i].def : "", why, sizeof(why));
        gw_assert(rc == 0);
    }

    if (path != NULL) load_file(&ld, path);
    if (!ld.failed) load_env(&ld);
    if (!ld.failed) cross_check(&ld);
    if (!ld.failed) check_required(&ld);

    if (err != NULL && errlen > 0) snprintf(err, errlen, "%s", ld.failed ? ld.msg : "");
    return ld.failed ? -1 : 0;
}

void gw_conf_free(struct gw_conf *c)
{
    for (size_t i = 0; i < NKEYS; i++) {
        if (keys[i].type == T_STR || keys[i].type == T_WORD) {
            char **p = str_field(c, &keys[i]);
            free(*p);
            *p = NULL;
        }
    }
    free(c->path);
    c->path = NULL;
}

void gw_conf_dump(const struct gw_conf *c)
{
    const char *section = NULL;
    char value[512];

    printf("# swiftgate %s effective configuration%s%s\n", GW_VERSION,
           c->path != NULL && c->path[0] != '\0' ? " from " : "",
           c->path != NULL ? c->path : "");
    for (size_t i = 0; i < NKEYS; i++) {
        const struct key *k = &keys[i];
        if (section == NULL || strcmp(section, k->section) != 0) {
            section = k->section;
            printf("\n[%s]\n", section);
        }
        fmt_value(c, k, value, sizeof(value));
        printf("%s = %s\n", k->name, value);
    }
}
