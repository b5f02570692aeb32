/*
 * conf.c - load swiftgate's configuration: defaults, then the INI file (read
 * by inih), then SWIFTGATE_<SECTION>_<KEY> environment overrides, then the
 * checks that involve more than one key; and print the result for
 * check-config.
 *
 * Every step walks the key table of conf_keys.c and sets values through
 * gw_conf_set_value(), so the defaults, the file and the environment cannot
 * disagree about what a key accepts; this file adds the order of the steps,
 * where each value came from, and the messages that say so.  Invariants:
 * after gw_conf_load() every string field (and path) is a heap string,
 * never NULL, whatever the result; only the first error is reported, and it
 * names where the bad value came from (file and line, environment variable,
 * or missing key).  A reload is the same load, with one step more: the
 * keys that need a restart keep their running values before the checks
 * between keys run, so those checks see what will be in effect.  There is no mutable global state: inih's runtime
 * options are left at their defaults and all per-load state lives in a
 * struct loader on the stack.
 */
#include "conf_int.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>

extern char **environ;

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
    struct origin origin[GW_CONF_NKEYS];
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
    for (size_t i = 0; i < GW_CONF_NKEYS; i++)
        if (strcmp(gw_conf_keys[i].section, section) == 0) return 1;
    return 0;
}

static const struct gw_conf_key *find_key(const char *section, const char *name)
{
    for (size_t i = 0; i < GW_CONF_NKEYS; i++)
        if (strcmp(gw_conf_keys[i].section, section) == 0 &&
            strcmp(gw_conf_keys[i].name, name) == 0)
            return &gw_conf_keys[i];
    return NULL;
}

/*
 * How a key is named in a file error: the bare name, unless another section
 * has a key of the same name, in which case "[section] name".
 */
static void key_label(const struct gw_conf_key *k, char *buf, size_t len)
{
    for (size_t i = 0; i < GW_CONF_NKEYS; i++) {
        if (&gw_conf_keys[i] != k && strcmp(gw_conf_keys[i].name, k->name) == 0) {
            snprintf(buf, len, "[%s] %s", k->section, k->name);
            return;
        }
    }
    snprintf(buf, len, "%s", k->name);
}

/* "SWIFTGATE_SWIFT_AUTH_URL" for [swift] auth_url. */
static void env_name(const struct gw_conf_key *k, char *buf, size_t len)
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
static void where(const struct loader *ld, const struct gw_conf_key *k, char *buf, size_t len)
{
    const struct origin *o = &ld->origin[k - gw_conf_keys];
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
 * ld->lineno equal to inih's own count, and it does four things inih
 * cannot:
 *  - Leading whitespace is removed.  inih would otherwise take an indented
 *    line as a continuation of the previous value and call the handler for
 *    the same key again; an indented "key = value" is meant as a key.
 *  - A line that does not fit inih's fixed line buffer is an error here,
 *    instead of being cut in two and the rest parsed as a line of its own.
 *    Long comments are simply shortened, they carry no meaning.
 *  - A NUL byte is an error: inih would end the line there and never read
 *    the rest of it.
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
    if (memchr(ld->buf, '\0', (size_t)n) != NULL) {
        /* inih would see the line end there and the rest vanish unread. */
        fail(ld, ld->lineno, "%s:%d: NUL byte in the line", ld->path, ld->lineno);
        return NULL;
    }

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
    const struct gw_conf_key *k;
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

    struct origin *o = &ld->origin[k - gw_conf_keys];
    if (o->kind == FROM_FILE) {
        fail(ld, ld->lineno, "%s:%d: %s: duplicate key (first set on line %d)", ld->path,
             ld->lineno, label, o->line);
        return 0;
    }
    /*
     * inih reads "key =;x" as the value ";x" but "key = ;x" as an empty one
     * and a comment: such a value could not be printed back (check-config)
     * to read the same, and "key =; note" was most likely meant as a comment.
     */
    if (value[0] == ';') {
        fail(ld, ld->lineno, "%s:%d: %s: a value cannot start with ';' (set it through %s)",
             ld->path, ld->lineno, label, "the SWIFTGATE_* environment variable");
        return 0;
    }
    if (gw_conf_set_value(ld->c, k, value, why, sizeof(why)) != 0) {
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
        const struct gw_conf_key *k = NULL;
        const char *section = NULL;
        size_t namelen;

        if (eq == NULL || strncmp(var, "SWIFTGATE_", 10) != 0) continue;
        rest = var + 10;
        namelen = (size_t)(eq - var);

        for (size_t i = 0; i < GW_CONF_NKEYS && section == NULL; i++) {
            size_t sl = strlen(gw_conf_keys[i].section);
            if (sl >= sizeof(section_up)) continue;
            for (size_t j = 0; j <= sl; j++)
                section_up[j] = (char)toupper((unsigned char)gw_conf_keys[i].section[j]);
            if (strncmp(rest, section_up, sl) == 0 && rest[sl] == '_')
                section = gw_conf_keys[i].section;
        }
        if (section == NULL) continue;

        for (size_t i = 0; i < GW_CONF_NKEYS; i++) {
            if (strcmp(gw_conf_keys[i].section, section) != 0) continue;
            env_name(&gw_conf_keys[i], want, sizeof(want));
            if (strlen(want) == namelen && strncmp(want, var, namelen) == 0) {
                k = &gw_conf_keys[i];
                break;
            }
        }
        if (k == NULL) {
            fail(ld, 0, "env %.*s: unknown key", (int)namelen, var);
            return;
        }
        if (gw_conf_set_value(ld->c, k, eq + 1, why, sizeof(why)) != 0) {
            fail(ld, 0, "env %.*s: %s", (int)namelen, var, why);
            return;
        }
        ld->origin[k - gw_conf_keys].kind = FROM_ENV;
    }
}

/* An address that stands for every address of its family. */
static int wildcard_host(const char *h)
{
    return h[0] == '\0' || strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0 ||
           strcmp(h, "[::]") == 0;
}

/*
 * admin_listen must not share listen's port on the same or a wildcard
 * address: both sockets are SO_REUSEPORT, so the kernel would hand public
 * connections to the admin listener.  Port 0 (any free port) never clashes.
 */
static void check_admin_apart(struct loader *ld)
{
    const struct gw_conf *c = ld->c;
    char h1[256], h2[256], at[256];
    int p1, p2;
    if (c->admin_listen[0] == '\0' ||
        gw_parse_hostport(c->listen, h1, sizeof(h1), &p1) != 0 ||
        gw_parse_hostport(c->admin_listen, h2, sizeof(h2), &p2) != 0)
        return;
    if (p1 == 0 || p1 != p2) return;
    if (strcmp(h1, h2) != 0 && !wildcard_host(h1) && !wildcard_host(h2)) return;
    where(ld, find_key("server", "admin_listen"), at, sizeof(at));
    fail(ld, 0, "%s: must not overlap listen (%s): the same port on the same or a "
         "wildcard address", at, c->listen);
}

/* group says which group user runs in: alone it means nothing. */
static void check_group_needs_user(struct loader *ld)
{
    char at[256];
    if (ld->c->run_group[0] == '\0' || ld->c->run_user[0] != '\0') return;
    where(ld, find_key("server", "group"), at, sizeof(at));
    fail(ld, 0, "%s: needs user (the group is the one user runs in)", at);
}

/* Rules between keys, which no single row can express. */
/* segment_containers left empty: the container and <container>_segments,
 * as libcloud and python-swiftclient put them. */
static void default_segment_containers(struct gw_conf *c)
{
    if (c->segment_containers[0] != '\0') return;
    size_t n = 2 * strlen(c->container) + sizeof(", _segments");
    char *v = gw_malloc(n);
    snprintf(v, n, "%s, %s_segments", c->container, c->container);
    free(c->segment_containers);
    c->segment_containers = v;
}

int gw_conf_segment_container_ok(const struct gw_conf *c, const char *name)
{
    const char *s = c->segment_containers, *item;
    size_t n, len = strlen(name);
    while (gw_conf_list_next(&s, &item, &n))
        if (n == len && memcmp(item, name, n) == 0) return 1;
    return 0;
}

static void cross_check(struct loader *ld)
{
    check_admin_apart(ld);
    check_group_needs_user(ld);
    default_segment_containers(ld->c);
    if (ld->c->max_object_size == 0) ld->c->max_object_size = ld->c->max_size / 8;
    const struct gw_conf_key *url = find_key("server", "max_url_size");
    const struct gw_conf_key *head = find_key("server", "max_header_size");
    struct gw_conf *c = ld->c;
    char at[256], lim[32];

    gw_assert(url != NULL && head != NULL);
    if (c->max_url_size > c->max_header_size) {
        /* Blame whichever of the two the user actually set. */
        if (ld->origin[url - gw_conf_keys].kind != FROM_DEFAULT ||
            ld->origin[head - gw_conf_keys].kind == FROM_DEFAULT) {
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
    const struct gw_conf_key *av = find_key("swift", "auth_version");
    char version[32];
    unsigned need;

    gw_assert(av != NULL);
    switch (ld->c->auth_version) {
    case GW_AUTH_V1: need = GW_CONF_REQ_V1; break;
    case GW_AUTH_V3: need = GW_CONF_REQ_V3; break;
    default: need = GW_CONF_REQ_STATIC; break;
    }
    gw_conf_fmt_value(ld->c, av, version, sizeof(version));
    for (size_t i = 0; i < GW_CONF_NKEYS && !ld->failed; i++) {
        const struct gw_conf_key *k = &gw_conf_keys[i];
        if ((k->flags & need) && (*gw_conf_str_field(ld->c, k))[0] == '\0')
            fail(ld, 0, "%s: [%s] %s: required when %s = %s", ld->path, k->section,
                 k->name, av->name, version);
    }
}

/* The rows whose field is a heap string, which load allocates and free frees. */
static int is_string(const struct gw_conf_key *k)
{
    return k->type == GW_CONF_STR || k->type == GW_CONF_WORD;
}

/* Whether key k has the same value in a and b. */
static int same_value(const struct gw_conf *a, const struct gw_conf *b,
                      const struct gw_conf_key *k)
{
    const char *pa = (const char *)a + k->off, *pb = (const char *)b + k->off;
    switch (k->type) {
    case GW_CONF_STR:
    case GW_CONF_WORD:
        return strcmp(*(const char *const *)(const void *)pa,
                      *(const char *const *)(const void *)pb) == 0;
    case GW_CONF_INT:
    case GW_CONF_BOOL:
        return *(const int *)(const void *)pa == *(const int *)(const void *)pb;
    default:
        return *(const uint64_t *)(const void *)pa == *(const uint64_t *)(const void *)pb;
    }
}

/*
 * A reload: every key that needs a restart and that the file (or the
 * environment) changed goes back to its running value; what was asked
 * for is kept in wanted[] for the report.
 */
static void keep_running(struct loader *ld, const struct gw_conf *running, char **wanted)
{
    char v[512], why[256];
    for (size_t i = 0; i < GW_CONF_NKEYS; i++) {
        const struct gw_conf_key *k = &gw_conf_keys[i];
        if (!(k->flags & GW_CONF_RESTART) || same_value(ld->c, running, k)) continue;
        gw_conf_fmt_value(ld->c, k, v, sizeof(v));
        wanted[i] = gw_strdup(v);
        gw_conf_fmt_value(running, k, v, sizeof(v));
        int rc = gw_conf_set_value(ld->c, k, v, why, sizeof(why));
        gw_assert(rc == 0); /* running's value passed the same checks */
    }
}

static void note_changes(const struct gw_conf *c, const struct gw_conf *running,
                         char *const *wanted, gw_conf_note_fn *note, void *ud)
{
    char was[512], now[512];
    for (size_t i = 0; i < GW_CONF_NKEYS; i++) {
        const struct gw_conf_key *k = &gw_conf_keys[i];
        if (wanted[i] == NULL && same_value(c, running, k)) continue;
        gw_conf_fmt_value(running, k, was, sizeof(was));
        gw_conf_fmt_value(c, k, now, sizeof(now));
        struct gw_conf_change ch = {
            .section = k->section, .name = k->name, .restart = wanted[i] != NULL,
            .was = was, .now = wanted[i] != NULL ? wanted[i] : now,
        };
        note(ud, &ch);
    }
}

/* Both loads: running is NULL at start, the configuration in effect on a reload. */
static int load(struct gw_conf *c, const char *path, const struct gw_conf *running,
                gw_conf_note_fn *note, void *ud, char *err, size_t errlen)
{
    struct loader ld;
    char why[256];
    char *wanted[GW_CONF_NKEYS] = {0};

    memset(c, 0, sizeof(*c));
    memset(&ld, 0, sizeof(ld));
    ld.c = c;
    ld.path = path != NULL ? path : "(no file)";
    c->path = gw_strdup(path != NULL ? path : "");

    /* Strings start as "" so that a row with no default, or a load that
     * stops early, still leaves every field a heap string. */
    for (size_t i = 0; i < GW_CONF_NKEYS; i++)
        if (is_string(&gw_conf_keys[i])) *gw_conf_str_field(c, &gw_conf_keys[i]) = gw_strdup("");
    for (size_t i = 0; i < GW_CONF_NKEYS; i++) {
        const struct gw_conf_key *k = &gw_conf_keys[i];
        int rc = gw_conf_set_value(c, k, k->def ? k->def : "", why, sizeof(why));
        gw_assert(rc == 0);
    }

    if (path != NULL) load_file(&ld, path);
    if (!ld.failed) load_env(&ld);
    if (!ld.failed && running != NULL) keep_running(&ld, running, wanted);
    if (!ld.failed) cross_check(&ld);
    if (!ld.failed) check_required(&ld);
    if (!ld.failed && running != NULL) note_changes(c, running, wanted, note, ud);

    for (size_t i = 0; i < GW_CONF_NKEYS; i++) free(wanted[i]);
    if (err != NULL && errlen > 0) snprintf(err, errlen, "%s", ld.failed ? ld.msg : "");
    return ld.failed ? -1 : 0;
}

int gw_conf_load(struct gw_conf *c, const char *path, char *err, size_t errlen)
{
    return load(c, path, NULL, NULL, NULL, err, errlen);
}

int gw_conf_reload(struct gw_conf *c, const char *path, const struct gw_conf *running,
                   gw_conf_note_fn *note, void *ud, char *err, size_t errlen)
{
    return load(c, path, running, note, ud, err, errlen);
}

void gw_conf_free(struct gw_conf *c)
{
    for (size_t i = 0; i < GW_CONF_NKEYS; i++) {
        if (is_string(&gw_conf_keys[i])) {
            char **p = gw_conf_str_field(c, &gw_conf_keys[i]);
            free(*p);
            *p = NULL;
        }
    }
    free(c->path);
    c->path = NULL;
}

/* ------------------------------------------------------------------------ */
/* check-config                                                              */
/* ------------------------------------------------------------------------ */

void gw_conf_dump(const struct gw_conf *c)
{
    const char *section = NULL;
    char value[512];

    printf("# swiftgate %s effective configuration%s%s\n", GW_VERSION,
           c->path != NULL && c->path[0] != '\0' ? " from " : "",
           c->path != NULL ? c->path : "");
    for (size_t i = 0; i < GW_CONF_NKEYS; i++) {
        const struct gw_conf_key *k = &gw_conf_keys[i];
        if (section == NULL || strcmp(section, k->section) != 0) {
            section = k->section;
            printf("\n[%s]\n", section);
        }
        gw_conf_fmt_value(c, k, value, sizeof(value));
        printf("%s = %s\n", k->name, value);
    }
}
